"""Text to LoRA (optimise): a per-prompt text-encoder LoRA, applied to the CLIP and optionally saved.

Thin adapter: widgets -> one engine use case, ``engines.text_to_lora.output.text_to_lora``, on private copies of the
CLIP's encoders (``bridge.clip_encoders``, which also reads the layer CLIP Set Last Layer chose, the padded window
and the encoder's device), outside ComfyUI's inference mode; the result is applied through ComfyUI's own LoRA
loader (``bridge.lora_apply``) and written into ``loras/text_to_lora/``.
"""

from __future__ import annotations

import json

from .spec import Input, NodeResult, NodeSpec, Output

FOLDER = "text_to_lora"  # models/text_to_lora: custom configs (.json), calibrations and proposers (.safetensors)
NO_PROPOSER = "none"


def _config_choices() -> list[str]:
    from ..bridge import folders
    from ..engines.text_to_lora.config import preset_names

    return preset_names() + [name for name in folders.list_files(FOLDER) if name.lower().endswith(".json")]


def _proposer_choices() -> list[str]:
    from ..bridge import folders

    return [NO_PROPOSER] + [n for n in folders.list_files(FOLDER)
                            if n.lower().endswith(".safetensors") and "proposer" in n.lower()]


SPEC = NodeSpec(
    node_id="LoRALabTextToLoRAOptimize",
    display_name="Text to LoRA (optimise)",
    description="Turn a prompt into a LoRA for the text encoder(s): propose a start, then optimise it so the "
                "states the diffusion model reads (the layer CLIP Set Last Layer chose) predict the prompt's own "
                "tokens better (calibrated tied readout), while the conditioning it hands the model (every padded "
                "position, and the pooled vector where used) moves by at most the budget. Outputs the patched "
                "CLIP, the saved file, a report with the score before/after, the conditioning change and a "
                "shuffled-prompt control, and the loss curve.",
    inputs=(
        Input("clip", "CLIP", "The text encoder(s) to make the LoRA for (its current patches are included)."),
        Input("prompt", "STRING", "The prompt. Weight/embedding/LoRA syntax is stripped; the words are kept.",
              default="", multiline=True),
        Input("config", "COMBO", "Target model preset (sd15, sdxl, sd3, flux) or a config .json from "
              "models/text_to_lora.", default="sd15", options=_config_choices),
        Input("rank", "INT", "LoRA rank (at most the layer width).", default=4, min=1, max=128, step=1),
        Input("steps", "INT", "Optimiser steps per encoder.", default=50, min=1, max=1000, step=1),
        Input("learning_rate", "FLOAT", "Adam step size (backed off, with a note, if it leaves the budget at once).",
              default=0.003, min=0.0001, max=1.0, step=0.0001),
        Input("budget", "FLOAT", "Largest relative change (L2) of the conditioning the diffusion model reads; "
              "0.05 is of the order of a (prompt:1.05) emphasis.", default=0.05, min=0.001, max=1.0, step=0.001),
        Input("keep_weight", "FLOAT", "How strongly, inside the budget, the conditioning is held near the original.",
              default=1.0, min=0.0, max=1000.0, step=0.01),
        Input("strength", "FLOAT", "Strength the LoRA is applied to the output CLIP with.", default=1.0,
              min=-10.0, max=10.0, step=0.01),
        Input("seed", "INT", "Seed of the LoRA initialisation (same seed, same LoRA).", default=0, min=0,
              max=2**31 - 1),
        Input("proposer", "COMBO", "A trained proposer from models/text_to_lora, or none (start from B = 0).",
              default=NO_PROPOSER, options=_proposer_choices),
        Input("save", "BOOLEAN", "Write the LoRA to loras/text_to_lora/ (never replaces a file).", default=True),
        Input("name_prefix", "STRING", "File name prefix of the saved LoRA.", default="t2l"),
    ),
    outputs=(
        Output("CLIP", "CLIP", "The CLIP with the new LoRA applied (through ComfyUI's LoRA loader)."),
        Output("lora_path", "STRING", "Path of the saved LoRA (empty when not saved)."),
        Output("report", "STRING", "JSON report: NLL before/after, conditioning change, shuffled control, device."),
        Output("loss_curve", "IMAGE", "The prompt-token NLL per optimiser step."),
    ),
    hidden=("unique_id",),
)


