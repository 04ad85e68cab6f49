"""Training end to end on tiny models for 2 steps, then the saved file checked (keys, metadata, and that it
reproduces the trained model when loaded by diffusers); single-file checkpoints; outputs never clobbered."""

from __future__ import annotations

import errno
import json

import pytest
import torch

from comfyui_lora_lab.engines.lora_format import inspect_file, load_tensors, read_header
from comfyui_lora_lab.engines.training.config import ConfigError, TrainingConfig
from comfyui_lora_lab.engines.training.job import JobError, TrainingJob
from comfyui_lora_lab.engines.training.models import CheckpointError, CheckpointFile, checkpoint_family, open_model
from comfyui_lora_lab.engines.training.preflight import DatasetError
from comfyui_lora_lab.engines.training.trainer import Trainer
from ldm_checkpoint import write_ldm_checkpoint

KOHYA_MINIMUM = {"ss_v2", "ss_base_model_version", "ss_network_module", "ss_network_dim", "ss_network_alpha",
                 "ss_network_args"}
ISSUE_KEYS = {"ss_output_name", "ss_steps", "ss_epoch", "ss_learning_rate", "ss_num_train_images", "ss_tag_frequency",
              "modelspec.sai_model_spec", "modelspec.architecture", "modelspec.title", "modelspec.trigger_phrase",
              "modelspec.date", "sshs_model_hash"}


def job_for(model, dataset, tmp_path, family="sd15", name="tiny", **settings):
    values = dict(resolution=64, batch_size=2, max_steps=2, rank=4, sample_steps=2, save_every=1,
                  trigger_word="lorasks") | settings
    config = TrainingConfig.for_family(family, **values)
    return TrainingJob(dataset, model, name, config, tmp_path / "loras", tmp_path / "runs" / name)


def quiet(message):
    return None


def test_two_steps_write_a_kohya_lora_with_full_metadata_and_run_files(tiny_sd15, dataset, tmp_path):
    trainer = Trainer(job_for(tiny_sd15, dataset, tmp_path), log=quiet)
    result = trainer.run()
    assert result.steps == 2 and len(result.losses) == 2 and all(loss > 0 for loss in result.losses)
    header = read_header(result.lora_path)
    keys = set(header.tensors)
    assert keys and all(k.startswith("lora_unet_") and k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha"))
                        for k in keys)
    assert len(keys) == 3 * sum(1 for k in keys if k.endswith(".alpha"))
    assert "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight" in keys
    metadata = header.metadata
    assert KOHYA_MINIMUM | ISSUE_KEYS <= set(metadata)
    assert (metadata["ss_steps"], metadata["ss_epoch"], metadata["ss_num_train_images"]) == ("2", "1", "4")
    assert metadata["modelspec.trigger_phrase"] == "lorasks" and metadata["ss_output_name"] == "tiny"
    assert json.loads(metadata["ss_tag_frequency"])["data"]["lorasks"] == 4
    summary = inspect_file(result.lora_path)
    assert (summary.family, summary.rank, summary.alpha, summary.unparsed_keys) == ("sd15", 4, 4.0, 0)
    run = result.run_dir
    assert json.loads((run / "training_config.json").read_text())["rank"] == 4
    assert [json.loads(line)["step"] for line in (run / "loss.jsonl").read_text().splitlines()] == [1, 2]
    assert result.loss_plot.stat().st_size > 0 and [p.name for p in result.samples] == [
        "step-0000000-0.png", "step-0000002-0.png"]
    _diffusers_load_reproduces_the_trained_unet(trainer, tiny_sd15, result.lora_path)


