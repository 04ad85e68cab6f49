"""LoRA Lab Save Drafts: save images like Save Image and record which checkpoint and LoRAs made each draft.

It runs once for the whole batch (every input arrives as a list), so image i of the list becomes draft
``first_index + i`` of the batch (each list item must be a single image). The LoRAs are read from the queued
graph itself (every node upstream of the images with a ``lora_name`` and a ``strength_model``: Load LoRA, LoRA
Inspect, ...) and from the optional ``lora_stack`` input, for stackers that choose their LoRAs at run time.
"""

from __future__ import annotations

from .spec import Input, NodeResult, NodeSpec

SPEC = NodeSpec(
    node_id="LoRALabSaveDrafts",
    display_name="LoRA Lab Save Drafts",
    description="Save the drafts of a Checkpoint Explorer batch to the output folder (like Save Image) and record "
                "which checkpoint and LoRAs made each one, so picks in the LoRA Lab panel teach the explorer.",
    inputs=(
        Input("images", "IMAGE", "The decoded drafts, one list item (or batch row) per draft."),
        Input("batch_id", "STRING", "The batch the drafts belong to: connect Checkpoint Explorer's batch_id "
                                    "(lora-lab queue fills it in).", default=""),
        Input("checkpoint_name", "STRING", "The checkpoint of each draft: connect Checkpoint Explorer's "
                                           "checkpoint_name.", default=""),
        Input("first_index", "INT", "Draft index of the first image (0 when wired from Checkpoint Explorer; "
                                    "lora-lab queue sets it).", default=0, min=0, max=10_000, step=1),
        Input("filename_prefix", "STRING", "Prefix of the saved files, as in Save Image (may contain a subfolder).",
              default="lora_lab/draft"),
        Input("lora_stack", "LORA_STACK", "Optional: the LORA_STACK of a stacker that picks LoRAs at run time (Brand "
                                          "LoRA Stack, Auto LoRA Discover), so its LoRAs are recorded too; one stack "
                                          "for all drafts or one per draft.", optional=True),
    ),
    outputs=(),
    output_node=True,
    hidden=("prompt", "extra_pnginfo", "unique_id"),
    input_is_list=True,
)


def _one(values: list, name: str):
    if len(values) != 1:
        raise ValueError(f"'{name}' must be a single value, got a list of {len(values)}")
    return values[0]


def _one_image_each(images: list) -> None:
    """Each list item must be one image: item i is draft ``first_index + i`` (and its planned checkpoint)."""
    sizes = [int(image.shape[0]) for image in images]
    if any(size != 1 for size in sizes):
        raise ValueError(f"every draft must be one image, got image batches of sizes {sizes}; set the empty "
                         "latent's batch_size to 1 and Checkpoint Explorer's count to the number of drafts")


def _checkpoints_for(names: list[str], images: list) -> list[str]:
    if len(names) not in (1, len(images)):
        raise ValueError(f"got {len(images)} image list item(s) but {len(names)} checkpoint names; connect "
                         "checkpoint_name from the same Checkpoint Explorer as the images")
    if not all(isinstance(n, str) and n for n in names):
        raise ValueError("checkpoint_name is empty: connect Checkpoint Explorer's checkpoint_name output")
    return names if len(names) == len(images) else names * len(images)


def execute(images: list, batch_id: list, checkpoint_name: list, first_index: list, filename_prefix: list,
            lora_stack: list | None = None, prompt=None, extra_pnginfo=None, unique_id=None) -> NodeResult:
    from ..bridge import images as image_files
    from ..bridge.services import shared_lab
    from ..engines.explorer.api_prompt import upstream_loras
    from ..engines.explorer.draft_loras import draft_loras
    from ..engines.store.generations import DraftImage, ImageRef

    batch, start, prefix = _one(batch_id, "batch_id"), _one(first_index, "first_index"), _one(filename_prefix,
                                                                                              "filename_prefix")
    if not batch:
        raise ValueError("batch_id is empty: connect Checkpoint Explorer's batch_id output "
                         "(or queue with lora-lab queue)")
    _one_image_each(list(images))
    names = _checkpoints_for(list(checkpoint_name), list(images))
    explorer = shared_lab().explorer
    explorer.require_batch(batch)
    upstream = upstream_loras(prompt, str(unique_id)) if prompt and unique_id is not None else ()
    loras_per_draft = draft_loras(upstream, lora_stack, len(images))
    saved, drafts = [], []
    for tensor, name, loras in zip(images, names, loras_per_draft):
        for ref in image_files.save_images(tensor, prefix, prompt, extra_pnginfo):
            drafts.append(DraftImage(start + len(drafts), name, ImageRef(**ref), loras))
            saved.append(ref)
    explorer.record_images(batch, drafts)
    used = {lora.name: lora for loras in loras_per_draft for lora in loras}.values()
    lora_text = ", ".join(f"{lora.name} {lora.strength:g}" for lora in used) or "none"
    text = f"batch {batch}: drafts {start}-{start + len(drafts) - 1} recorded (LoRAs: {lora_text})"
    return NodeResult((), ui={"images": saved, "text": [text]})
