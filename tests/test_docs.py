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


def test_validators_name_the_inputs_they_check():
    """ComfyUI skips its own checks for inputs a validator names; ``**kwargs`` would mean all of them."""
    import inspect

    from comfyui_lora_lab.nodes import NODE_MODULES

    for module in NODE_MODULES:
        if not hasattr(module, "validate_inputs"):
            continue
        parameters = inspect.signature(module.validate_inputs).parameters.values()
        names = {item.name for item in module.SPEC.inputs}
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters), f"{module.__name__}: no *args/**kwargs"
        assert {p.name for p in parameters} <= names, f"{module.__name__}: validates inputs the spec does not have"
