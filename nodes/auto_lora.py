"""AutoLoRADiscover: pick installed LoRAs for a prompt (grounded per keyword, family-safe), apply them, explain why."""

from __future__ import annotations

import json

from .spec import MAX_SEED, Input, NodeResult, NodeSpec, Output

AUTO_LORA_MODES = ("follow panel", "on", "off")

READY_TIMEOUT_S = 300.0

SPEC = NodeSpec(
    node_id="LoRALabAutoLoRADiscover",
    display_name="Auto LoRA Discover",
    description="Finds the installed LoRAs a prompt asks for (by trigger words, names, tags and metadata from "
                "Civitai, Lora-Manager, rgthree and A1111 sidecars), only for the model's base family, one per "
                "concept; generic words alone never pick a LoRA and 'no LoRA' is a valid answer. Applies them "
                "through ComfyUI's loader, adds their trigger words, and explains every pick. Learns from the "
                "drafts you pick.",
    inputs=(
        Input("model", "MODEL", "The diffusion model; its base family (SD1.5, SDXL, ...) filters the LoRAs."),
        Input("clip", "CLIP", "The text encoder the LoRAs are applied to."),
        Input("prompt", "STRING", "The prompt to find LoRAs for (A1111/ComfyUI syntax: weights, BREAK, "
                                  "embedding:, <lora:...> tags already present are kept and not added again).",
              default="", multiline=True),
        Input("max_loras", "INT", "Most LoRAs to apply (one per concept of the prompt).", default=3, min=0, max=10),
        Input("min_strength", "FLOAT", "Strength of a LoRA that just clears the threshold.", default=0.5,
              min=0.0, max=2.0, step=0.01),
        Input("max_strength", "FLOAT", "Strength of a perfectly matching LoRA (a file's preferred range narrows "
                                       "it).", default=0.8, min=0.0, max=2.0, step=0.01),
        Input("threshold", "FLOAT", "Calibrated probability (0-1) that you want a LoRA, needed to pick it; "
                                    "higher picks fewer.",
              default=0.05, min=0.0, max=1.0, step=0.01),
        Input("add_trigger_words", "BOOLEAN", "Append each picked LoRA's trigger word to the prompt output.",
              default=True),
        Input("variations", "INT", "Number of combinations to output as lists (for a batch of different "
                                   "drafts); the first is always the best one.", default=1, min=1, max=64),
        Input("seed", "INT", "Seed of the variations.", default=0, min=0, max=MAX_SEED, control_after_generate=True),
        Input("auto_lora", "COMBO", "on: discover and apply LoRAs; off: pass MODEL, CLIP and prompt through "
                                    "unchanged; follow panel: the LoRA Lab panel's Auto-LoRA switch.",
              default="follow panel", options=AUTO_LORA_MODES),
        Input("draft", "LORA_LAB_DRAFT", "Optional: Checkpoint Explorer's 'draft' output. Each checkpoint group of "
                                         "the batch then gets its own combination of the discovered LoRAs (one "
                                         "group may get none, the control), learned from your picks per "
                                         "(checkpoint, LoRA) pair; 'variations' is ignored.", optional=True),
    ),
    outputs=(
        Output("MODEL", "MODEL", "The model with the picked LoRAs applied, one per variation.", is_list=True),
        Output("CLIP", "CLIP", "The text encoder with the picked LoRAs applied, one per variation.", is_list=True),
        Output("prompt", "STRING", "The prompt with the picked LoRAs' trigger words added, one per variation.",
               is_list=True),
        Output("LORA_STACK", "LORA_STACK", "The picks as (name, model strength, clip strength) tuples, for "
                                           "stacker/loader nodes, one stack per variation.", is_list=True),
        Output("lora_text", "STRING", "The picks as <lora:name:strength> text, one per variation.", is_list=True),
        Output("report", "STRING", "JSON report: per-keyword evidence, picks with reasons and strengths, "
                                   "alternatives, why nothing was picked, keys matched when applied."),
    ),
)


