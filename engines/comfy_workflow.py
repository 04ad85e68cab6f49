"""ComfyUI workflow JSON, as data: UI (saved) format -> API (``/prompt``) format.

The frontend saves workflows in the UI format (nodes with positional ``widgets_values`` and a links
table); ``/prompt`` takes the API format (``{id: {class_type, inputs}}``). Converting needs each node's
input order and types, which ``/object_info`` gives. Used by the example-workflow tests and by clients
that queue saved workflows.
"""

from __future__ import annotations

from collections.abc import Mapping

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
SEED_NAMES = frozenset({"seed", "noise_seed"})
MUTED, BYPASSED = 2, 4


class WorkflowError(ValueError):
    """The workflow cannot be converted (unknown node type, missing widget value, bypassed node)."""


def _ordered_inputs(info: Mapping) -> list[tuple[str, object, dict]]:
    spec, order = info.get("input", {}), info.get("input_order", {})
    out = []
    for section in ("required", "optional"):
        entries = spec.get(section, {})
        for name in order.get(section, list(entries)):
            definition = entries[name]
            kind = definition[0]
            opts = definition[1] if len(definition) > 1 and isinstance(definition[1], dict) else {}
            out.append((name, kind, opts))
    return out


def is_widget(kind: object) -> bool:
    """V1 combos are lists of choices; V3 combos are the string "COMBO"."""
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _has_control_value(name: str, kind: object, opts: Mapping) -> bool:
    return kind == "INT" and (bool(opts.get("control_after_generate")) or name in SEED_NAMES)


def ui_to_api(workflow: Mapping, object_info: Mapping) -> dict[str, dict]:
    """Convert a UI-format workflow; links become ``[source id, output index]``."""
    links = {link[0]: link for link in workflow.get("links", [])}
    prompt: dict[str, dict] = {}
    for node in workflow.get("nodes", []):
        node_type = node.get("type")
        if node.get("mode", 0) == MUTED or node_type in ("Note", "MarkdownNote", "Reroute"):
            continue
        if node.get("mode", 0) == BYPASSED:
            raise WorkflowError(f"node {node['id']} ({node_type}) is bypassed; un-bypass or remove it")
        if node_type not in object_info:
            raise WorkflowError(f"node {node['id']}: unknown node type '{node_type}' (is its pack installed?)")
        prompt[str(node["id"])] = {"class_type": node_type, "inputs": _node_inputs(node, object_info[node_type], links),
                                   "_meta": {"title": node.get("title", node_type)}}
    return prompt


def _node_inputs(node: Mapping, info: Mapping, links: Mapping) -> dict:
    linked = {}
    for slot in node.get("inputs", []) or []:
        if slot.get("link") is not None:
            link = links[slot["link"]]
            linked[slot.get("widget", {}).get("name", slot["name"])] = [str(link[1]), link[2]]
    values = list(node.get("widgets_values", []) or [])
    inputs, position = {}, 0
    for name, kind, opts in _ordered_inputs(info):
        if is_widget(kind) and not opts.get("forceInput"):
            if position >= len(values):
                if name in linked:
                    inputs[name] = linked[name]
                    continue
                raise WorkflowError(f"node {node['id']} ({node['type']}): no widget value for '{name}'")
            if name not in linked:
                inputs[name] = values[position]
            position += 2 if _has_control_value(name, kind, opts) else 1
        if name in linked:
            inputs[name] = linked[name]
    return inputs
