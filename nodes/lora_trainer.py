"""LoRA Trainer: train a LoRA on the selected checkpoint from an image + caption folder, save it into the
loras folder (listed by Load LoRA at once), and return it applied to the model, with its loss plot and
step-0 / final samples.
"""

from __future__ import annotations

import logging

from .spec import Input, NodeResult, NodeSpec, Output

ENGINES = ("auto", "inprocess", "kohya", "mflux")


def _checkpoint_choices() -> list[str]:
    from ..bridge import folders

    return [name for name in folders.list_files("checkpoints") if name.lower().endswith((".safetensors", ".sft"))]


SPEC = NodeSpec(
    node_id="LoRALabTrainer",
    display_name="LoRA Trainer",
    description="Train a LoRA from a folder of images with same-name .txt captions (kohya N_name folders and "
                "metadata.jsonl work too) on the selected checkpoint. The dataset is checked completely before "
                "any model loads; the LoRA is saved to the loras folder with full metadata; a resumable state is "
                "kept (also when you interrupt).",
    inputs=(
        Input("ckpt_name", "COMBO", "The checkpoint to train on (SD1.5 or SDXL for the in-process engine).",
              options=_checkpoint_choices),
        Input("dataset_dir", "STRING", "Folder of images + .txt captions: absolute, or relative to ComfyUI's "
                                       "input folder.", default="lora_dataset"),
        Input("lora_name", "STRING", "Name of the new LoRA: saved as loras/<name>.safetensors.", default="my_lora"),
        Input("trigger_word", "STRING", "Word that calls the LoRA; [trigger] in captions is replaced by it and "
                                        "captions without it get it prepended.", default=""),
        Input("rank", "INT", "LoRA rank: capacity of the adapter (4-32 typical).", default=16, min=1, max=256),
        Input("epochs", "INT", "Passes over the dataset (each image times its folder's repeats).", default=10,
              min=1, max=10000),
        Input("learning_rate", "FLOAT", "Optimizer learning rate.", default=1e-4, min=1e-7, max=1.0, step=1e-5),
        Input("batch_size", "INT", "Images per step.", default=1, min=1, max=64),
        Input("resolution", "INT", "Training resolution in pixels (aspect buckets of this area).", default=512,
              min=64, max=2048, step=64),
        Input("engine", "COMBO", "auto picks an available engine for the model (in-process PyTorch, kohya "
                                 "sd-scripts, mflux on Apple Silicon).", default="auto", options=ENGINES),
        Input("resume", "BOOLEAN", "Continue this LoRA's run from its newest saved state.", default=False),
        Input("overwrite", "BOOLEAN", "Replace an existing LoRA file of the same name.", default=False),
        Input("sample_steps", "INT", "Denoising steps of the step-0 and final sample images (0: no samples).",
              default=20, min=0, max=200),
        Input("model", "MODEL", "Optional: the selected checkpoint's MODEL to apply the new LoRA to (saves loading "
                                "the checkpoint a second time).", optional=True),
        Input("clip", "CLIP", "Optional: the selected checkpoint's CLIP to apply the new LoRA to.", optional=True),
    ),
    outputs=(
        Output("lora_name", "STRING", "The new LoRA's name as Load LoRA lists it."),
        Output("loss_plot", "IMAGE", "Loss per step (the log survives restarts and resumes)."),
        Output("samples", "IMAGE", "Sample images: the step-0 baseline, then the final LoRA (same seed)."),
        Output("MODEL", "MODEL", "The checkpoint's model with the new LoRA applied."),
        Output("CLIP", "CLIP", "The checkpoint's text encoder with the new LoRA applied."),
    ),
    hidden=("unique_id",),
    output_node=True,
)


def validate_inputs(lora_name: str = "", engine: str = "auto", dataset_dir: str = "") -> bool | str:
    """Queue-time checks that need no model: a usable name and a known engine."""
    from ..engines.training.job import JobError, clean_name

    try:
        clean_name(lora_name)
    except JobError as exc:
        return str(exc)
    if engine not in ENGINES:
        return f"engine must be one of {', '.join(ENGINES)}, got {engine!r}"
    if not dataset_dir.strip():
        return "dataset_dir is empty: give the folder of training images"
    return True


def _progress(node_id):
    """A Progress that creates ComfyUI's bar on the first report (the step count is known only then)."""
    from ..bridge.progress import comfy_progress

    state = {}

    def report(done: int, total: int, message: str = "") -> None:
        if "bar" not in state:
            state["bar"] = comfy_progress(total, node_id)
        state["bar"](done, total, message)

    return report


def execute(ckpt_name: str, dataset_dir: str, lora_name: str, trigger_word: str, rank: int, epochs: int,
            learning_rate: float, batch_size: int, resolution: int, engine: str, resume: bool, overwrite: bool,
            sample_steps: int = 20, model=None, clip=None, unique_id=None) -> NodeResult:
    from ..bridge import training
    from ..engines.training.usecase import TrainRequest

    settings = dict(rank=rank, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                    resolution=resolution, trigger_word=trigger_word.strip(), sample_steps=sample_steps)
    request = TrainRequest(training.dataset_path(dataset_dir), training.checkpoint_path(ckpt_name), lora_name,
                           training.lora_output_dir(), training.run_root(), settings, engine=engine,
                           resume=resume, overwrite=overwrite)
    *outputs, text = training.train_in_comfyui(request, _progress(unique_id), ckpt_name, model, clip)
    return NodeResult(tuple(outputs), ui={"text": [text]})
