"""How strongly to apply a chosen LoRA: monotone in relevance, inside the user's bounds and the file's range.

Relevance at the abstain threshold maps to ``low``, relevance 1.0 to ``high`` (default [0.5, 0.8], the
seed plan's range). A file's preferred range (Lora-Manager usage tips, rgthree strengthMin/Max, A1111
preferred weight) narrows that when the two overlap. When they do not overlap, the user's bound nearest
to the file's range is used and a note says so: the user's bounds are never exceeded.
"""

from __future__ import annotations


def strength_for(relevance: float, threshold: float, low: float, high: float,
                 preferred: list[float] | tuple[float, float] | None = None) -> tuple[float, str]:
    """(strength, note); non-decreasing in ``relevance`` for fixed bounds and preferred range."""
    span = max(1e-9, 1.0 - threshold)
    position = min(1.0, max(0.0, (relevance - threshold) / span))
    value = low + (high - low) * position
    note = ""
    if preferred:
        pref_low, pref_high = float(preferred[0]), float(preferred[1])
        lower, upper = max(low, pref_low), min(high, pref_high)
        if lower <= upper:
            value = min(upper, max(lower, value))
            if (lower, upper) != (low, high):
                note = f"kept in the file's preferred range {pref_low:g}..{pref_high:g}"
        else:
            value = high if pref_low > high else low
            note = (f"the file prefers {pref_low:g}..{pref_high:g}, outside the allowed {low:g}..{high:g}; "
                    f"used {value:g}")
    return round(value, 3), note
