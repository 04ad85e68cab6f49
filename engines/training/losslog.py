"""The loss log (one JSON line per step, kept across restarts) and its plot.

The log is appended and flushed every step, so a crash loses at most the line being written; resuming
from step k drops the lines after k (they belong to the steps that will be run again) and appends.
The plot is drawn with Pillow (no plotting library needed): raw loss, a moving average, axis labels.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..common.atomic import write_text_atomic

LOG_FILE = "loss.jsonl"
PLOT_FILE = "loss.png"


class LossLog:
    """Append-only JSON-lines log of ``{"step", "epoch", "loss", "lr"}``; survives restarts."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOG_FILE
        self._handle = None

    def entries(self) -> list[dict]:
        """Every complete line (a half-written last line from a crash is skipped)."""
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return entries

    def truncate(self, step: int) -> None:
        """Keep the lines of steps <= ``step`` (atomic rewrite), before continuing from ``step``."""
        kept = [entry for entry in self.entries() if entry.get("step", 0) <= step]
        write_text_atomic(self.path, "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in kept))

    def append(self, step: int, epoch: int, loss: float, lr: float) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
        self._handle.write(json.dumps({"step": step, "epoch": epoch, "loss": loss, "lr": lr}, sort_keys=True) + "\n")
        self._handle.flush()

    def sync(self) -> None:
        if self._handle is not None:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        out.append(total / min(index + 1, window))
    return out


def plot_losses(entries: list[dict], path: Path, title: str, size: tuple[int, int] = (640, 360)):
    """Draw the loss curve to ``path`` (PNG) and return the PIL image."""
    from PIL import Image, ImageDraw

    width, height = size
    left, right, top, bottom = 64, 16, 28, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 6), title, fill="black")
    points = [(e["step"], e["loss"]) for e in entries if isinstance(e.get("loss"), (int, float))
              and math.isfinite(e["loss"])]
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    if points:
        _draw_series(draw, points, (left, top, width - right, height - bottom))
    else:
        draw.text((left + 10, top + 10), "no steps logged yet", fill="gray")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp.png")
    image.save(temp)
    os.replace(temp, path)
    return image


def _draw_series(draw, points: list[tuple[int, float]], box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    steps = [p[0] for p in points]
    losses = [p[1] for p in points]
    low, high = min(losses), max(losses)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    first, last = min(steps), max(steps)
    span = max(last - first, 1)

    def xy(step: float, loss: float) -> tuple[float, float]:
        return x0 + (step - first) / span * (x1 - x0), y1 - (loss - low) / (high - low) * (y1 - y0)

    raw = [xy(s, v) for s, v in points]
    smooth = [xy(s, v) for s, v in zip(steps, moving_average(losses, max(1, len(losses) // 20)))]
    if len(raw) > 1:
        draw.line(raw, fill=(170, 190, 230), width=1)
        draw.line(smooth, fill=(20, 60, 160), width=2)
    else:
        draw.ellipse([raw[0][0] - 3, raw[0][1] - 3, raw[0][0] + 3, raw[0][1] + 3], fill=(20, 60, 160))
    draw.text((4, y0), f"{high:.4g}", fill="black")
    draw.text((4, y1 - 12), f"{low:.4g}", fill="black")
    draw.text((x0, y1 + 6), f"step {first}", fill="black")
    draw.text((x1 - 80, y1 + 6), f"step {last}", fill="black")
    draw.text((x0 + (x1 - x0) // 2 - 40, y1 + 22), f"last loss {losses[-1]:.4g}", fill="black")
