"""Strength policy as properties over 10,000 random cases: bounds, monotonicity, preferred ranges, determinism."""

from __future__ import annotations

import random

from comfyui_lora_lab.engines.discovery.strength import strength_for


def random_case(rng: random.Random):
    low = round(rng.uniform(0.0, 1.0), 2)
    high = round(rng.uniform(low, 1.5), 2)
    threshold = rng.uniform(0.0, 0.95)
    preferred = None
    if rng.random() < 0.5:
        a, b = sorted((round(rng.uniform(-0.5, 2.0), 2), round(rng.uniform(-0.5, 2.0), 2)))
        preferred = (a, b)
    return low, high, threshold, preferred


def test_ten_thousand_cases_zero_violations():
    rng = random.Random(1234)
    violations = []
    for _ in range(10_000):
        low, high, threshold, preferred = random_case(rng)
        relevances = sorted(rng.uniform(threshold, 1.0) for _ in range(4))
        values = [strength_for(r, threshold, low, high, preferred)[0] for r in relevances]
        if any(not low - 1e-9 <= v <= high + 1e-9 for v in values):
            violations.append(("bounds", low, high, preferred, values))
        if any(b < a for a, b in zip(values, values[1:])):
            violations.append(("monotone", low, high, preferred, values))
        if preferred and max(low, preferred[0]) <= min(high, preferred[1]):
            if any(not max(low, preferred[0]) - 1e-9 <= v <= min(high, preferred[1]) + 1e-9 for v in values):
                violations.append(("preferred", low, high, preferred, values))
        if values != [strength_for(r, threshold, low, high, preferred)[0] for r in relevances]:
            violations.append(("deterministic", low, high, preferred, values))
    assert violations == []


def test_the_seed_plans_range_at_the_ends():
    assert strength_for(0.4, 0.4, 0.5, 0.8) == (0.5, "")
    assert strength_for(1.0, 0.4, 0.5, 0.8) == (0.8, "")
    assert strength_for(0.7, 0.4, 0.5, 0.8)[0] == 0.65


def test_a_preferred_range_outside_the_bounds_uses_the_nearest_bound():
    value, note = strength_for(0.9, 0.4, 0.5, 0.8, (1.0, 1.2))
    assert value == 0.8 and "outside the allowed" in note
    assert strength_for(0.9, 0.4, 0.5, 0.8, (0.1, 0.3))[0] == 0.5
