"""The Auto LoRA Discover node's use case: follow the panel's switch, discover, and in a draft batch give each
checkpoint group its own combination (see :mod:`.draft_flow`).

Off (by the node's ``auto_lora`` input or, in ``follow panel``, by the panel's switch) passes the prompt
through with no LoRA and says so. With a ``draft`` from Checkpoint Explorer the node runs once per draft
and returns that draft's group's combination; without one it returns discovery's variations as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace

from ..store.generations import LoraUse
from .draft_flow import loras_for_draft

MODES = ("follow panel", "on", "off")


@dataclass(frozen=True)
class AutoLoraRequest:
    prompt: str
    options: object  # discovery's DiscoverOptions
    mode: str = "follow panel"
    draft: Mapping | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"auto_lora must be one of {list(MODES)}, got {self.mode!r}")
        draft = self.draft
        if draft is not None and not (isinstance(draft, Mapping) and isinstance(draft.get("batch_id"), str)
                                      and isinstance(draft.get("index"), int)):
            raise ValueError(f"draft must come from Checkpoint Explorer's 'draft' output, got {self.draft!r}")


@dataclass
class AutoLoraOutcome:
    """What the node outputs: one variant per list item, the JSON report, the text shown under the node
    (empty: the node describes discovery's ``result`` itself)."""

    variants: list
    report: dict
    summary: str
    warnings: list[str] = field(default_factory=list)
    result: object = None


def _enabled(mode: str, panel_auto_lora: bool) -> tuple[bool, str]:
    if mode == "follow panel":
        return panel_auto_lora, f"the LoRA Lab panel's Auto-LoRA switch is {'on' if panel_auto_lora else 'off'}"
    return mode == "on", f"auto_lora is '{mode}'"


def _off(request: AutoLoraRequest, why: str) -> AutoLoraOutcome:
    from ..discovery import Variant

    text = f"Auto-LoRA off ({why}): MODEL, CLIP and prompt passed through unchanged, no LoRA applied."
    report = {"auto_lora": "off", "reason": why, "prompt": request.prompt, "picks": [],
              "variants": [{"picks": [], "prompt": request.prompt, "lora_text": ""}]}
    return AutoLoraOutcome([Variant([], request.prompt, "")], report, text)


def _group_variant(result, group):
    """The discovery picks the group got, with their recorded strengths and trigger words."""
    from ..discovery import Variant

    by_name = {pick.name: pick for pick in result.picks}
    picks = [replace(by_name[lora.name], strength=lora.strength, clip_strength=lora.strength)
             for lora in group.loras if lora.name in by_name]
    triggers = [p.trigger_added for p in picks if p.trigger_added]
    base = result.prompt.rstrip().rstrip(",")
    prompt = ", ".join(([base] if base else []) + triggers) if triggers else result.prompt
    text = " ".join(f"<lora:{p.name.rsplit('.', 1)[0]}:{p.strength:g}>" for p in picks)
    return Variant(picks, prompt, text)


def run_auto_lora(library: Callable[[], object], explorer, request: AutoLoraRequest) -> AutoLoraOutcome:
    """Off, discovery's variations, or (with a draft) the draft's group's combination. ``library`` returns the
    discovery library (ready), only called when Auto-LoRA is on."""
    enabled, why = _enabled(request.mode, explorer.settings().auto_lora)
    if not enabled:
        return _off(request, why)
    options = request.options if request.draft is None else replace(request.options, variations=1)
    result = library().discover(request.prompt, options)
    report = result.to_dict()
    report["auto_lora"] = "on"
    if request.draft is None:
        return AutoLoraOutcome(list(result.variants), report, "", list(result.warnings), result)
    candidates = [LoraUse(pick.name, pick.strength) for pick in result.picks]
    group = loras_for_draft(explorer.db, request.draft["batch_id"], request.draft["index"], candidates)
    variant = _group_variant(result, group)
    report["draft_group"] = group.to_dict()
    report["variants"] = report["variants"][:1]
    report["variants"][0].update(picks=[asdict(p) for p in variant.picks], prompt=variant.prompt,
                                 lora_text=variant.lora_text)
    names = ", ".join(f"{lora.name} @ {lora.strength:g}" for lora in group.loras) or "no LoRA (the control group)"
    summary = (f"Auto LoRA Discover: draft {request.draft['index']} of batch {request.draft['batch_id']}, group "
               f"{group.group} ({group.checkpoint}, {group.drafts} drafts): {names}; candidates: "
               f"{', '.join(c.name for c in candidates) or 'none'}")
    warnings = list(result.warnings)
    missing = [lora.name for lora in group.loras if lora.name not in {p.name for p in variant.picks}]
    if missing:
        warnings.append(f"the group's LoRA(s) {missing} are no longer discovered for this prompt; not applied")
    return AutoLoraOutcome([variant], report, summary, warnings, result)
