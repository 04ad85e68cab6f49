"""PEFT LoRA layers on the UNet (and optionally the text encoders), and back out as a canonical LoRA.

PEFT injects the trainable low-rank pairs; we read them back per module (``lora_A`` = down, ``lora_B`` =
up, alpha from the config) into :class:`~..lora_format.LoraWeights`, which ``save_lora`` writes in the
kohya layout ComfyUI loads. SD1.5 UNet paths stay in diffusers naming (what kohya writes for SD1.5);
SDXL paths are renamed to the native SGM naming kohya uses for SDXL. Both apply in ComfyUI.
"""

from __future__ import annotations

from ..lora_format import LoraModule, LoraWeights, ModuleKey
from ..lora_format import module_names
from ..lora_format.layouts import DIFFUSERS, NATIVE, UNET

ADAPTER = "default"
UNET_SCHEME = {"sd15": DIFFUSERS, "sdxl": NATIVE}


def add_lora(model, rank: int, alpha: float, targets: tuple[str, ...]) -> None:
    """Inject PEFT LoRA layers into ``model`` (gaussian A, zero B: the model is unchanged at step 0)."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=list(targets))
    inject_adapter_in_model(config, model, adapter_name=ADAPTER)
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name)


def trainable_parameters(models: dict) -> dict:
    """{"unet.<name>": parameter, "te0.<name>": ...}: the LoRA parameters, by stable names (used in state files)."""
    return {f"{prefix}.{name}": param for prefix, model in models.items()
            for name, param in model.named_parameters() if param.requires_grad}


def _lora_layers(model):
    from peft.tuners.lora import LoraLayer

    for name, module in model.named_modules():
        if isinstance(module, LoraLayer) and ADAPTER in module.lora_A:
            yield name, module


def text_module_path(name: str) -> str:
    """transformers paths: CLIPTextModel (v5) has no ``text_model.`` level, the projection model does; unify."""
    return name if name.startswith("text_model.") else f"text_model.{name}"


def unet_key(name: str, family: str) -> ModuleKey:
    scheme = UNET_SCHEME.get(family, DIFFUSERS)
    if scheme == NATIVE:
        native = module_names.diffusers_to_native(name, family)
        if native is not None:
            return ModuleKey(UNET, native, NATIVE)
    return ModuleKey(UNET, name, DIFFUSERS)


def extract_lora(unet, text_encoders: list, encoder_names: list[str], family: str, alpha: float) -> LoraWeights:
    """The trained pairs as a canonical LoRA (tensors detached, on the CPU, float32)."""
    modules: dict[ModuleKey, LoraModule] = {}

    def pair(module) -> LoraModule:
        down = module.lora_A[ADAPTER].weight.detach().float().cpu().clone()
        up = module.lora_B[ADAPTER].weight.detach().float().cpu().clone()
        return LoraModule(down, up, float(alpha))

    for name, module in _lora_layers(unet):
        modules[unet_key(name, family)] = pair(module)
    for encoder, component in zip(text_encoders, encoder_names):
        for name, module in _lora_layers(encoder):
            modules[ModuleKey(component, text_module_path(name), NATIVE)] = pair(module)
    return LoraWeights(modules, "kohya")
