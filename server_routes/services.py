"""The name route modules and older callers use for the composition root: ``Services`` is :class:`Lab`.

The shared state lives in ``engines/lab.py``; this alias only keeps ``from .services import Services``
working in route modules and tests written before the move.
"""

from __future__ import annotations

from ..engines.lab import Lab as Services

__all__ = ["Services"]
