"""Run another trainer's CLI: stream its output, turn progress lines into our progress, surface failures.

The anti-pattern this exists to avoid (Lora-Training-in-Comfy #71/#99/#105): a wrapper that reports
"Train finished" when the subprocess crashed. Here a non-zero exit, or an exit without the expected
file, is an :class:`EngineProcessError` carrying the last lines of the tool's stderr. Both pipes are
read on threads (tqdm writes ``\\r``-separated updates to stderr); our progress callback runs on the
calling thread, so a ComfyUI interrupt stops the tool (its whole process group) and propagates.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..progress import Progress

TAIL_LINES = 40
MAX_LINE = 2000
STOP_GRACE_SECONDS = 10
TQDM = re.compile(r"(?<![\d.])(\d+)/(\d+) \[([^\]]*)\]")
LOSS = re.compile(r"loss=([-+0-9.eE]+|nan)")


class EngineProcessError(ValueError):
    """The external trainer failed; ``tail`` holds the last lines of its stderr (a ValueError so the CLI and
    nodes show the message and tail, not our traceback)."""

    def __init__(self, engine: str, problem: str, tail: list[str]) -> None:
        self.engine, self.problem, self.tail = engine, problem, list(tail)
        shown = "\n".join(self.tail[-TAIL_LINES:]) or "(it printed nothing on stderr)"
        super().__init__(f"{engine} {problem}; last lines of its error output:\n{shown}")


@dataclass
class ProcessOutcome:
    returncode: int
    stderr_tail: list[str] = field(default_factory=list)
    stdout_tail: list[str] = field(default_factory=list)
    last_step: int = 0
    last_loss: float | None = None


def parse_tqdm(line: str) -> tuple[int, int, float | None] | None:
    """(done, total, loss or None) from a tqdm line such as ``steps: 10%|# | 10/100 [00:05<00:45, avr_loss=0.1]``."""
    match = TQDM.search(line)
    if not match:
        return None
    loss = LOSS.search(match.group(3))
    value = float(loss.group(1)) if loss and loss.group(1) != "nan" else None
    return int(match.group(1)), int(match.group(2)), value


def _reader(stream, name: str, lines: queue.Queue) -> None:
    buffer = b""
    for chunk in iter(lambda: stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096), b""):
        buffer += chunk
        parts = re.split(rb"[\r\n]", buffer)
        buffer = parts.pop()
        for part in parts:
            if part.strip():
                lines.put((name, part[:MAX_LINE].decode("utf-8", "replace")))
    if buffer.strip():
        lines.put((name, buffer[:MAX_LINE].decode("utf-8", "replace")))
    lines.put((name, None))


def _stop(process: subprocess.Popen) -> None:
    """Terminate the tool and its children (accelerate starts workers), then kill if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def run_tool(command: list[str], progress: Progress, parse: Callable[[str], tuple | None] = parse_tqdm,
             env: dict | None = None, cwd: str | None = None, log: Callable[[str], None] | None = None,
             total_hint: int = 0) -> ProcessOutcome:
    """Run ``command`` to the end; progress lines found by ``parse`` drive ``progress``; nothing is raised
    for a failing exit (the caller decides), but a progress exception stops the tool and propagates."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               env=env, cwd=cwd, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
        threading.Thread(target=_reader, args=(stream, name, lines), daemon=True).start()
    outcome = ProcessOutcome(0, [], [])
    tails = {"stderr": deque(maxlen=TAIL_LINES), "stdout": deque(maxlen=TAIL_LINES)}
    open_streams = 2
    try:
        while open_streams:
            name, line = lines.get()
            if line is None:
                open_streams -= 1
                continue
            tails[name].append(line)
            if log is not None and name == "stdout":
                log(line)
            _report(parse(line), outcome, progress, total_hint)
    except BaseException:
        _stop(process)
        raise
    outcome.returncode = process.wait()
    outcome.stderr_tail, outcome.stdout_tail = list(tails["stderr"]), list(tails["stdout"])
    return outcome


def _report(parsed, outcome: ProcessOutcome, progress: Progress, total_hint: int) -> None:
    if parsed is None:
        return
    done, total, loss = parsed
    if done == outcome.last_step and loss is None:
        return
    outcome.last_step = done
    if loss is not None:
        outcome.last_loss = loss
    message = f"step {done}/{total}" + (f" loss {loss:.4f}" if loss is not None else "")
    progress(done, total or total_hint, message)
