"""One generation at a time per loaded model, a bounded number waiting, and a deadline for each request.

``admit`` is instant (it only counts), so a caller can refuse a request beyond the queue before handing it to a
thread; ``run`` waits for the model until the request's deadline, runs, and always gives the place back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import BusyError, GenerationTimeout

T = TypeVar("T")


class GenerationQueue:
    def __init__(self) -> None:
        self._model_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._admitted = 0  # running + waiting

    @property
    def admitted(self) -> int:
        return self._admitted

    def admit(self, max_waiting: int | None) -> None:
        """Take a place (running or waiting); BusyError if ``max_waiting`` requests already wait."""
        with self._count_lock:
            if max_waiting is not None and self._admitted > max_waiting:
                raise BusyError(f"the refiner is busy: 1 request is running and {self._admitted - 1} are waiting "
                                f"(the queue holds {max_waiting}); try again shortly")
            self._admitted += 1

    def run(self, work: Callable[[], T], deadline: float | None = None) -> T:
        """Wait for the model (until ``deadline``, monotonic seconds), run ``work``, release; for an admitted request."""
        try:
            timeout = -1 if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._model_lock.acquire(timeout=timeout):
                raise GenerationTimeout("timed out waiting for the model: earlier requests are still generating")
            try:
                return work()
            finally:
                self._model_lock.release()
        finally:
            with self._count_lock:
                self._admitted -= 1
