"""A LoRA our writer saves loads in diffusers and PEFT with no missing or unexpected keys, and applied at
strength 1 gives the weights we meant (W + alpha/rank * up @ down) within 1e-5."""

from __future__ import annotations

import logging

import pytest
import torch

from comfyui_lora_lab.engines import tiny_models
from comfyui_lora_lab.engines.lora_format import (
    LoraDescription, LoraModule, LoraWeights, ModuleKey, convert_file, load_tensors, save_lora,
)
from comfyui_lora_lab.engines.lora_format.layouts import CLIP_L, DIFFUSERS, UNET

TE_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
RANK, ALPHA = 4, 2.0


@pytest.fixture
def models():
    return tiny_models.clip_text_model(), tiny_models.unet()


def random_lora(te, unet) -> LoraWeights:
    generator = torch.Generator().manual_seed(1)
    modules = {}
    for model, component, targets, scheme in ((te, CLIP_L, TE_TARGETS, "native"),
                                              (unet, UNET, UNET_TARGETS, DIFFUSERS)):
        for name, module in model.named_modules():
            if name.endswith(targets):
                modules[ModuleKey(component, name, scheme)] = LoraModule(
                    torch.randn(RANK, module.in_features, generator=generator),
                    torch.randn(module.out_features, RANK, generator=generator), ALPHA)
    return LoraWeights(modules, "kohya")


def expected_deltas(weights: LoraWeights) -> dict[str, torch.Tensor]:
    return {m.path: m_lora.up @ m_lora.down * (ALPHA / RANK) for m, m_lora in weights.modules.items()}


def lora_deltas(model, adapter: str) -> dict[str, torch.Tensor]:
    from peft.tuners.lora import LoraLayer

    return {name: module.get_delta_weight(adapter) for name, module in model.named_modules()
            if isinstance(module, LoraLayer)}


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_kohya_file_loads_in_diffusers_with_exact_weights(tmp_path, models):
    from diffusers.loaders.lora_pipeline import StableDiffusionLoraLoaderMixin as Loader

    te, unet = models
    weights = random_lora(te, unet)
    path = save_lora(tmp_path / "lab.safetensors", weights, LoraDescription("lab", "sd15", RANK, ALPHA))
    warnings = _Collect()
    for name in ("diffusers", "peft"):
        logging.getLogger(name).addHandler(warnings)
    state_dict, alphas = Loader.lora_state_dict(str(path.parent), weight_name=path.name)
    Loader.load_lora_into_unet(state_dict, alphas, unet=unet, adapter_name="lab")
    Loader.load_lora_into_text_encoder(state_dict, alphas, text_encoder=te, prefix="text_encoder", adapter_name="lab")
    assert warnings.messages == [], "diffusers reported unexpected or missing keys"
    got = {**lora_deltas(te, "lab"), **lora_deltas(unet, "lab")}
    want = expected_deltas(weights)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=0)


def test_peft_layout_loads_into_peft_models_with_no_missing_or_unexpected_keys(tmp_path, models):
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict

    te, unet = models
    weights = random_lora(te, unet)
    kohya = save_lora(tmp_path / "lab.safetensors", weights, LoraDescription("lab", "sd15", RANK, ALPHA))
    peft_file = convert_file(kohya, tmp_path / "lab_peft.safetensors", "peft")
    tensors, _ = load_tensors(peft_file)
    for model, prefix, targets in ((te, "text_encoder.", list(TE_TARGETS)), (unet, "unet.", list(UNET_TARGETS))):
        inject_adapter_in_model(LoraConfig(r=RANK, lora_alpha=RANK, target_modules=targets), model)
        part = {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}
        result = set_peft_model_state_dict(model, part)
        assert result.unexpected_keys == []
        loaded = {key.replace(".default", "") for key in model.state_dict() if "lora_" in key}
        assert loaded == set(part), "every LoRA parameter of the model must come from the file"
    got = {**lora_deltas(te, "default"), **lora_deltas(unet, "default")}
    want = expected_deltas(weights)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=0)


def test_merged_weights_match_base_plus_delta(tmp_path, models):
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict
    from peft.tuners.lora import LoraLayer

    te, _ = models
    weights = random_lora(te, tiny_models.unet())
    kohya = save_lora(tmp_path / "lab.safetensors", weights, LoraDescription("lab", "sd15", RANK, ALPHA))
    tensors, _ = load_tensors(convert_file(kohya, tmp_path / "lab_peft.safetensors", "peft"))
    base = {name: module.weight.detach().clone() for name, module in te.named_modules() if name.endswith(TE_TARGETS)}
    inject_adapter_in_model(LoraConfig(r=RANK, lora_alpha=RANK, target_modules=list(TE_TARGETS)), te)
    set_peft_model_state_dict(te, {k[len("text_encoder."):]: v for k, v in tensors.items() if k.startswith("text_encoder.")})
    want = expected_deltas(weights)
    for name, module in te.named_modules():
        if isinstance(module, LoraLayer):
            module.merge()
            torch.testing.assert_close(module.base_layer.weight, base[name] + want[name], atol=1e-5, rtol=0)