def validate_inputs(min_strength: float = 0.5, max_strength: float = 0.8) -> bool | str:
    if isinstance(min_strength, (int, float)) and isinstance(max_strength, (int, float)) and min_strength > max_strength:
        return f"min_strength ({min_strength}) must not be larger than max_strength ({max_strength})"
    return True


def fingerprint_inputs(**_: object) -> str:
    """Run again when the library, what was learned or the panel's Auto-LoRA switch changed."""
    from ..bridge.services import shared_lab

    lab = shared_lab()
    return f"{lab.discovery.version()}:{lab.explorer.settings().auto_lora}"


def _library():
    from ..bridge.services import shared_lab

    library = shared_lab().discovery
    library.refresh_if_stale()
    library.wait_ready(READY_TIMEOUT_S)
    return library


def _apply_variant(model, clip, variant, library, cache: dict, applied: list[dict]):
    from ..bridge import lora_apply
    from ..engines.lora_format import LoraFileError, load_tensors

    for pick in variant.picks:
        entry = library.entry(pick.name)
        try:
            if pick.name not in cache:
                cache[pick.name] = load_tensors(entry.path)[0] if entry is not None else None
            tensors = cache[pick.name]
            if tensors is None:
                raise LoraFileError(pick.name, "is no longer in the library")
        except LoraFileError as exc:
            applied.append({"name": pick.name, "applied": False, "error": str(exc)})
            continue
        model, clip, keys = lora_apply.apply_lora(model, clip, tensors, pick.strength, pick.clip_strength)
        applied.append({"name": pick.name, "applied": True, **keys.to_dict(max_listed=5)})
    return model, clip


def _summary(outcome) -> str:
    result = outcome.result
    if outcome.summary:
        lines = [outcome.summary]
    elif not result.picks:
        lines = [f"Auto LoRA Discover ({result.family}): no LoRA. {result.abstained_reason}"]
    else:
        lines = [f"Auto LoRA Discover ({result.family}): {len(result.picks)} LoRA(s)"]
        for pick in result.picks:
            lines.append(f"- {pick.name} @ {pick.strength:g} (relevance {pick.relevance:.2f}): {pick.reasons[0]}")
        if len(result.variants) > 1:
            lines.append(f"{len(result.variants)} variations: "
                         + " | ".join(v.lora_text or "(none)" for v in result.variants))
    return "\n".join(lines + [f"WARNING: {w}" for w in outcome.warnings])


def _outputs(model, clip, outcome) -> tuple[list, ...]:
    """Each variant applied through ComfyUI's loader (the library is only opened when there is a LoRA)."""
    outputs = ([], [], [], [], [])
    library = _library() if any(v.picks for v in outcome.variants) else None
    cache: dict = {}
    for variant, raw in zip(outcome.variants, outcome.report["variants"]):
        raw["applied"] = []
        new_model, new_clip = _apply_variant(model, clip, variant, library, cache, raw["applied"])
        for out, value in zip(outputs, (new_model, new_clip, variant.prompt, variant.stack, variant.lora_text)):
            out.append(value)
    return outputs


def execute(model, clip, prompt: str, max_loras: int, min_strength: float, max_strength: float, threshold: float,
            add_trigger_words: bool, variations: int, seed: int, auto_lora: str = "follow panel",
            draft=None) -> NodeResult:
    from ..bridge import models
    from ..bridge.services import shared_lab
    from ..engines.discovery import DiscoverOptions
    from ..engines.explorer.auto_lora_flow import AutoLoraRequest, run_auto_lora

    options = DiscoverOptions(family=models.model_family(model), max_loras=max_loras, min_strength=min_strength,
                              max_strength=max_strength, threshold=threshold, add_trigger_words=add_trigger_words,
                              variations=variations, seed=seed)
    request = AutoLoraRequest(prompt, options, auto_lora, draft)
    outcome = run_auto_lora(_library, shared_lab().explorer, request)
    outputs = _outputs(model, clip, outcome)
    return NodeResult((*outputs, json.dumps(outcome.report, indent=2)), ui={"text": [_summary(outcome)]})
