"""LoRA key layouts as data: detection, parsing into one canonical form, and rendering back out.

Three layouts are in use (see ``docs/LORA_FORMAT.md``):

- ``kohya``: ``lora_unet_<flat>`` / ``lora_te[N]_<flat>`` + ``.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha``.
  What ComfyUI, A1111/Forge and diffusers all load; what we write by default.
- ``peft``: ``unet.`` / ``transformer.`` / ``text_encoder[_N].`` + dotted path + ``.lora_A.weight`` / ``.lora_B.weight``
  (diffusers' ``save_lora_weights``, PEFT's ``get_peft_model_state_dict``). No alpha: the scale is baked into B.
- ``comfy``: ``diffusion_model.`` / ``text_encoders.<enc>.transformer.`` + dotted path + ``lora_down/lora_up/alpha``
  (ComfyUI's own extract and train nodes).

Each layout is a :class:`Layout` row of prefixes and suffixes; adding one is adding a row. Parsing gives
:class:`LoraWeights`: modules keyed by ``ModuleKey(component, path, scheme)``, so any layout converts
to any other through one canonical form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import module_names
from .errors import LayoutError

UNET = "unet"
CLIP_L, CLIP_G, T5XXL = "clip_l", "clip_g", "t5xxl"
TEXT_ENCODERS = (CLIP_L, CLIP_G, T5XXL)
NATIVE, DIFFUSERS = "native", "diffusers"


@dataclass(frozen=True)
class ModuleKey:
    """One adapted module: which model part, its dotted path there, and the naming scheme of that path.

    Text encoders always use the transformers/ComfyUI path (``text_model.encoder.layers.0.self_attn.q_proj``,
    ``encoder.block.0.layer.0.SelfAttention.q``), so their scheme is ``native``. The UNet path is either
    ``native`` (LDM/SGM/BFL, as ComfyUI names it) or ``diffusers``.
    """

    component: str
    path: str
    scheme: str = NATIVE


@dataclass
class LoraModule:
    """The low-rank pair of one module. ``alpha`` None means "no alpha stored" (scale 1.0 in ComfyUI)."""

    down: object  # torch.Tensor (rank x in) or conv (rank x in x k x k)
    up: object  # torch.Tensor (out x rank) or conv
    alpha: float | None = None

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    @property
    def scale(self) -> float:
        return 1.0 if self.alpha is None else self.alpha / self.rank


@dataclass
class LoraWeights:
    """A LoRA in canonical form, plus what did not fit it (other adapter types, unknown keys)."""

    modules: dict[ModuleKey, LoraModule]
    layout: str
    unparsed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Prefix:
    """A key prefix and what it tells us: component (or text-encoder slot) and the path's scheme."""

    text: str
    component: str  # unet, or te0/te1/te2/te3 (kohya/diffusers text-encoder slot), or a concrete encoder
    scheme: str = NATIVE
    flattened: bool = False


@dataclass(frozen=True)
class Layout:
    name: str
    prefixes: tuple[Prefix, ...]
    down: str
    up: str
    alpha: str | None


LAYOUTS: dict[str, Layout] = {
    "kohya": Layout(
        "kohya",
        (Prefix("lora_unet_", UNET, flattened=True), Prefix("lora_te1_", "te1", flattened=True),
         Prefix("lora_te2_", "te2", flattened=True), Prefix("lora_te3_", "te3", flattened=True),
         Prefix("lora_te_", "te1", flattened=True)),
        down=".lora_down.weight", up=".lora_up.weight", alpha=".alpha",
    ),
    "peft": Layout(
        "peft",
        (Prefix("unet.", UNET, DIFFUSERS), Prefix("transformer.", UNET, DIFFUSERS),
         Prefix("text_encoder.", "te1"), Prefix("text_encoder_2.", "te2"), Prefix("text_encoder_3.", "te3")),
        down=".lora_A.weight", up=".lora_B.weight", alpha=None,
    ),
    "comfy": Layout(
        "comfy",
        (Prefix("diffusion_model.", UNET), Prefix("text_encoders.clip_l.transformer.", CLIP_L),
         Prefix("text_encoders.clip_g.transformer.", CLIP_G), Prefix("text_encoders.t5xxl.transformer.", T5XXL)),
        down=".lora_down.weight", up=".lora_up.weight", alpha=".alpha",
    ),
}

