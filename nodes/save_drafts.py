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


def execute(images: list, batch_id: list, checkpoint_name: list, first_index: list, filename_prefix: list,
            lora_stack: list | None = None, prompt=None, extra_pnginfo=None, unique_id=None) -> NodeResult:
    from ..bridge import images as image_files
    from ..bridge.services import shared_lab
    from ..engines.explorer.save_flow import SaveRequest, save_drafts

    request = SaveRequest(images, batch_id, checkpoint_name, first_index, filename_prefix, lora_stack, prompt, unique_id)
    outcome = save_drafts(shared_lab().explorer, request,
                          lambda tensor, prefix: image_files.save_images(tensor, prefix, prompt, extra_pnginfo))
    return NodeResult((), ui={"images": outcome.saved, "text": [outcome.text]})
