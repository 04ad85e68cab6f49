"""The loss curve as an image (Pillow only): prompt-token NLL per optimiser step, one line per encoder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

COLOURS = ((66, 135, 245), (245, 130, 48), (60, 180, 75), (230, 25, 75))


def loss_curve_image(curves: Mapping[str, Sequence[float]], width: int = 512, height: int = 256,
                     title: str = "prompt-token NLL per step") -> np.ndarray:
    """(height, width, 3) float32 in [0, 1]: what ComfyUI's IMAGE holds per batch item."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 48, width - 12, 24, height - 28
    values = [v for curve in curves.values() for v in curve if np.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        high = low + 1.0
    longest = max((len(c) for c in curves.values()), default=1)
    draw.rectangle((left, top, right, bottom), outline=(120, 120, 120))
    draw.text((left, 4), title, fill=(30, 30, 30))
    draw.text((4, top), f"{high:.2f}", fill=(60, 60, 60))
    draw.text((4, bottom - 10), f"{low:.2f}", fill=(60, 60, 60))
    draw.text((right - 60, bottom + 8), f"step {longest - 1}", fill=(60, 60, 60))
    for index, (name, curve) in enumerate(curves.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = [(left + (right - left) * i / max(longest - 1, 1), bottom - (bottom - top) * (v - low) / (high - low))
                  for i, v in enumerate(curve) if np.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((left + 8 + 90 * index, bottom + 8), name, fill=colour)
    return np.asarray(image, dtype=np.float32) / 255.0