OTHER_ADAPTER_MARKERS = {"hada_w1_a": "loha", "lokr_w1": "lokr", "oft_blocks": "oft", ".dora_scale": "dora"}

# kohya/diffusers number text encoders by slot; which encoder sits in a slot depends on the model.
# A T5 path is recognisable on its own; a CLIP path in slot 2 is clip_g (SDXL, SD3).
_SLOT_TO_CLIP = {"te1": CLIP_L, "te2": CLIP_G, "te3": CLIP_G}
_KOHYA_TE_SLOT = {  # family -> encoder -> kohya prefix
    "sd15": {CLIP_L: "lora_te_"},
    "sdxl": {CLIP_L: "lora_te1_", CLIP_G: "lora_te2_"},
    "sd3": {CLIP_L: "lora_te1_", CLIP_G: "lora_te2_", T5XXL: "lora_te3_"},
    "flux": {CLIP_L: "lora_te1_", T5XXL: "lora_te2_"},
}
_PEFT_TE_SLOT = {
    "sd15": {CLIP_L: "text_encoder."},
    "sdxl": {CLIP_L: "text_encoder.", CLIP_G: "text_encoder_2."},
    "sd3": {CLIP_L: "text_encoder.", CLIP_G: "text_encoder_2.", T5XXL: "text_encoder_3."},
    "flux": {CLIP_L: "text_encoder.", T5XXL: "text_encoder_2."},
}


def _split_key(key: str, layout: Layout) -> tuple[Prefix, str, str] | None:
    """(prefix, module path as written, role) for a key of this layout; role is down/up/alpha."""
    roles = [("down", layout.down), ("up", layout.up)] + ([("alpha", layout.alpha)] if layout.alpha else [])
    for role, suffix in roles:
        if key.endswith(suffix):
            stem = key[: -len(suffix)]
            for prefix in layout.prefixes:
                if stem.startswith(prefix.text):
                    return prefix, stem[len(prefix.text):], role
    return None


def detect_layout(keys: list[str] | Mapping[str, object]) -> str:
    """The layout most keys follow. Raises LayoutError when none fits or other adapter types dominate."""
    keys = list(keys)
    counts = Counter({name: sum(1 for k in keys if _split_key(k, layout)) for name, layout in LAYOUTS.items()})
    best, hits = counts.most_common(1)[0] if counts else ("", 0)
    if hits == 0:
        kind = adapter_kind(keys)
        detail = f"it looks like a {kind} adapter, which is not a plain LoRA" if kind != "lora" else (
            f"first keys: {', '.join(keys[:3]) or '(none)'}")
        raise LayoutError(f"no known LoRA key layout (kohya, peft, comfy): {detail}")
    return best


def adapter_kind(keys: list[str]) -> str:
    """lora, or the other adapter type (loha, lokr, oft, dora) whose keys are present."""
    for marker, kind in OTHER_ADAPTER_MARKERS.items():
        if any(marker in key for key in keys):
            return kind
    return "lora"


def _resolve_component(prefix: Prefix, path: str) -> str:
    if prefix.component == UNET or prefix.component in TEXT_ENCODERS:
        return prefix.component
    if path.startswith("encoder.block.") or path.startswith("shared"):
        return T5XXL
    return _SLOT_TO_CLIP[prefix.component]


def module_key(prefix: Prefix, written_path: str) -> ModuleKey:
    """Canonical key for a module path as written under a prefix."""
    path = module_names.unflatten(written_path) if prefix.flattened else written_path
    component = _resolve_component(prefix, path)
    scheme = prefix.scheme
    if component == UNET and prefix.flattened:
        scheme = DIFFUSERS if module_names.is_diffusers_unet_path(path) else NATIVE
    return ModuleKey(component, path, scheme)


