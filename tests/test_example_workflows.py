"""Every example workflow uses registered node types, valid widget values, and converts to an API prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfyui_lora_lab.engines.comfy_workflow import WorkflowError, ui_to_api
from comfyui_lora_lab.nodes import NODE_MODULES
from comfyui_lora_lab.nodes.docs import object_info
from comfyui_lora_lab.nodes.spec import check_widget_value

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "example_workflows").glob("*.json"))
OUR_SPECS = {module.SPEC.node_id: module.SPEC for module in NODE_MODULES}
# Core node types the examples may use (ComfyUI 0.8); checked against a live /object_info in the comfyui tests.
CORE_NODES = {"CheckpointLoaderSimple", "LoraLoader", "CLIPTextEncode", "EmptyLatentImage", "KSampler",
              "VAEDecode", "SaveImage", "PreviewImage", "LoadImage", "PreviewAny", "Note", "MarkdownNote"}


def test_there_is_an_example_for_every_node():
    used = {node["type"] for path in WORKFLOWS for node in json.loads(path.read_text())["nodes"]}
    assert set(OUR_SPECS) <= used, f"nodes without an example workflow: {set(OUR_SPECS) - used}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_example_workflow_is_consistent(path):
    workflow = json.loads(path.read_text())
    link_ids = {link[0] for link in workflow["links"]}
    for node in workflow["nodes"]:
        assert node["type"] in OUR_SPECS or node["type"] in CORE_NODES, f"{path.name}: unknown type {node['type']}"
        for slot in node.get("inputs", []):
            assert slot["link"] is None or slot["link"] in link_ids
        spec = OUR_SPECS.get(node["type"])
        if spec is None:
            continue
        api = ui_to_api({"nodes": [node], "links": workflow["links"]}, {spec.node_id: object_info(spec)})
        inputs = api[str(node["id"])]["inputs"]
        for item in spec.inputs:
            if item.is_widget and not isinstance(inputs.get(item.name), list):
                assert check_widget_value(item, inputs[item.name]) is None
            elif not item.optional:
                assert item.name in inputs, f"{path.name}: {spec.node_id}.{item.name} is not connected"


def test_conversion_refuses_unknown_nodes():
    with pytest.raises(WorkflowError, match="unknown node type"):
        ui_to_api({"nodes": [{"id": 1, "type": "Nope", "mode": 0}], "links": []}, {})
