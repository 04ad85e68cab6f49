"""Which LoRAs a queued draft gets: a pluggable choice, so auto-LoRA can be backed by any engine.

A chooser is a function ``(LoraRequest) -> list[LoraUse]``; ``CHOOSERS`` names the local ones ``lora-lab queue``
offers (it also has ``server``: the ComfyUI server's own discovery route, with the full index and what it learned).
``discovery`` runs the discovery engine on the LoRA names alone (keyword grounding, generic-word guard, abstain
threshold, family hints in names); ``names`` is the seed's first idea (prompt keywords found in LoRA file names,
top 3, strength 0.5-0.8 by relevance), kept as the transparent baseline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from ..store.generations import LoraUse

MAX_LORAS = 3
MIN_STRENGTH, MAX_STRENGTH = 0.5, 0.8
STOP_WORDS = frozenset("a an and the of in on at with for from to by is are very high quality best masterpiece "
                       "detailed photo image picture style lora".split())
WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class LoraRequest:
    prompt: str
    checkpoint: str
    available: tuple[str, ...]


LoraChooser = Callable[[LoraRequest], list[LoraUse]]


def keywords(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if len(w) >= 3 and w not in STOP_WORDS]


def name_match(request: LoraRequest) -> list[LoraUse]:
    """LoRAs whose file-name words appear in the prompt, most of their words matched first."""
    wanted = set(keywords(request.prompt))
    scored = []
    for name in request.available:
        words = set(keywords(PurePath(name.replace("\\", "/")).stem.replace("_", " ").replace("-", " ")))
        if words & wanted:
            scored.append((len(words & wanted) / len(words), name))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [LoraUse(name, round(MIN_STRENGTH + (MAX_STRENGTH - MIN_STRENGTH) * relevance, 2))
            for relevance, name in scored[:MAX_LORAS]]


def fixed(loras: Sequence[LoraUse]) -> LoraChooser:
    """The same LoRAs for every draft (``--lora NAME:STRENGTH``); each must be installed."""

    def choose(request: LoraRequest) -> list[LoraUse]:
        missing = [lora.name for lora in loras if lora.name not in request.available]
        if missing:
            raise ValueError(f"LoRA(s) not in ComfyUI's loras folders: {', '.join(missing)}")
        return list(loras)

    return choose


def parse_lora(text: str) -> LoraUse:
    """``name.safetensors:0.7`` (strength optional, default 0.7)."""
    name, _, strength = text.rpartition(":") if ":" in text else (text, "", "")
    try:
        return LoraUse(name, float(strength) if strength else 0.7)
    except ValueError:
        raise ValueError(f"--lora expects NAME[:STRENGTH], got {text!r}") from None


def discovered_by_name(request: LoraRequest, family: str = "unknown") -> list[LoraUse]:
    """The discovery engine over the installed LoRA names (no headers or sidecars: a remote server's list)."""
    from ..discovery import DiscoverOptions, names_only_index, run_discovery

    options = DiscoverOptions(family=family, max_loras=MAX_LORAS, min_strength=MIN_STRENGTH,
                              max_strength=MAX_STRENGTH, allow_unknown_family=True, use_learning=False)
    result = run_discovery(names_only_index(list(request.available)), request.prompt, options)
    return [LoraUse(pick.name, pick.strength) for pick in result.picks]


CHOOSERS: dict[str, LoraChooser] = {"discovery": discovered_by_name, "names": name_match}
