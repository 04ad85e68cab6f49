"""LoRA training end to end on a tiny T5: only adapter weights are saved, with config and metadata."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from comfyui_lora_lab.engines.prompt_refiner.adapter_files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, TRAINING_INFO
from comfyui_lora_lab.engines.prompt_refiner.base_model import load_base
from comfyui_lora_lab.engines.prompt_refiner.training import TrainConfig, train_adapter, wrap_with_lora

# tiny shape: d_model 32, heads 4 x d_kv 8 = 32; q and v in encoder self-, decoder self- and cross-attention.
TINY_QV_LINEARS = 6


def test_adapter_folder_holds_only_lora_weights_config_and_metadata(tiny_models, refiner_pairs):
    assert sorted(p.name for p in tiny_models.adapter.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS, TRAINING_INFO]
    tensors = load_file(str(tiny_models.adapter / ADAPTER_WEIGHTS))
    assert len(tensors) == 2 * TINY_QV_LINEARS
    assert all(".lora_A." in key or ".lora_B." in key for key in tensors)
    assert all(key.rsplit(".lora_", 1)[0].endswith((".q", ".v")) for key in tensors)
    assert sum(t.numel() for t in tensors.values()) == TINY_QV_LINEARS * 16 * (32 + 32)
    config = json.loads((tiny_models.adapter / ADAPTER_CONFIG).read_text())
    assert (config["peft_type"], config["r"], config["lora_alpha"], config["target_modules"]) == ("LORA", 16, 32, ["q", "v"])
    info = json.loads((tiny_models.adapter / TRAINING_INFO).read_text())
    assert info["data"]["sha256"] == refiner_pairs.sha256()
    assert info["epochs"] == 1 and len(info["epoch_losses"]) == 1 and len(info["step_losses"]) == 3  # 20 pairs / 8
    assert set(info["eval"]) == {"count", "structure_rate", "content_recall", "rouge_l"} and info["eval"]["count"] == 4
    assert info["base"]["name"] == "tiny-t5" and len(info["base"]["fingerprint"]) == 64


def test_only_lora_matrices_train_and_the_base_stays_frozen(tiny_models):
    base = load_base(tiny_models.base)
    before = {name: p.detach().clone() for name, p in base.model.named_parameters()}
    wrapped, trainable = wrap_with_lora(base.model, TrainConfig())
    names = [name for name, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable == TINY_QV_LINEARS * 16 * 64 and all("lora_" in name for name in names)
    loss = wrapped(input_ids=torch.tensor([[5, 6, 1]]), labels=torch.tensor([[7, 1]])).loss
    loss.backward()
    torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=0.1).step()
    after = dict(wrapped.get_base_model().named_parameters())
    for name, value in before.items():
        key = name.replace(".q.weight", ".q.base_layer.weight").replace(".v.weight", ".v.base_layer.weight")
        assert torch.equal(after[key], value), name


def test_progress_is_reported_every_step_and_loss_falls(tiny_models, refiner_pairs, tmp_path):
    calls = []
    result = train_adapter(tiny_models.base, refiner_pairs, tmp_path / "ad",
                           TrainConfig(epochs=4, learning_rate=1e-2, eval_limit=0),
                           lambda done, total, message="": calls.append((done, total, message)))
    assert [c[0] for c in calls] == list(range(1, 13)) and {c[1] for c in calls} == {12}
    assert "epoch 4/4 step 3/3 loss" in calls[-1][2]
    assert result.epoch_losses[-1] < result.epoch_losses[0]
    assert result.scores is None  # eval_limit=0: nothing scored


def test_an_existing_adapter_is_not_replaced_unless_asked(tiny_models, refiner_pairs, tmp_path):
    out = tmp_path / "ad"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        train_adapter(tiny_models.base, refiner_pairs, out, TrainConfig(epochs=1, eval_limit=0))
    assert (out / "keep.txt").read_text() == "mine"
    train_adapter(tiny_models.base, refiner_pairs, out, TrainConfig(epochs=1, eval_limit=0), overwrite=True)
    assert (out / ADAPTER_WEIGHTS).is_file() and not (out / "keep.txt").exists()


@pytest.mark.parametrize("kwargs", [dict(rank=0), dict(epochs=0), dict(learning_rate=0), dict(batch_size=0),
                                    dict(target_modules=()), dict(dropout=1.0)])
def test_train_config_validates(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TrainConfig(**kwargs)
