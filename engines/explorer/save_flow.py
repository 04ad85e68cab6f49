"""LoRA Lab Save Drafts' use case: check the inputs, save each draft's image, record it with its checkpoint and LoRAs.

The node receives every input as a list (it runs once for the whole batch): image ``i`` is draft
``first_index + i``. Everything is checked before the first file is written; saving itself is ComfyUI's
(the ``save`` callable the node passes in), so this module stays free of ComfyUI imports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..store.generations import DraftImage, ImageRef
from .api_prompt import upstream_loras
from .draft_loras import draft_loras


@dataclass(frozen=True)
class SaveRequest:
    images: list
    batch_id: list
    checkpoint_name: list
    first_index: list
    filename_prefix: list
    lora_stack: list | None = None
    prompt: object = None
    unique_id: object = None


@dataclass(frozen=True)
class SaveOutcome:
    saved: list[dict]
    text: str


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


def save_drafts(explorer, request: SaveRequest, save: Callable[[object, str], Sequence[dict]]) -> SaveOutcome:
    """Save and record the drafts; ``save(image, prefix)`` writes one image and returns its ``/view`` refs."""
    batch, start = _one(request.batch_id, "batch_id"), _one(request.first_index, "first_index")
    prefix = _one(request.filename_prefix, "filename_prefix")
    if not batch:
        raise ValueError("batch_id is empty: connect Checkpoint Explorer's batch_id output "
                         "(or queue with lora-lab queue)")
    images = list(request.images)
    _one_image_each(images)
    names = _checkpoints_for(list(request.checkpoint_name), images)
    explorer.require_batch(batch)
    prompt, node = request.prompt, request.unique_id
    upstream = upstream_loras(prompt, str(node)) if prompt and node is not None else ()
    loras_per_draft = draft_loras(upstream, request.lora_stack, len(images))
    saved, drafts = [], []
    for tensor, name, loras in zip(images, names, loras_per_draft):
        for ref in save(tensor, prefix):
            drafts.append(DraftImage(start + len(drafts), name, ImageRef(**ref), loras))
            saved.append(ref)
    explorer.record_images(batch, drafts)
    used = {lora.name: lora for loras in loras_per_draft for lora in loras}.values()
    lora_text = ", ".join(f"{lora.name} {lora.strength:g}" for lora in used) or "none"
    return SaveOutcome(saved, f"batch {batch}: drafts {start}-{start + len(drafts) - 1} recorded (LoRAs: {lora_text})")
