"""The ``TrainingEngine`` interface, the engine registry, and the automatic choice of an engine.

An engine says whether it can run here (and if not, exactly what is missing), which model families it
trains, and trains a :class:`~.job.TrainingJob`. ``choose_engine("auto", family)`` takes the first engine
that is available and supports the family, in an order that depends on the platform (mflux first on
Apple Silicon); a named engine that cannot run is an error listing what is missing.
"""

from __future__ import annotations

import platform as _platform
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..progress import Progress, no_progress
from .job import TrainingJob, TrainingResult


@dataclass(frozen=True)
class Availability:
    """Whether an engine can run here; ``missing`` says what to install or set when it cannot."""

    available: bool
    missing: tuple[str, ...] = ()

    def text(self) -> str:
        return "available" if self.available else "unavailable: " + "; ".join(self.missing)


class EngineUnavailable(ValueError):
    """No engine (or not the named one) can train this job here; the message lists why, per engine.

    A ValueError like every "cannot do what you asked" error of the pack, so the CLI and nodes report it
    as one message instead of a traceback."""


class TrainingEngine(ABC):
    """One way to train a LoRA: in this process (PyTorch), or by driving another trainer's CLI."""

    name: str = ""
    families: tuple[str, ...] = ()
    description: str = ""

    @abstractmethod
    def availability(self) -> Availability:
        """Cheap check (no model loading): can this engine run on this machine?"""

    @abstractmethod
    def train(self, job: TrainingJob, progress: Progress = no_progress, log=print) -> TrainingResult:
        """Train ``job`` (preflight first); return the result or raise with a message the user can act on."""

    def check(self, family: str) -> None:
        """Raise EngineUnavailable when this engine cannot train ``family`` here."""
        if family not in self.families:
            raise EngineUnavailable(f"engine '{self.name}' trains {', '.join(self.families)} models, not {family}")
        available = self.availability()
        if not available.available:
            raise EngineUnavailable(f"engine '{self.name}' is {available.text()}")


def platform_tag() -> str:
    return f"{_platform.system().lower()}-{_platform.machine().lower()}"


AUTO_ORDER = {"darwin-arm64": ("mflux", "inprocess", "kohya")}
DEFAULT_ORDER = ("inprocess", "kohya", "mflux")


def engine_classes() -> dict[str, type[TrainingEngine]]:
    from .inprocess import InProcessEngine
    from .kohya import KohyaEngine
    from .mflux import MfluxEngine

    return {"inprocess": InProcessEngine, "kohya": KohyaEngine, "mflux": MfluxEngine}


ENGINE_NAMES = ("auto", "inprocess", "kohya", "mflux")


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
