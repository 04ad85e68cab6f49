"""The Draft flow's engine: per-group LoRA combinations learned per (checkpoint, combination), recorded once per
batch on a real SQLite store, per-LoRA stats, and the Auto-LoRA use case (off / follow panel / per draft)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from discovery_fixtures import SD15, library, lora

from comfyui_lora_lab.engines.discovery import DiscoverOptions
from comfyui_lora_lab.engines.explorer import Explorer, PlanRequest
from comfyui_lora_lab.engines.explorer.auto_lora_flow import AutoLoraRequest, run_auto_lora
from comfyui_lora_lab.engines.explorer.draft_flow import (draft_handles, lora_stats, loras_for_draft,
                                                          recorded_groups, reviewed_history)
from comfyui_lora_lab.engines.explorer.draft_groups import (NO_LORA, DraftOutcome, PairTable, assign,
                                                            group_index, groups_of, options_for)
from comfyui_lora_lab.engines.store import Database
from comfyui_lora_lab.engines.store import generations as g

CKPTS = ["a.safetensors", "b.safetensors", "c.safetensors"]
SEED_PROMPT = "beautiful anime girl with flowing hair in magical forest"


def test_options_are_singles_then_all_then_the_control():
    options = options_for(["sub/Anime_Style_v2.safetensors", "fantasy_landscape.safetensors"])
    assert options == [("anime_style_v2",), ("fantasy_landscape",), ("anime_style_v2", "fantasy_landscape"), NO_LORA]
    assert options_for([]) == [NO_LORA]


def test_without_evidence_groups_get_the_candidates_in_relevance_order():
    options = options_for(["anime_style_v2", "fantasy_landscape", "detailed_hair"])
    combos = assign([("a", 7), ("b", 7), ("c", 6)], options, PairTable(), np.random.default_rng(0))
    assert combos == [("anime_style_v2",), ("fantasy_landscape",), ("detailed_hair",)]


def test_a_picked_pair_goes_to_its_checkpoint_and_the_groups_stay_distinct():
    options = options_for(["x", "y", "z"])
    table = PairTable()
    tried = {("b", "x"): 3, ("b", "y"): 0, ("b", "z"): 0, ("a", "x"): 0, ("a", "y"): 1, ("c", "y"): 1, ("c", "z"): 1}
    for _ in range(6):  # 4 drafts of each pair per batch, this many picked: x is liked on b only
        table.observe([DraftOutcome(c, (lora,), i < picked) for (c, lora), picked in tried.items() for i in range(4)],
                      0.98)
    rng = np.random.default_rng(1)
    runs = [assign([("a", 7), ("b", 7), ("c", 6)], options, table, rng) for _ in range(20)]
    assert all(len(set(combos)) == 3 for combos in runs)
    assert sum(combos[1] == ("x",) for combos in runs) >= 12  # the rest explores b's untried combinations
    per_factor = [assign([("a", 7), ("b", 7), ("c", 6)], options, table, rng, per_factor=True) for _ in range(20)]
    assert sum(combos[1] == ("x",) for combos in per_factor) < sum(combos[1] == ("x",) for combos in runs)


def test_groups_follow_draft_order():
    drafts = ["b", "b", "a", "c", "c", "c"]
    assert groups_of(drafts) == [("b", 2), ("a", 1), ("c", 3)]
    assert [group_index(drafts, i) for i in range(6)] == [0, 0, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="outside the batch of 6"):
        group_index(drafts, 6)


@pytest.fixture
def explorer(tmp_path: Path) -> Explorer:
    pools = tmp_path / "pools.json"
    pools.write_text(json.dumps({"tiers": {"t": {"checkpoints": CKPTS}}}))
    return Explorer(Database(tmp_path / "lab.sqlite"), pools, lambda: CKPTS)


def _shown(explorer: Explorer, plan, loras_of) -> list[str]:
    return g.record_images(explorer.db, plan.batch_id, [
        g.DraftImage(d.index, d.checkpoint, g.ImageRef(f"{plan.batch_id}_{d.index}.png"), loras_of(d))
        for d in plan.drafts])


def test_a_batch_records_one_combination_per_group_and_every_draft_gets_its_groups(explorer):
    plan = explorer.plan(PlanRequest("t", 20, "explore", 3, SEED_PROMPT))
    assert sorted(plan.distribution.values()) == [6, 7, 7]
    candidates = [g.LoraUse("anime_style_v2.safetensors", 0.7), g.LoraUse("fantasy_landscape.safetensors", 0.6),
                  g.LoraUse("detailed_hair.safetensors", 0.5)]
    per_draft = [loras_for_draft(explorer.db, plan.batch_id, d.index, candidates) for d in reversed(plan.drafts)]
    recorded = recorded_groups(explorer.db, plan.batch_id)
    assert [(r.checkpoint, r.drafts, r.loras) for r in recorded] == [
        (plan.drafts[0].checkpoint, 7, (candidates[0],)), (plan.drafts[7].checkpoint, 7, (candidates[1],)),
        (plan.drafts[14].checkpoint, 6, (candidates[2],))]
    for draft, group in zip(reversed(plan.drafts), per_draft):
        assert group.checkpoint == draft.checkpoint and group == recorded[group.group]
    handles = draft_handles(plan)
    assert [h["group"] for h in handles] == [0] * 7 + [1] * 7 + [2] * 6 and handles[3]["batch_id"] == plan.batch_id


def test_picks_on_one_group_teach_its_pair_and_the_lora_stats_are_per_draft_shown(explorer):
    candidates = [g.LoraUse("x.safetensors", 0.7), g.LoraUse("y.safetensors", 0.6)]
    plan = explorer.plan(PlanRequest("t", 10, "explore", 0, "a cat"))
    group_of = {d.index: loras_for_draft(explorer.db, plan.batch_id, d.index, candidates) for d in plan.drafts}
    ids = _shown(explorer, plan, lambda d: group_of[d.index].loras)
    picked = [i for i, d in zip(ids, plan.drafts) if group_of[d.index].group == 1]
    explorer.pick(picked, True)
    history = reviewed_history(explorer.db, "t", 10)
    assert len(history) == 1 and sum(o.picked for o in history[0]) == len(picked)
    stats = lora_stats(explorer.db)
    for lora in candidates:
        carrying = [d.index for d in plan.drafts if lora in group_of[d.index].loras]
        chosen = [i for i in carrying if group_of[i].group == 1]
        assert stats[lora.name] == {"selected": len(chosen), "total": len(carrying),
                                    "selection_rate": round(len(chosen) / len(carrying), 4)}
    picked_group = recorded_groups(explorer.db, plan.batch_id)[1]
    next_plan = explorer.plan(PlanRequest("t", 10, "explore", 1, "a cat"))
    picked_checkpoint = picked_group.checkpoint
    assert next_plan.distribution[picked_checkpoint] > plan.distribution[picked_checkpoint]


def test_lora_stats_are_exposure_normalised(explorer):
    """A LoRA shown on 14 drafts with 4 picks does not outrank one shown on 6 with 3 picks."""
    plan = explorer.plan(PlanRequest("t", 20, "explore", 0, "p"))
    often, rarely = g.LoraUse("often.safetensors", 0.7), g.LoraUse("rare.safetensors", 0.7)
    ids = _shown(explorer, plan, lambda d: (often,) if d.index < 14 else (rarely,))
    explorer.pick(ids[:4] + ids[14:17], True)
    stats = lora_stats(explorer.db)
    assert stats["often.safetensors"]["selection_rate"] < stats["rare.safetensors"]["selection_rate"] == 0.5


class _Library:
    def __init__(self, real) -> None:
        self.real, self.calls = real, 0

    def __call__(self):
        self.calls += 1
        return self.real


@pytest.fixture
def seed_library(tmp_path: Path):
    folder = tmp_path / "loras"
    lora(folder, "fantasy_landscape.safetensors", metadata={**SD15, "ss_tag_frequency": json.dumps(
        {"10_fantasy": {"fantasy": 30, "magical forest": 20, "forest": 25, "landscape": 30}})})
    lora(folder, "detailed_hair.safetensors", metadata={**SD15, "ss_tag_frequency": json.dumps(
        {"10_hair": {"flowing hair": 30, "detailed hair": 40}})})
    lora(folder, "cyberpunk_city.safetensors", metadata=SD15)
    real = library(tmp_path / "lib", folder)
    real.refresh()
    return _Library(real)


def test_auto_lora_off_passes_through_and_says_so(explorer, seed_library):
    for mode, panel in (("off", True), ("follow panel", False)):
        explorer.update_settings({"auto_lora": panel})
        outcome = run_auto_lora(seed_library, explorer, AutoLoraRequest(SEED_PROMPT, DiscoverOptions("sd15"), mode))
        assert [v.picks for v in outcome.variants] == [[]] and outcome.variants[0].prompt == SEED_PROMPT
        assert outcome.summary.startswith("Auto-LoRA off") and "passed through unchanged" in outcome.summary
    assert seed_library.calls == 0
    explorer.update_settings({"auto_lora": True})
    outcome = run_auto_lora(seed_library, explorer, AutoLoraRequest(SEED_PROMPT, DiscoverOptions("sd15")))
    assert outcome.variants[0].picks and outcome.report["auto_lora"] == "on"


def test_auto_lora_with_a_draft_applies_its_groups_combination(explorer, seed_library):
    plan = explorer.plan(PlanRequest("t", 20, "explore", 0, SEED_PROMPT))
    handles = draft_handles(plan)
    outcomes = [run_auto_lora(seed_library, explorer, AutoLoraRequest(SEED_PROMPT, DiscoverOptions("sd15"), "on",
                                                                      handles[i])) for i in (0, 7, 14)]
    names = [tuple(p.name for p in o.variants[0].picks) for o in outcomes]
    assert len(set(names)) == 3 and all(len(o.variants) == 1 for o in outcomes), names
    assert {n for combo in names for n in combo} == {"fantasy_landscape.safetensors", "detailed_hair.safetensors"}
    assert "group 1" in outcomes[1].summary and outcomes[1].report["draft_group"]["drafts"] == 7
    with pytest.raises(ValueError, match="Checkpoint Explorer's 'draft' output"):
        AutoLoraRequest(SEED_PROMPT, DiscoverOptions("sd15"), "on", {"index": 0})
    with pytest.raises(ValueError, match="auto_lora must be one of"):
        AutoLoraRequest(SEED_PROMPT, DiscoverOptions("sd15"), "maybe")