def parse_keys(keys: list[str], layout: str | None = None) -> tuple[str, dict[str, tuple[ModuleKey, str]], list[str]]:
    """Map every key to (module, role) without touching tensors: works on a header's key list."""
    layout = layout or detect_layout(keys)
    spec = LAYOUTS[layout]
    parsed: dict[str, tuple[ModuleKey, str]] = {}
    unparsed: list[str] = []
    for key in keys:
        split = _split_key(key, spec)
        if split is None:
            unparsed.append(key)
            continue
        prefix, written, role = split
        parsed[key] = (module_key(prefix, written), role)
    return layout, parsed, unparsed


def parse_lora(tensors: Mapping[str, object], layout: str | None = None) -> LoraWeights:
    """Tensors of any known layout -> :class:`LoraWeights`. Modules missing their down or up are errors."""
    layout, parsed, unparsed = parse_keys(list(tensors), layout)
    parts: dict[ModuleKey, dict[str, object]] = {}
    for key, (module, role) in parsed.items():
        parts.setdefault(module, {})[role] = tensors[key]
    modules: dict[ModuleKey, LoraModule] = {}
    for module, found in parts.items():
        if "down" not in found or "up" not in found:
            missing = "down" if "down" not in found else "up"
            raise LayoutError(f"module {module.component}:{module.path} has no '{missing}' weight")
        alpha = found.get("alpha")
        modules[module] = LoraModule(found["down"], found["up"], None if alpha is None else float(alpha))
    return LoraWeights(modules, layout, unparsed)


def _unet_path(module: ModuleKey, scheme: str, family: str) -> str:
    if module.scheme == scheme:
        return module.path
    convert = module_names.native_to_diffusers if scheme == DIFFUSERS else module_names.diffusers_to_native
    converted = convert(module.path, family)
    if converted is None:
        raise LayoutError(
            f"cannot rename UNet module '{module.path}' from {module.scheme} to {scheme} naming for family "
            f"'{family}' (supported: {', '.join(module_names.UNET_BLOCKS)})"
        )
    return converted


def _kohya_stem(module: ModuleKey, family: str) -> str:
    if module.component == UNET:
        return "lora_unet_" + module_names.flatten(module.path)
    slots = _KOHYA_TE_SLOT.get(family) or _KOHYA_TE_SLOT["sdxl"]
    if module.component not in slots:
        raise LayoutError(f"family '{family}' has no text encoder '{module.component}' in kohya naming")
    return slots[module.component] + module_names.flatten(module.path)


def _peft_stem(module: ModuleKey, family: str) -> str:
    if module.component == UNET:
        root = "transformer." if family in ("sd3", "flux") else "unet."
        return root + _unet_path(module, DIFFUSERS, family)
    slots = _PEFT_TE_SLOT.get(family) or _PEFT_TE_SLOT["sdxl"]
    if module.component not in slots:
        raise LayoutError(f"family '{family}' has no text encoder '{module.component}' in diffusers naming")
    return slots[module.component] + module.path


def _comfy_stem(module: ModuleKey, family: str) -> str:
    if module.component == UNET:
        return "diffusion_model." + _unet_path(module, NATIVE, family)
    return f"text_encoders.{module.component}.transformer.{module.path}"


_STEMS = {"kohya": _kohya_stem, "peft": _peft_stem, "comfy": _comfy_stem}


def render(weights: LoraWeights, layout: str, family: str) -> dict[str, object]:
    """Canonical LoRA -> tensors in ``layout``. kohya and comfy always get an ``alpha``; PEFT bakes the scale into B."""
    if layout not in LAYOUTS:
        raise LayoutError(f"unknown layout '{layout}', expected one of {', '.join(LAYOUTS)}")
    import torch

    spec = LAYOUTS[layout]
    out: dict[str, object] = {}
    for module, lora in weights.modules.items():
        stem = _STEMS[layout](module, family)
        if spec.alpha is None:
            out[stem + spec.down] = lora.down
            out[stem + spec.up] = lora.up * lora.scale if lora.scale != 1.0 else lora.up
            continue
        alpha = float(lora.rank) if lora.alpha is None else lora.alpha
        out[stem + spec.down] = lora.down
        out[stem + spec.up] = lora.up
        out[stem + spec.alpha] = torch.tensor(alpha, dtype=torch.float32)
    return out
