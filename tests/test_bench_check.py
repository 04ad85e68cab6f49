"""``lora-lab bench NAME --check``: exits non-zero when a stated goal is missed or not measured."""

from __future__ import annotations

import importlib
import json
import types
from argparse import Namespace

import pytest

from comfyui_lora_lab.bench import BENCHMARKS, goals
from comfyui_lora_lab.cli import bench_cmd


def _bench(result: dict, stated: dict) -> types.ModuleType:
    module = types.ModuleType("fake_bench")
    module.GOALS = stated
    module.run = lambda args: dict(result)
    return module


def _run(module, capsys, check: bool = True) -> tuple[int, dict, str]:
    code = bench_cmd.run(Namespace(bench_module=module, json=True, check=check, name="fake"))
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def test_check_passes_only_when_every_goal_is_met(capsys):
    stated = {"ratio": ("<=", 0.5), "speedup": (">=", 2.0), "balanced": ("==", True)}
    code, result, err = _run(_bench({"ratio": 0.5, "speedup": 2.0, "balanced": True}, stated), capsys)
    assert code == 0 and result["ratio"] == 0.5
    assert "fake: 3/3 goals met" in err

    code, _, err = _run(_bench({"ratio": 0.51, "speedup": 2.0, "balanced": True}, stated), capsys)
    assert code == 1
    assert "MISSED  fake.ratio = 0.51 (goal <= 0.5)" in err and "fake: 2/3 goals met" in err


def test_a_figure_not_measured_is_a_miss(capsys):
    code, _, err = _run(_bench({"speedup": 3.0}, {"ratio": ("<=", 0.5), "speedup": (">=", 2.0)}), capsys)
    assert code == 1
    assert "MISSED  fake.ratio = None" in err


def test_without_check_the_exit_code_ignores_goals(capsys):
    code, _, err = _run(_bench({"ratio": 9.0}, {"ratio": ("<=", 0.5)}), capsys, check=False)
    assert code == 0 and err == ""


def test_no_goals_stated_is_its_own_exit_code(capsys):
    code, _, err = _run(_bench({"x": 1}, {}), capsys)
    assert code == 2 and "no goals stated" in err


def test_a_malformed_goal_is_refused_before_the_benchmark_runs():
    module = _bench({"ratio": 0.1}, {"ratio": ("<", 0.5)})
    module.run = lambda args: pytest.fail("the benchmark ran before its GOALS were checked")
    with pytest.raises(ValueError, match=r"fake_bench.GOALS\['ratio'\]"):
        bench_cmd.run(Namespace(bench_module=module, json=True, check=True, name="fake"))


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_registered_benchmark_states_valid_goals(name):
    module = importlib.import_module(f"comfyui_lora_lab.bench.{BENCHMARKS[name]}")
    goals.validate(getattr(module, "GOALS", {}), module.__name__)
