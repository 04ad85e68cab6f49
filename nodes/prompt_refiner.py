"""Prompt Refiner: a vague prompt in, a six-section structured prompt out, written by Flan-T5 + a LoRA adapter."""

from __future__ import annotations

import json

from ..engines.prompt_refiner.precision import PRECISIONS
from .spec import MAX_SEED, Input, NodeResult, NodeSpec, Output

DEVICES = ("cpu", "cuda", "mps")


def _catalog():
    from ..bridge.services import shared_lab

    return shared_lab().refiner.catalog()


def _base_choices() -> list[str]:
    return list(_catalog().bases)


def _adapter_choices() -> list[str]:
    return list(_catalog().adapters)


SPEC = NodeSpec(
    node_id="LoRALabPromptRefiner",
    display_name="Prompt Refiner",
    description="Rewrite a vague prompt as a structured one (Act as / Context / Task / Constraints / Steps / Goal) "
                "with a frozen Flan-T5 and a LoRA adapter trained by `lora-lab refiner train`. Every word comes from "
                "the model (no templates); runs on the CPU by default so it never takes the sampler's GPU memory, and "
                "reports any words of your prompt the rewrite dropped.",
    inputs=(
        Input("prompt", "STRING", "The vague prompt to refine, e.g. 'create function'.", default="create function",
              multiline=True),
        Input("base_model", "COMBO", "A Flan-T5 folder in models/prompt_refiner (config.json, model.safetensors, "
              "tokenizer files).", options=_base_choices),
        Input("adapter", "COMBO", "A LoRA adapter folder in models/prompt_refiner, trained for this base model.",
              options=_adapter_choices),
        Input("max_new_tokens", "INT", "Longest rewrite, in tokens; a structured prompt needs about 150-250.",
              default=256, min=1, max=1024, step=1),
        Input("sample", "BOOLEAN", "Off: greedy, the same text every time. On: sampled from the seed (top-p 0.95, "
              "top-k 50, temperature 0.7).", default=False),
        Input("seed", "INT", "Seed for sampling (unused when sampling is off).", default=0, min=0, max=MAX_SEED,
              control_after_generate=True),
        Input("device", "COMBO", "Where the refiner runs; cpu keeps the GPU free for the sampler.", default="cpu",
              options=DEVICES),
        Input("keep_loaded", "BOOLEAN", "Keep the model in memory for the next prompt (off: unload after this run).",
              default=True),
        Input("precision", "COMBO", "Number format of the loaded model. auto: int8 on the cpu (about 3x faster than "
              "fp32; bf16 about 1.5x with scores closest to fp32); on a GPU bf16 where supported, else fp32. int8 runs "
              "on the cpu only, fp16 on a GPU only.",
              default="auto",
              options=PRECISIONS, optional=True),
    ),
    outputs=(
        Output("refined_prompt", "STRING", "The structured prompt, one section per line."),
        Output("report", "STRING", "JSON: model, adapter, device, milliseconds, tokens, decoding, and the intent check "
               "(content words of the prompt missing from the rewrite)."),
    ),
)


def validate_inputs(base_model: str = "", adapter: str = "") -> bool | str:
    """Queue-time check, so a missing model is explained before anything runs."""
    from ..engines.prompt_refiner.errors import MODEL_HELP

    catalog = _catalog()
    if base_model not in catalog.bases:
        found = ", ".join(catalog.bases) or "none"
        return f"Prompt Refiner base model '{base_model}' is not in models/prompt_refiner (found: {found}). {MODEL_HELP}"
    if adapter not in catalog.adapters:
        found = ", ".join(catalog.adapters) or "none"
        return f"Prompt Refiner adapter '{adapter}' is not in models/prompt_refiner (found: {found}). {MODEL_HELP}"
    return True


def execute(prompt: str, base_model: str, adapter: str, max_new_tokens: int, sample: bool, seed: int, device: str,
            keep_loaded: bool, precision: str = "auto") -> NodeResult:
    from ..bridge.progress import comfy_progress
    from ..bridge.services import shared_lab
    from ..engines.common.process_memory import large_blocks_returned
    from ..engines.prompt_refiner.generation import DecodeSettings

    settings = DecodeSettings(max_new_tokens=max_new_tokens, sample=sample, seed=seed)
    with large_blocks_returned():
        result = shared_lab().refiner.refine_named(base_model, adapter, prompt, settings, device, keep_loaded,
                                                   progress=comfy_progress(max_new_tokens), precision=precision)
    report = result.report()
    return NodeResult((result.refined, json.dumps(report)), ui={"text": [_summary(result, report)]})


def _summary(result, report: dict) -> str:
    """What the node shows: model, device, speed, whether the six sections came out, and the refined text."""
    missing = report["intent"]["missing"]
    return (f"{result.model} + {result.adapter} on {result.device} ({result.precision}): {result.new_tokens} tokens "
            f"in {result.ms:.0f} ms, {'structured' if result.structured else 'NOT structured'}, "
            + (f"missing words: {', '.join(missing)}" if missing else "kept every content word")
            + "\n\n" + result.refined)
