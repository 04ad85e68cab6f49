"""Settings validation and per-family defaults; the batch/noise schedule that makes resume and DDP exact."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.training.config import ConfigError, TrainingConfig
from comfyui_lora_lab.engines.training.job import JobError, TrainingJob, clean_name
from comfyui_lora_lab.engines.training.schedule import DataOrder, Layout, bucket_size, step_seed


@pytest.mark.parametrize("field, value, message", [
    ("rank", 0, "rank: must be an integer from 1"),
    ("rank", 4.5, "rank: must be an integer"),
    ("learning_rate", -1.0, "learning_rate: must be a number > 0"),
    ("learning_rate", float("nan"), "learning_rate"),
    ("resolution", 100, "multiple of 8"),
    ("precision", "fp8", "precision: expected one of"),
    ("optimizer", "lion", "optimizer: expected one of"),
    ("batch_size", True, "batch_size"),
    ("quantize", 2, "quantize: must be an integer from 3 to 8"),
    ("unet_targets", (), "unet_targets"),
    ("family", "sd2", "family: expected one of"),
])
def test_bad_settings_name_field_rule_and_value(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig(**{field: value})


@pytest.mark.parametrize("family, rank, resolution, checkpointing", [
    ("sd15", 16, 512, False), ("sdxl", 32, 1024, True), ("flux", 16, 512, True)])
def test_family_defaults_and_overrides(family, rank, resolution, checkpointing):
    config = TrainingConfig.for_family(family, epochs=3, learning_rate=None)
    assert (config.rank, config.resolution, config.gradient_checkpointing, config.epochs) == (
        rank, resolution, checkpointing, 3)
    assert config.learning_rate == 1e-4 and config.effective_alpha == rank


def test_config_round_trips_through_training_config_json(tmp_path):
    config = TrainingConfig.for_family("sdxl", sample_prompts=("a", "b"), trigger_word="ohwx")
    path = config.save(tmp_path)
    assert path.name == "training_config.json"
    assert TrainingConfig.load(tmp_path) == config
    path.write_text('{"rank": 4, "typo": 1}')
    with pytest.raises(ConfigError, match="unknown setting"):
        TrainingConfig.load(path)
    with pytest.raises(ConfigError, match="unknown setting"):
        TrainingConfig.for_family("sd15", not_a_field=1)


@pytest.mark.parametrize("name, ok", [("my lora", "my lora"), ("style.safetensors", "style"), ("../evil", None),
                                      ("a/b", None), (".hidden", None), ("", None), ("x" * 200, None)])
def test_lora_names_are_file_safe(name, ok):
    if ok is None:
        with pytest.raises(JobError):
            clean_name(name)
    else:
        assert clean_name(name) == ok


def test_job_refuses_an_existing_output_unless_asked(tmp_path):
    job = TrainingJob(tmp_path, tmp_path, "x", TrainingConfig(), tmp_path / "loras", tmp_path / "run", subfolder="brand")
    assert job.lora_path == tmp_path / "loras" / "brand" / "x.safetensors"
    job.lora_path.parent.mkdir(parents=True)
    job.lora_path.write_bytes(b"")
    with pytest.raises(JobError, match="already exists"):
        job.check_output()
    job.check_output(resumable=True)
    job.overwrite = True
    job.check_output()
    assert TrainingJob.from_dict(job.to_dict()).lora_path == job.lora_path


@pytest.mark.parametrize("size, resolution, expected", [
    ((512, 512), 512, (512, 512)), ((1024, 512), 512, (704, 320)), ((512, 1024), 512, (320, 768)),
    ((100, 100), 64, (64, 64))])
def test_aspect_buckets_keep_the_area_and_step(size, resolution, expected):
    width, height = bucket_size(*size, resolution, 64, True)
    assert (width, height) == expected
    assert width * height <= resolution * resolution and width % 64 == 0 and height % 64 == 0
    assert bucket_size(*size, resolution, 64, False) == (resolution, resolution)


def test_epoch_batches_are_deterministic_padded_and_cover_every_sample():
    buckets = [(64, 64)] * 5 + [(64, 32)] * 2
    order = DataOrder(buckets, [1, 1, 1, 1, 1, 2, 2], Layout(2), seed=3)
    assert order.steps_per_epoch == 3 + 2
    batches = order.epoch_batches(0)
    assert all(len(b) == 2 and len({buckets[i] for i in b}) == 1 for b in batches)
    assert set(i for b in batches for i in b) == set(range(7))
    assert DataOrder(buckets, [1, 1, 1, 1, 1, 2, 2], Layout(2), seed=3).epoch_batches(0) == batches
    assert order.epoch_batches(1) != batches
    assert order.batch(5) == (1, order.epoch_batches(1)[0])


def test_processes_take_disjoint_slices_of_the_same_global_batch():
    one = Layout(batch_size=4)
    two = Layout(batch_size=2, processes=2)
    batch = list(range(4))
    assert one.slice(batch, 0, 0) == two.slice(batch, 0, 0) + two.slice(batch, 1, 0)
    accumulated = Layout(batch_size=1, processes=2, accumulation=2)
    slices = [accumulated.slice(batch, rank, micro) for micro in range(2) for rank in range(2)]
    assert sorted(i for s in slices for i in s) == batch
    assert step_seed(0, 0) != step_seed(0, 1) != step_seed(1, 0)