def validate_inputs(prompt: str = "", rank: int = 4, config: str = "sd15") -> bool | str:
    """Queue-time checks that need no model: an empty prompt, an unknown or broken config, a rank too large."""
    from ..engines.text_to_lora.config import ConfigError, check_rank

    if isinstance(prompt, str) and not prompt.strip():
        return "prompt is empty; give the text the LoRA should align the encoder with"
    try:
        target = _load_config(config)
        check_rank(rank, target.encoders)
    except (ConfigError, FileNotFoundError) as exc:
        return str(exc)
    return True


def _load_config(name: str):
    from ..engines.text_to_lora.config import load_config, preset_names

    if name in preset_names():
        return load_config(name)
    from ..bridge import folders

    return load_config(folders.resolve(FOLDER, name))


def _request(prompt, config, rank, steps, learning_rate, budget, keep_weight, seed, proposer):
    from ..bridge import folders
    from ..engines.text_to_lora.optimiser import OptimiseConfig
    from ..engines.text_to_lora.pipeline import T2LRequest

    target = _load_config(config).with_rank(rank)
    store = folders.register_folder(FOLDER, {".json", ".safetensors"})
    proposers = {}
    if proposer != NO_PROPOSER:
        proposers = {_proposer_component(folders.resolve(FOLDER, proposer)): str(folders.resolve(FOLDER, proposer))}
    optimiser = OptimiseConfig(steps=steps, learning_rate=learning_rate, budget=budget, keep_weight=keep_weight,
                               seed=seed)
    return T2LRequest(prompt, target, optimiser, store, proposers)


def _proposer_component(path) -> str:
    from ..engines.text_to_lora.proposer import load_proposer

    return load_proposer(path).spec.component


def execute(clip, prompt: str, config: str, rank: int, steps: int, learning_rate: float, budget: float,
            keep_weight: float, strength: float, seed: int, proposer: str, save: bool, name_prefix: str,
            unique_id: str | None = None) -> NodeResult:
    import torch

    from ..bridge import clip_encoders, progress
    from ..engines.common.process_memory import large_blocks_returned
    from ..engines.text_to_lora import output

    request = _request(prompt, config, rank, steps, learning_rate, budget, keep_weight, seed, proposer)
    report_progress = progress.comfy_progress(steps * len(request.config.encoders), unique_id)
    with large_blocks_returned(), torch.inference_mode(False), torch.enable_grad():
        bundles = clip_encoders.encoder_bundles(clip, request.config)
        done = output.text_to_lora(request, bundles, _save_folder(save), name_prefix, report_progress)
    return _outputs(clip, done, strength)


def _save_folder(save: bool):
    from ..bridge import folders
    from ..engines.text_to_lora.output import SUBFOLDER

    return folders.default_lora_dir() / SUBFOLDER if save else None


def _outputs(clip, done, strength: float) -> NodeResult:
    """Register the saved file, apply the LoRA through ComfyUI's loader, and turn the outcome into outputs."""
    import torch

    from ..bridge import lora_apply, lora_index

    if done.path is not None:
        lora_index.register_new_lora(done.path)
    _, new_clip, applied = lora_apply.apply_lora(None, clip, done.kohya_tensors, 0.0, strength)
    image = torch.from_numpy(done.curve).unsqueeze(0)
    summary = json.dumps(done.summary | {"applied": applied.to_dict(max_listed=5)}, default=str)
    text = f"{applied.matched_keys} LoRA keys applied, {len(applied.unmatched_keys)} not loaded\n{done.text}"
    return NodeResult((new_clip, done.path_text, summary, image), ui={"text": [text]}, preview_images=image)