def _diffusers_load_reproduces_the_trained_unet(trainer, model, lora_path):
    """The file, loaded by diffusers' own kohya loader, gives the trained UNet's output (names and alpha right)."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.lora_pipeline import StableDiffusionLoraLoaderMixin as Loader

    fresh = UNet2DConditionModel.from_pretrained(model, subfolder="unet").eval()
    state, alphas = Loader.lora_state_dict(str(lora_path.parent), weight_name=lora_path.name)
    Loader.load_lora_into_unet(state, alphas, unet=fresh, adapter_name="trained")
    torch.manual_seed(1)
    sample, hidden = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    trainer.unet.eval()
    with torch.no_grad():
        expected = trainer.unet(sample, torch.tensor([500]), hidden).sample
        got = fresh(sample, torch.tensor([500]), hidden).sample
    assert (expected - got).abs().max().item() < 1e-5


def test_sdxl_trains_with_both_text_encoders_and_native_kohya_names(tiny_sdxl, dataset, tmp_path):
    result = Trainer(job_for(tiny_sdxl, dataset, tmp_path, family="sdxl", sample_steps=0,
                             train_text_encoder=True), log=quiet).run()
    keys = set(read_header(result.lora_path).tensors)
    assert any(k.startswith("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q") for k in keys)
    assert any(k.startswith("lora_te1_text_model_encoder_layers_0_self_attn_q_proj") for k in keys)
    assert any(k.startswith("lora_te2_text_model_encoder_layers_1_self_attn_out_proj") for k in keys)
    assert inspect_file(result.lora_path).family == "sdxl"


def test_single_file_checkpoint_loads_without_network_and_trains(tiny_sd15, dataset, tmp_path):
    configs = tmp_path / "configs"
    checkpoint = write_ldm_checkpoint(tiny_sd15, tmp_path / "tiny_ldm.safetensors", configs)
    assert checkpoint_family(checkpoint) == "sd15"
    source = CheckpointFile(checkpoint, configs)
    reference = open_model(tiny_sd15)
    for load in ("load_unet", "load_vae"):
        ours, theirs = getattr(source, load)(torch.float32).state_dict(), getattr(reference, load)(torch.float32).state_dict()
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    text, reference_text = source.load_text_encoders(torch.float32)[0], reference.load_text_encoders(torch.float32)[0]
    ours, theirs = text.state_dict(), reference_text.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    ids = torch.tensor([[49406, 320, 1125, 49407] + [49407] * 73])
    # same weights; transformers 4.50 gives the single-file load eager attention and the other sdpa: not bit-equal
    torch.testing.assert_close(text(ids)[0], reference_text(ids)[0], rtol=0, atol=1e-5)
    job = job_for(checkpoint, dataset, tmp_path, max_steps=1, sample_steps=0)
    job.model_configs = configs
    assert Trainer(job, log=quiet).run().lora_path.is_file()


@pytest.mark.parametrize("keys, message", [
    ({"model.diffusion_model.double_blocks.0.img_attn.qkv.weight": [2, 2]}, "flux checkpoint"),
    ({"cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight": [2, 2]}, "sd2 checkpoint"),
    ({"lora_unet_x.lora_down.weight": [2, 2]}, "not a Stable Diffusion checkpoint"),
])
def test_unsupported_checkpoints_are_named(tmp_path, keys, message):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({k: torch.zeros(shape) for k, shape in keys.items()}, str(path))
    with pytest.raises(CheckpointError, match=message):
        checkpoint_family(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        open_model(tmp_path / "missing.safetensors")


def test_existing_lora_is_never_overwritten_unless_asked(tiny_sd15, dataset, tmp_path):
    job = job_for(tiny_sd15, dataset, tmp_path, max_steps=1, sample_steps=0)
    job.lora_path.parent.mkdir(parents=True)
    job.lora_path.write_bytes(b"user's own file")
    with pytest.raises(JobError, match="already exists"):
        Trainer(job, log=quiet).run()
    assert job.lora_path.read_bytes() == b"user's own file"
    job.overwrite = True
    Trainer(job, log=quiet).run()
    assert load_tensors(job.lora_path)[0]


def test_broken_dataset_and_bad_settings_fail_before_any_model_loads(tiny_sd15, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no_images"):
        Trainer(job_for(tmp_path / "not-a-model", tmp_path / "empty", tmp_path), log=quiet).run()
    from comfyui_lora_lab.engines.training.inprocess import InProcessEngine
    from comfyui_lora_lab.engines.training.tiny import make_dataset

    data = make_dataset(tmp_path / "data", count=2)
    with pytest.raises(ConfigError, match="quantize"):
        InProcessEngine().train(job_for(tiny_sd15, data, tmp_path, quantize=4))
    with pytest.raises(ConfigError, match="settings are for sdxl"):
        Trainer(job_for(tiny_sd15, data, tmp_path, family="sdxl"), log=quiet).run()


def test_disk_full_during_save_leaves_no_partial_file(tiny_sd15, dataset, tmp_path, monkeypatch):
    import safetensors.torch

    def full_disk(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    class DiskFillsAtExport(Trainer):
        def export(self):
            monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
            return super().export()

    job = job_for(tiny_sd15, dataset, tmp_path, max_steps=1, sample_steps=0, save_every=0)
    with pytest.raises(OSError, match="No space left"):
        DiskFillsAtExport(job, log=quiet).run()
    assert not job.lora_path.parent.exists() or list(job.lora_path.parent.iterdir()) == []
