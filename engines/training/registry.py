"""The training engines by name (data: module and class), and the automatic choice of an engine.

``choose_engine("auto", family)`` takes the first engine that is available and supports the family, in an
order that depends on the platform (mflux first on Apple Silicon); a named engine that cannot run is an
error listing what is missing. Engines are imported by name only when asked for, so neither this module
nor ``engine`` (the base class) sits in an import circle with the engines.
"""

from __future__ import annotations

import importlib
import platform as _platform

from .engine import EngineUnavailable, TrainingEngine

ENGINES: dict[str, tuple[str, str]] = {
    "inprocess": (".inprocess", "InProcessEngine"),
    "kohya": (".kohya", "KohyaEngine"),
    "mflux": (".mflux", "MfluxEngine"),
}
ENGINE_NAMES = ("auto", *ENGINES)
AUTO_ORDER = {"darwin-arm64": ("mflux", "inprocess", "kohya")}
DEFAULT_ORDER = ("inprocess", "kohya", "mflux")


def platform_tag() -> str:
    return f"{_platform.system().lower()}-{_platform.machine().lower()}"


def engine_classes() -> dict[str, type[TrainingEngine]]:
    classes = {}
    for name, (module, attribute) in ENGINES.items():
        classes[name] = getattr(importlib.import_module(module, __package__), attribute)
    return classes


def choose_engine(name: str = "auto", family: str = "sd15", tag: str | None = None) -> TrainingEngine:
    """The named engine (checked), or the first usable one for ``family`` on this platform."""
    classes = engine_classes()
    if name != "auto":
        if name not in classes:
            raise EngineUnavailable(f"unknown engine {name!r}; expected one of {', '.join(ENGINE_NAMES)}")
        engine = classes[name]()
        engine.check(family)
        return engine
    reasons = []
    for candidate in AUTO_ORDER.get(tag or platform_tag(), DEFAULT_ORDER):
        engine = classes[candidate]()
        try:
            engine.check(family)
        except EngineUnavailable as exc:
            reasons.append(str(exc))
            continue
        return engine
    raise EngineUnavailable(f"no training engine can train a {family} model here:\n  " + "\n  ".join(reasons))


def engine_report(family: str | None = None) -> dict[str, dict]:
    """Every engine with its availability and families (for the CLI, the node tooltip and health)."""
    report = {}
    for name, cls in engine_classes().items():
        engine = cls()
        available = engine.availability()
        report[name] = {"available": available.available, "missing": list(available.missing),
                        "families": list(engine.families), "description": engine.description,
                        "supports_family": family is None or family in engine.families}
    return report
