"""Goals of a benchmark, checked against its result: what ``lora-lab bench NAME --check`` reads.

A benchmark module with goals defines ``GOALS = {"figure": ("<=", 0.5), "other": (">=", 2.0)}`` at module
level, with only the goals its issue or documentation states. A figure the run did not report (a part was
skipped, or it failed) counts as missed: a check cannot pass on what it did not measure.
"""

from __future__ import annotations

import math

COMPARISONS = {
    "<=": lambda value, target: value <= target,
    ">=": lambda value, target: value >= target,
    "==": lambda value, target: value == target,
}


def validate(goals: dict, module_name: str) -> None:
    """Refuse a GOALS dict the checker could misread (unknown operator, a target that is not a number/bool)."""
    for figure, goal in goals.items():
        if not (isinstance(goal, tuple) and len(goal) == 2 and goal[0] in COMPARISONS):
            raise ValueError(f"{module_name}.GOALS[{figure!r}] must be (operator, target) with operator one of "
                             f"{sorted(COMPARISONS)}, got {goal!r}")
        if not isinstance(goal[1], (int, float, bool)):
            raise ValueError(f"{module_name}.GOALS[{figure!r}] target must be a number or bool, got {goal[1]!r}")


def check(goals: dict, result: dict) -> dict[str, dict]:
    """Per figure: the measured value (None when absent), the goal as text and whether it is met."""
    verdicts = {}
    for figure, (operator, target) in goals.items():
        value = result.get(figure)
        measured = value is not None and not (isinstance(value, float) and math.isnan(value))
        verdicts[figure] = {"value": value, "goal": f"{operator} {target}",
                            "met": bool(measured and COMPARISONS[operator](value, target))}
    return verdicts


def summary_lines(name: str, verdicts: dict[str, dict]) -> list[str]:
    """One line per figure, then a verdict line, for people reading a terminal."""
    lines = [f"{'met' if v['met'] else 'MISSED':>6}  {name}.{figure} = {v['value']} (goal {v['goal']})"
             for figure, v in verdicts.items()]
    missed = sum(not v["met"] for v in verdicts.values())
    lines.append(f"{name}: {len(verdicts) - missed}/{len(verdicts)} goals met" if verdicts
                 else f"{name}: no goals stated")
    return lines
