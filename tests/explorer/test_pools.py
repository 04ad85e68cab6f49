"""Tier pools: defaults written once, filtered to what is installed, strict validation when saved."""

from __future__ import annotations

import json

import pytest

from comfyui_lora_lab.engines.explorer import pools
from comfyui_lora_lab.engines.explorer.pools import PoolError, TierPool


def test_missing_file_is_written_with_the_seed_defaults(tmp_path):
    path = tmp_path / "lora_lab" / pools.POOLS_FILE
    loaded = pools.load_pools(path)
    assert set(loaded) == {"sd15_draft", "sdxl_standard"} and len(loaded["sd15_draft"].checkpoints) == 3
    assert json.loads(path.read_text())["tiers"]["sd15_draft"]["default"] == "beenyouLite_l15.safetensors"
    assert [p.name for p in path.parent.iterdir()] == [pools.POOLS_FILE]  # no temp file left behind


def test_tiers_are_filtered_to_installed_checkpoints_and_missing_ones_reported():
    resolved = pools.resolve({"t": TierPool(("a", "b", "c"), default="c")}, ["b", "a", "other"])["t"]
    assert resolved.installed == ("a", "b") and resolved.missing == ("c",)
    assert resolved.default == "a"  # the configured default is not installed: first installed instead
    assert pools.resolve({"t": TierPool(("a",))}, [])["t"].default is None


@pytest.mark.parametrize("data,match", [
    ([], "expected an object"),
    ({"tiers": {}, "x": 1}, "unknown field"),
    ({"tiers": {"bad/name": {"checkpoints": ["a"]}}}, "tier name"),
    ({"tiers": {"t": ["a", "b"]}}, "expected"),
    ({"tiers": {"t": {"checkpoints": []}}}, "must list"),
    ({"tiers": {"t": {"checkpoints": ["a", 3]}}}, "must list"),
    ({"tiers": {"t": {"checkpoints": ["a", "a"]}}}, "twice"),
    ({"tiers": {"t": {"checkpoints": ["a", "b"], "default": "z"}}}, "default 'z'"),
    ({"tiers": {"t": {"checkpoints": ["a", "b"], "weights": [1]}}}, "unknown field"),
    ({"tiers": {f"t{i}": {"checkpoints": ["a"]} for i in range(65)}}, "limit"),
])
def test_bad_pool_data_names_the_problem(data, match):
    with pytest.raises(PoolError, match=match):
        pools.parse_pools(data, "body")


@pytest.mark.parametrize("tiers,match", [
    ({"t": TierPool(("a",))}, "at least 2"),
    ({"t": TierPool(("a", "missing.safetensors"))}, "missing.safetensors"),
])
def test_saving_refuses_tiers_that_cannot_be_explored(tiers, match):
    with pytest.raises(PoolError, match=match):
        pools.check_saveable(tiers, ["a", "b"])


def test_a_broken_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / pools.POOLS_FILE
    path.write_text("{not json")
    with pytest.raises(PoolError, match=str(path)):
        pools.load_pools(path)


def test_saved_pools_load_back(tmp_path):
    path = tmp_path / pools.POOLS_FILE
    pools.save_pools(path, {"mine": TierPool(("x", "y"), default="y")})
    assert pools.load_pools(path) == {"mine": TierPool(("x", "y"), default="y")}
