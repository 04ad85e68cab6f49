"""API-format prompts (what ComfyUI's ``/prompt`` takes) as data: find nodes, build one prompt per draft.

``lora-lab queue`` turns one template (a txt2img workflow exported with "Save (API)") into a prompt per
draft: the planned checkpoint in the checkpoint loader, the user's text in the positive prompt, the draft's
seed in the sampler, an optional chain of ``LoraLoader`` nodes after the checkpoint loader, and a
``LoRALabSaveDrafts`` node in place of ``SaveImage`` so ComfyUI records each image against its draft.
:func:`upstream_loras` reads back which LoRAs a graph applies before a node (the save node uses it).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

from ..store.generations import DraftPlan, LoraUse

SAVE_DRAFTS = "LoRALabSaveDrafts"
SAVE_NODES = ("SaveImage", SAVE_DRAFTS)
SEED_INPUTS = ("seed", "noise_seed")
MODEL_OUTPUT, CLIP_OUTPUT = 0, 1


class TemplateError(ValueError):
    """The template cannot be used; the message names the node and what was expected."""


def _is_link(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def check_template(prompt: object) -> dict:
    """The template as ``{node_id: {"class_type", "inputs"}}``; refuses the UI (saved) format with a hint."""
    if isinstance(prompt, Mapping) and "nodes" in prompt and "links" in prompt:
        raise TemplateError("this is a UI-format workflow; export it with 'Save (API)' (API format) instead")
    if not isinstance(prompt, Mapping) or not prompt:
        raise TemplateError("the template must be a JSON object of nodes (ComfyUI API format)")
    for node_id, node in prompt.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str) \
                or not isinstance(node.get("inputs"), Mapping):
            raise TemplateError(f"node {node_id!r}: expected {{\"class_type\": ..., \"inputs\": {{...}}}}")
    return dict(prompt)


def _single(prompt: Mapping, found: list[str], what: str) -> str:
    if len(found) != 1:
        listed = ", ".join(f"{i} ({prompt[i]['class_type']})" for i in found) or "none"
        raise TemplateError(f"the template needs exactly one {what}; found {listed}")
    return found[0]


def checkpoint_loader(prompt: Mapping) -> str:
    return _single(prompt, [i for i, n in prompt.items() if isinstance(n["inputs"].get("ckpt_name"), str)],
                   "checkpoint loader (a node with a 'ckpt_name' value)")


def positive_text_node(prompt: Mapping) -> str:
    """The text node feeding the samplers' ``positive`` input."""
    found = []
    for node in prompt.values():
        link = node["inputs"].get("positive")
        if _is_link(link) and link[0] in prompt and isinstance(prompt[link[0]]["inputs"].get("text"), str):
            found.append(link[0])
    return _single(prompt, sorted(set(found)), "positive prompt text node (linked to a sampler's 'positive')")


def save_node(prompt: Mapping) -> str:
    return _single(prompt, [i for i, n in prompt.items() if n["class_type"] in SAVE_NODES],
                   f"image save node ({' or '.join(SAVE_NODES)})")


def insert_lora_chain(prompt: dict, loader: str, loras: Sequence[LoraUse]) -> dict:
    """LoraLoader nodes after ``loader`` (in order); every consumer of its MODEL/CLIP now reads the chain."""
    if not loras:
        return prompt
    ids = [f"lora_lab_lora_{i}" for i in range(len(loras))]
    taken = set(ids) & set(prompt)
    if taken:
        raise TemplateError(f"the template already has node id(s) {sorted(taken)}")
    last = ids[-1]
    for node in prompt.values():
        for key, value in node["inputs"].items():
            if _is_link(value) and value[0] == loader and value[1] in (MODEL_OUTPUT, CLIP_OUTPUT):
                node["inputs"][key] = [last, value[1]]
    source = loader
    for node_id, lora in zip(ids, loras):
        prompt[node_id] = {"class_type": "LoraLoader", "_meta": {"title": f"LoRA {lora.name}"}, "inputs": {
            "model": [source, MODEL_OUTPUT], "clip": [source, CLIP_OUTPUT], "lora_name": lora.name,
            "strength_model": float(lora.strength), "strength_clip": float(lora.strength)}}
        source = node_id
    return prompt


def draft_prompt(template: Mapping, batch_id: str, draft: DraftPlan, text: str | None,
                 loras: Sequence[LoraUse] = (), filename_prefix: str = "lora_lab/draft") -> dict:
    """The template as it should run for one draft of a batch."""
    prompt = copy.deepcopy(dict(template))
    loader = checkpoint_loader(prompt)
    prompt[loader]["inputs"]["ckpt_name"] = draft.checkpoint
    if text is not None:
        prompt[positive_text_node(prompt)]["inputs"]["text"] = text
    for node in prompt.values():
        for key in SEED_INPUTS:
            if isinstance(node["inputs"].get(key), int):
                node["inputs"][key] = draft.seed
    save = save_node(prompt)
    images = prompt[save]["inputs"].get("images")
    if not _is_link(images):
        raise TemplateError(f"node {save} ({prompt[save]['class_type']}): 'images' must be linked")
    prompt[save] = {"class_type": SAVE_DRAFTS, "_meta": {"title": "Save Drafts"}, "inputs": {
        "images": images, "batch_id": batch_id, "checkpoint_name": draft.checkpoint,
        "first_index": draft.index, "filename_prefix": filename_prefix}}
    return insert_lora_chain(prompt, loader, loras)


def upstream_loras(prompt: Mapping, node_id: str) -> tuple[LoraUse, ...]:
    """LoRAs applied upstream of ``node_id``: nodes with a ``lora_name`` and a numeric ``strength_model``
    (LoraLoader, LoraLoaderModelOnly, LoRA Inspect, ...), nearest the checkpoint first."""
    seen, order, frontier = {node_id}, [], [node_id]
    while frontier:
        current = frontier.pop(0)
        for value in prompt.get(current, {}).get("inputs", {}).values():
            if _is_link(value) and value[0] in prompt and value[0] not in seen:
                seen.add(value[0])
                order.append(value[0])
                frontier.append(value[0])
    found = []
    for upstream in reversed(order):
        inputs = prompt[upstream].get("inputs", {})
        name, strength = inputs.get("lora_name"), inputs.get("strength_model")
        if isinstance(name, str) and isinstance(strength, (int, float)) and not isinstance(strength, bool):
            found.append(LoraUse(name, float(strength)))
    return tuple(found)
