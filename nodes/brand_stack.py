"""Brand LoRA Stack: a brand's LoRAs by id, stacked with weights, from the shared cache, with A/B arms."""

from __future__ import annotations

from ..engines.brands.run import AB_MODES
from .spec import MAX_SEED, Input, NodeResult, NodeSpec, Output

NONE_CHOICE = "(none)"


def _lab():
    from ..bridge.services import shared_lab

    return shared_lab()


def _brand_choices() -> list[str]:
    try:
        brands = _lab().brands.library.brand_ids()
    except (OSError, ValueError):
        brands = []
    return [*brands, NONE_CHOICE]


SPEC = NodeSpec(
    node_id="LoRALabBrandLoRAStack",
    display_name="Brand LoRA Stack",
    description="Apply a brand's LoRAs by brand id (models/loras/brands/<brand_id>/: style, product, photography "
                "..., versions v1/v2), stacked with weights, loaded through a shared in-memory cache. A missing or "
                "broken file leaves the model unchanged with a warning (strict: an error at queue time); a LoRA for "
                "another base model is not applied. A/B mode renders one output per weight arm.",
    inputs=(
        Input("model", "MODEL", "The diffusion model the brand LoRAs are applied to."),
        Input("clip", "CLIP", "The text encoder the brand LoRAs are applied to."),
        Input("brand", "COMBO", "The brand (a folder in loras/brands/ or LORA_BASE_DIR); its primary style LoRA, "
              f"newest version unless metadata.json pins one. '{NONE_CHOICE}': only lora_configs.",
              options=_brand_choices),
        Input("weight", "FLOAT", "Strength of the brand's LoRA on the model and the text encoder.",
              default=0.8, min=0.0, max=1.0, step=0.01),
        Input("lora_configs", "STRING", "More LoRAs: a JSON list [{\"brand_id\", \"weight\", \"type\", \"version\"}] "
              "or one per line 'brand[/role][@version]: weight[, clip weight]'.", default="", multiline=True),
        Input("strict", "BOOLEAN", "Strict: a missing brand, unreadable file or wrong base model is an error "
              "instead of a warning (file problems are caught when you queue).", default=False),
        Input("ab_mode", "COMBO", "A/B weights: 'all arms' renders one output per arm in one queue; 'assign by "
              "key' picks one arm from ab_key (same key, same arm).", default="off", options=AB_MODES),
        Input("ab_arms", "STRING", "Arms: '0.4, 0.6, 0.8' (brand weight grid), {\"subtle\": 0.5, \"bold\": "
              "{\"acme\": 0.9}} or {\"acme\": [0.4, 0.8], \"acme/product\": [0.3, 0.6]}; empty: the brand's "
              "metadata.json ab_arms.", default=""),
        Input("ab_key", "INT", "Key for 'assign by key' (connect a seed or batch number).",
              default=0, min=0, max=MAX_SEED),
        Input("lora_stack", "LORA_STACK", "Optional LORA_STACK from another stacker; applied first.", optional=True),
    ),
    outputs=(
        Output("MODEL", "MODEL", "The model with the stack applied; one per A/B arm.", is_list=True),
        Output("CLIP", "CLIP", "The text encoder with the stack applied; one per A/B arm.", is_list=True),
        Output("LORA_STACK", "LORA_STACK", "What was applied (incoming entries first), as (name, model weight, clip "
               "weight); one per arm. The outputs above already have it applied.", is_list=True),
        Output("report", "STRING", "JSON per arm: each LoRA's file, version, weights, cache hit/miss, family, "
               "matched/unmatched keys, fallback warnings and A/B results.", is_list=True),
    ),
)


def _request(brand, weight, lora_configs, strict, ab_mode, ab_arms, ab_key):
    from ..engines.brands.run import StackRequest

    return StackRequest(brand=None if brand == NONE_CHOICE else brand, weight=weight, lora_configs=lora_configs or "",
                        strict=bool(strict), ab_mode=ab_mode or "off", ab_arms=ab_arms or "",
                        ab_key=0 if ab_key is None else ab_key)


def validate_inputs(brand: str = NONE_CHOICE, lora_configs: str = "", strict: bool = False, ab_mode: str = "off",
                    ab_arms: str = "") -> bool | str:
    """Queue-time check: the stack text and arms parse, brand ids are valid; strict: every file is readable.

    ``brand`` is named here so a brand missing from the combo is ours to judge (a warning unless strict);
    ComfyUI checks the ranges of ``weight`` and ``ab_key`` itself, which do not change what is checked here.
    """
    try:
        _request(brand, 0.8, lora_configs, strict, ab_mode, ab_arms, 0).check(_lab().brands)
    except (ValueError, OSError) as exc:
        return str(exc)
    return True


def fingerprint_inputs(brand=NONE_CHOICE, weight=0.8, lora_configs="", strict=False, ab_mode="off", ab_arms="",
                       ab_key=0, **_: object) -> str:
    """Re-run when a file of the stack changes on disk (new version, replaced file), not only when widgets do."""
    try:
        request = _request(brand, 0.8 if weight is None else weight, lora_configs, strict, ab_mode, ab_arms, ab_key)
        return request.fingerprint(_lab().brands)
    except (ValueError, OSError) as exc:
        return f"error: {exc}"


def execute(model, clip, brand: str, weight: float, lora_configs: str, strict: bool, ab_mode: str, ab_arms: str,
            ab_key: int, lora_stack=None) -> NodeResult:
    from ..bridge import folders, lora_apply, models
    from ..engines.brands.run import incoming_items, run_stack
    from ..engines.lora_inspect import Target

    lab = _lab()
    request = _request(brand, weight, lora_configs, strict, ab_mode, ab_arms, ab_key)
    target = Target(models.model_family(model), models.clip_family(clip))
    incoming = incoming_items(lora_stack, lambda name: folders.resolve("loras", name))
    out = run_stack(lab.brands, request, model, clip, incoming, _applier(lora_apply), target,
                    lab.database if request.ab_mode != "off" else None)
    cache = lab.brands.cache.snapshot()
    reports = [out.report_json(index, target, cache) for index in range(len(out.reports))]
    return NodeResult((out.models, out.clips, out.stacks, reports), ui={"text": [out.text()]})


def _applier(lora_apply):
    def apply(model, clip, tensors, strength_model, strength_clip):
        new_model, new_clip, report = lora_apply.apply_lora(model, clip, tensors, strength_model, strength_clip)
        return new_model, new_clip, report.to_dict(max_listed=5)

    return apply
