"""Reference material generated from the node specs: ``docs/NODES.md``, ``locales/en/nodeDefs.json``, and the
``/object_info`` shape of our nodes (for checking workflows offline).

``lora-lab docs`` rewrites the files; a test fails when they are out of date, so the docs always
describe the inputs the code declares.
"""

from __future__ import annotations

import json

from .spec import NodeSpec


def object_info(spec: NodeSpec, dynamic_options: bool = False) -> dict:
    """The V1 ``/object_info`` entry ComfyUI would serve for this spec (combo options optional)."""
    sections: dict[str, dict] = {"required": {}, "optional": {}}
    for item in spec.inputs:
        opts = {"tooltip": item.tooltip}
        for key in ("default", "min", "max", "step"):
            if getattr(item, key) is not None:
                opts[key] = getattr(item, key)
        if item.multiline:
            opts["multiline"] = True
        if item.control_after_generate:
            opts["control_after_generate"] = True
        kind = item.type
        if kind == "COMBO":
            opts["options"] = item.choices() if (dynamic_options or not callable(item.options)) else []
        sections["optional" if item.optional else "required"][item.name] = [kind, opts]
    return {
        "input": sections,
        "input_order": {key: list(value) for key, value in sections.items()},
        "output": [o.type for o in spec.outputs],
        "output_name": [o.name for o in spec.outputs],
        "output_is_list": [o.is_list for o in spec.outputs],
        "name": spec.node_id, "display_name": spec.display_name, "category": spec.category,
        "description": spec.description, "output_node": spec.output_node,
    }


def _describe_input(item) -> str:
    parts = [item.type.lower() if item.is_widget else f"`{item.type}`"]
    if item.default is not None:
        parts.append(f"default {json.dumps(item.default)}")
    if item.min is not None or item.max is not None:
        parts.append(f"range {item.min} to {item.max}")
    if item.type == "COMBO" and not callable(item.options):
        parts.append("one of " + ", ".join(f"`{o}`" for o in item.choices()))
    if item.optional:
        parts.append("optional")
    return "; ".join(parts)


def nodes_markdown(specs: list[NodeSpec]) -> str:
    lines = ["# LoRA Lab nodes", "", "Generated from the node specs by `lora-lab docs`; do not edit by hand.", ""]
    for spec in specs:
        lines += [f"- [{spec.display_name}](#{spec.node_id.lower()}) (`{spec.node_id}`)"]
    for spec in specs:
        lines += ["", f"## {spec.node_id}", "", f"**{spec.display_name}** (category *{spec.category}*)", "",
                  spec.description, "", "| input | type | what it does |", "| --- | --- | --- |"]
        lines += [f"| `{i.name}` | {_describe_input(i)} | {i.tooltip} |" for i in spec.inputs]
        lines += ["", "| output | type | what it is |", "| --- | --- | --- |"]
        lines += [f"| `{o.name}` | `{o.type}`{' (list)' if o.is_list else ''} | {o.tooltip} |" for o in spec.outputs]
    return "\n".join(lines) + "\n"


def node_defs(specs: list[NodeSpec]) -> dict:
    """The frontend's i18n ``nodeDefs.json`` shape: display names, descriptions, input/output tooltips."""
    return {
        spec.node_id: {
            "display_name": spec.display_name,
            "description": spec.description,
            "inputs": {i.name: {"name": i.display_name or i.name, "tooltip": i.tooltip} for i in spec.inputs},
            "outputs": {str(n): {"name": o.name, "tooltip": o.tooltip} for n, o in enumerate(spec.outputs)},
        }
        for spec in specs
    }
