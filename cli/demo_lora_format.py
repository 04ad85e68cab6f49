"""Demo step: write a LoRA for small SD1.5-style models, inspect it, convert it, load it back in diffusers."""

from __future__ import annotations

from pathlib import Path


def _random_lora(rank: int = 4, alpha: float = 2.0):
    import torch

    from ..engines import tiny_models
    from ..engines.lora_format import LoraModule, LoraWeights, ModuleKey
    from ..engines.lora_format.layouts import CLIP_L, DIFFUSERS, UNET

    generator = torch.Generator().manual_seed(0)
    modules = {}
    for model, component, targets, scheme in (
        (tiny_models.clip_text_model(), CLIP_L, ("q_proj", "k_proj", "v_proj", "out_proj"), "native"),
        (tiny_models.unet(), UNET, ("to_q", "to_k", "to_v", "to_out.0"), DIFFUSERS),
    ):
        for name, module in model.named_modules():
            if name.endswith(targets):
                modules[ModuleKey(component, name, scheme)] = LoraModule(
                    torch.randn(rank, module.in_features, generator=generator) * 0.1,
                    torch.randn(module.out_features, rank, generator=generator) * 0.1, alpha)
    return LoraWeights(modules, "kohya")


def _diffusers_layers(path: Path) -> int:
    from diffusers.loaders.lora_pipeline import StableDiffusionLoraLoaderMixin as Loader
    from peft.tuners.lora import LoraLayer

    from ..engines import tiny_models

    text_encoder, unet = tiny_models.clip_text_model(), tiny_models.unet()
    state_dict, alphas = Loader.lora_state_dict(str(path.parent), weight_name=path.name)
    Loader.load_lora_into_unet(state_dict, alphas, unet=unet, adapter_name="demo")
    Loader.load_lora_into_text_encoder(state_dict, alphas, text_encoder=text_encoder, prefix="text_encoder",
                                       adapter_name="demo")
    return sum(isinstance(m, LoraLayer) for model in (text_encoder, unet) for m in model.modules())


def run(workdir: Path) -> dict:
    from ..engines.lora_format import LoraDescription, convert_file, inspect_file, save_lora

    path = save_lora(workdir / "demo_style.safetensors", _random_lora(),
                     LoraDescription("demo style", "sd15", rank=4, alpha=2.0, trigger_phrase="demostyle"),
                     overwrite=True)
    summary = inspect_file(path)
    converted = {layout: inspect_file(convert_file(path, workdir / f"demo_style_{layout}.safetensors", layout,
                                                   overwrite=True)).layout for layout in ("peft", "comfy")}
    return {
        "wrote": str(path),
        "format": summary.layout, "family": f"{summary.family} ({summary.family_source})",
        "rank": summary.rank, "alpha": summary.alpha, "modules": summary.modules,
        "trigger_words": summary.trigger_words,
        "converted_to": converted,
        "diffusers_lora_layers_loaded": _diffusers_layers(path),
    }
