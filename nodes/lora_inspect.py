"""LoRA Inspect: apply a LoRA through ComfyUI's loader and report what it is and how it matched."""

from __future__ import annotations

from .spec import Input, NodeResult, NodeSpec, Output

SAFETENSORS = (".safetensors", ".sft")


def _lora_choices() -> list[str]:
    from ..bridge import folders

    return [name for name in folders.list_files("loras") if name.lower().endswith(SAFETENSORS)]


SPEC = NodeSpec(
    node_id="LoRALabInspect",
    display_name="LoRA Inspect",
    description="Apply a LoRA like Load LoRA does, and report its format, base family, rank, alpha, trigger "
                "words and how many of its keys matched the model; warns when the LoRA is for another base model.",
    inputs=(
        Input("model", "MODEL", "The diffusion model to apply the LoRA to."),
        Input("clip", "CLIP", "The text encoder to apply the LoRA to."),
        Input("lora_name", "COMBO", "A .safetensors file from ComfyUI's loras folders.", options=_lora_choices),
        Input("strength_model", "FLOAT", "How strongly the LoRA changes the diffusion model (0 = not at all).",
              default=1.0, min=-10.0, max=10.0, step=0.01),
        Input("strength_clip", "FLOAT", "How strongly the LoRA changes the text encoder (0 = not at all).",
              default=1.0, min=-10.0, max=10.0, step=0.01),
    ),
    outputs=(
        Output("MODEL", "MODEL", "The model with the LoRA applied (unchanged if the file could not be read)."),
        Output("CLIP", "CLIP", "The text encoder with the LoRA applied (unchanged if the file could not be read)."),
        Output("report", "STRING", "JSON report: format, family, rank, alpha, trigger words, matched/unmatched keys, warnings."),
    ),
)


def validate_inputs(lora_name: str = "") -> bool | str:
    """Queue-time check, so a missing or pickle file is reported before anything runs."""
    if not lora_name.lower().endswith(SAFETENSORS):
        return f"'{lora_name}' is not a .safetensors file; LoRA Lab does not load pickle files (.ckpt/.pt/.bin)"
    if lora_name not in _lora_choices():
        return f"LoRA '{lora_name}' is not in ComfyUI's loras folders; pick one from the list or refresh"
    return True


def execute(model, clip, lora_name: str, strength_model: float, strength_clip: float) -> NodeResult:
    from ..bridge import folders, lora_apply, models
    from ..engines.lora_inspect import Target, inspect_lora

    def apply(tensors):
        new_model, new_clip, applied = lora_apply.apply_lora(model, clip, tensors, strength_model, strength_clip)
        return new_model, new_clip, applied.to_dict()

    target = Target(models.model_family(model), models.clip_family(clip))
    new_model, new_clip, report = inspect_lora(lora_name, lambda name: folders.resolve("loras", name), target, apply,
                                               (model, clip))
    return NodeResult((new_model, new_clip, report.to_json()), ui={"text": [report.text()]})
