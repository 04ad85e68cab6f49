"""Node declarations as plain data.

Each node module declares a :class:`NodeSpec` and an ``execute`` function. The bridge turns the spec into
a ComfyUI V3 ``io.Schema`` (``bridge/v3.py``); because the spec itself needs no ComfyUI, tests can check
example workflows against it, and ``docs/NODES.md`` and ``locales/en/nodeDefs.json`` are generated
from it, outside ComfyUI.

Node ids, input names and their order are public API (saved workflows store widget values by
position): add inputs at the end, never rename.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

CATEGORY = "LoRA Lab"
MAX_SEED = 0xFFFFFFFFFFFFFFFF  # ComfyUI's own seed widgets go up to 2**64 - 1
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})


@dataclass(frozen=True)
class Input:
    """One input. Widget types (INT/FLOAT/STRING/BOOLEAN/COMBO) have a default; others are sockets."""

    name: str
    type: str
    tooltip: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: Sequence[str] | Callable[[], Sequence[str]] | None = None
    multiline: bool = False
    optional: bool = False
    control_after_generate: bool = False
    display_name: str | None = None

    @property
    def is_widget(self) -> bool:
        return self.type in WIDGET_TYPES

    def choices(self) -> list[str]:
        """Current combo options (a callable is asked each time, e.g. a model-folder listing)."""
        options = self.options() if callable(self.options) else self.options
        return list(options or [])


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    tooltip: str
    is_list: bool = False


@dataclass(frozen=True)
class NodeSpec:
    node_id: str
    display_name: str
    description: str
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    category: str = CATEGORY
    output_node: bool = False
    hidden: tuple[str, ...] = ()  # unique_id, prompt, extra_pnginfo
    not_idempotent: bool = False
    experimental: bool = False
    input_is_list: bool = False  # execute once with every input as a list (e.g. all drafts of a batch)

    def widget_inputs(self) -> list[Input]:
        return [item for item in self.inputs if item.is_widget]


@dataclass
class NodeResult:
    """What an ``execute`` function returns: outputs in spec order, plus UI payloads for the frontend.

    ``ui`` is ComfyUI's plain UI dict (``{"text": [...]}``); ``preview_images`` is an IMAGE tensor the
    bridge saves as temp previews.
    """

    outputs: tuple
    ui: dict[str, list] = field(default_factory=dict)
    preview_images: Any = None


def widget_defaults(spec: NodeSpec) -> dict[str, Any]:
    return {item.name: item.default for item in spec.widget_inputs()}


def check_widget_value(item: Input, value: Any, dynamic_ok: bool = True) -> str | None:
    """Why ``value`` is not valid for widget ``item`` (None when valid). Mirrors ComfyUI's own checks."""
    if item.type == "INT":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"'{item.name}' must be an integer, got {value!r}"
    elif item.type == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"'{item.name}' must be a number, got {value!r}"
    elif item.type == "BOOLEAN":
        if not isinstance(value, bool):
            return f"'{item.name}' must be true or false, got {value!r}"
    elif item.type == "STRING":
        if not isinstance(value, str):
            return f"'{item.name}' must be text, got {value!r}"
    elif item.type == "COMBO":
        if callable(item.options):
            return None if dynamic_ok and isinstance(value, str) else f"'{item.name}' must be a name, got {value!r}"
        if value not in item.choices():
            return f"'{item.name}' must be one of {item.choices()}, got {value!r}"
    if item.type in ("INT", "FLOAT"):
        if item.min is not None and value < item.min:
            return f"'{item.name}' must be at least {item.min}, got {value}"
        if item.max is not None and value > item.max:
            return f"'{item.name}' must be at most {item.max}, got {value}"
    return None


ExecuteFn = Callable[..., NodeResult]
