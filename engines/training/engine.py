"""The ``TrainingEngine`` interface: what every engine is (the registry and the choice live in ``registry``).

An engine says whether it can run here (and if not, exactly what is missing), which model families it
trains, and trains a :class:`~.job.TrainingJob`. This module imports none of the engines, so the three
engines can import it without an import circle.
"""

from __future__ import annotations

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
