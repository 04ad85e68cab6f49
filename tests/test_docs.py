"""The generated node reference and locale file match the node specs."""

from comfyui_lora_lab.cli import docs_cmd


def test_generated_docs_are_up_to_date():
    stale = [str(path) for path, text in docs_cmd.generated().items() if not path.exists() or path.read_text() != text]
    assert stale == [], "run `lora-lab docs` and commit the result"


def test_every_node_input_has_a_tooltip():
    from comfyui_lora_lab.nodes import NODE_MODULES

    for module in NODE_MODULES:
        spec = module.SPEC
        assert spec.description
        assert all(item.tooltip for item in spec.inputs + spec.outputs), spec.node_id
