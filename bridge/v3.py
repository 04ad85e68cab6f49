"""Turn our node specs (``nodes/spec.py``) into ComfyUI V3 ``io.ComfyNode`` classes.

A node module provides ``SPEC`` and ``execute(**inputs) -> NodeResult``, optionally ``validate_inputs``
and ``fingerprint_inputs``; this module builds the class ComfyUI registers. Keeping the translation in
one place means every node gets the same tooltips, hidden inputs and UI handling.
"""

from __future__ import annotations

import inspect
from types import ModuleType


def _io():
    from comfy_api.latest import io

    return io


def _input(io, item):
    common = {"optional": item.optional, "tooltip": item.tooltip, "display_name": item.display_name}
    kind = item.type
    if kind == "INT":
        return io.Int.Input(item.name, default=item.default, min=item.min, max=item.max, step=item.step,
                            control_after_generate=item.control_after_generate or None, **common)
    if kind == "FLOAT":
        return io.Float.Input(item.name, default=item.default, min=item.min, max=item.max, step=item.step, **common)
    if kind == "STRING":
        return io.String.Input(item.name, default=item.default, multiline=item.multiline, **common)
    if kind == "BOOLEAN":
        return io.Boolean.Input(item.name, default=item.default, **common)
    if kind == "COMBO":
        return io.Combo.Input(item.name, options=item.choices(), default=item.default, **common)
    return _socket_type(io, kind).Input(item.name, **common)


def _socket_type(io, kind: str):
    builtin = {"MODEL": io.Model, "CLIP": io.Clip, "VAE": io.Vae, "IMAGE": io.Image, "LATENT": io.Latent,
               "CONDITIONING": io.Conditioning, "MASK": io.Mask}
    return builtin.get(kind) or io.Custom(kind)


def _output(io, item):
    kinds = {"INT": io.Int, "FLOAT": io.Float, "STRING": io.String, "BOOLEAN": io.Boolean}
    output_type = kinds.get(item.type) or _socket_type(io, item.type)
    return output_type.Output(item.name, display_name=item.name, tooltip=item.tooltip, is_output_list=item.is_list)


def build_schema(spec):
    io = _io()
    return io.Schema(
        node_id=spec.node_id,
        display_name=spec.display_name,
        category=spec.category,
        description=spec.description,
        inputs=[_input(io, item) for item in spec.inputs],
        outputs=[_output(io, item) for item in spec.outputs],
        hidden=[getattr(io.Hidden, name) for name in spec.hidden],
        is_output_node=spec.output_node,
        not_idempotent=spec.not_idempotent,
        is_experimental=spec.experimental,
        is_input_list=spec.input_is_list,
    )


def _node_output(cls, result):
    io = _io()
    ui = dict(result.ui)
    if result.preview_images is not None:
        from comfy_api.latest import ui as ui_module

        ui.update(ui_module.PreviewImage(result.preview_images, cls=cls).as_dict())
    return io.NodeOutput(*result.outputs, ui=ui or None)


def _with_signature_of(function):
    """A ``(cls, <function's own parameters>)`` wrapper for ``validate_inputs``.

    ComfyUI reads the validator's argument names: inputs named there skip its built-in range/combo checks and
    get the validator's message, and a ``**kwargs`` validator would take over (and repeat its message for)
    every input. So the wrapper must expose exactly the node function's parameters.
    """

    def validate(cls, **inputs):
        return function(**inputs)

    cls_parameter = inspect.Parameter("cls", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    validate.__signature__ = inspect.Signature([cls_parameter, *inspect.signature(function).parameters.values()])
    return validate


def build_node(module: ModuleType):
    """The V3 class for a node module (``SPEC`` + ``execute`` [+ ``validate_inputs``, ``fingerprint_inputs``])."""
    io = _io()
    spec = module.SPEC

    def define_schema(cls):
        return build_schema(spec)

    def execute(cls, **inputs):
        hidden = {name: getattr(cls.hidden, name, None) for name in spec.hidden} if cls.hidden else {}
        return _node_output(cls, module.execute(**inputs, **hidden))

    namespace = {"define_schema": classmethod(define_schema), "execute": classmethod(execute),
                 "__doc__": spec.description, "__module__": module.__name__}
    if hasattr(module, "validate_inputs"):
        namespace["validate_inputs"] = classmethod(_with_signature_of(module.validate_inputs))
    if hasattr(module, "fingerprint_inputs"):
        namespace["fingerprint_inputs"] = classmethod(lambda cls, **kw: module.fingerprint_inputs(**kw))
    return type(spec.node_id, (io.ComfyNode,), namespace)
