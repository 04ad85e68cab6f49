"""Planning batches through the Explorer service: recorded plans, follow-the-panel, categories, refusals."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.explorer import Explorer, PlanRequest
from comfyui_lora_lab.engines.explorer.categories import prompt_category
from comfyui_lora_lab.engines.store import Database
from comfyui_lora_lab.engines.store import generations as g

INSTALLED = ["a.safetensors", "b.safetensors", "c.safetensors", "solo.safetensors"]


@pytest.fixture
def explorer(tmp_path):
    ex = Explorer(Database(tmp_path / "lab.sqlite"), tmp_path / "pools.json", lambda: INSTALLED)
    ex.set_pools({"tiers": {"t": {"checkpoints": INSTALLED[:3], "default": "b.safetensors"}}})
    return ex


def _batches(explorer):
    g.ensure_schema(explorer.db)
    return explorer.db.read("SELECT COUNT(*) AS n FROM batches")[0]["n"]


def test_a_plan_is_recorded_with_its_drafts(explorer):
    plan = explorer.plan(PlanRequest("t", 20, "explore", seed=3, prompt="portrait of an old man"))
    assert plan.to_dict()["total_count"] == 20 and sorted(plan.distribution.values()) == [6, 7, 7]
    assert plan.category == "portrait"
    recent = explorer.recent(1)[0]
    assert recent["id"] == plan.batch_id and len(recent["drafts"]) == 20
    assert [d["checkpoint"] for d in recent["drafts"]] == [d.checkpoint for d in plan.drafts]
    assert recent["drafts"][0]["label"] == plan.drafts[0].checkpoint.removesuffix(".safetensors")


def test_follow_panel_reads_the_settings(explorer):
    assert explorer.plan(PlanRequest("t", 4, "panel")).mode == "explore"
    explorer.update_settings({"mode": "quick"})
    quick = explorer.plan(PlanRequest("t", 4, "panel"))
    assert quick.mode == "quick" and quick.distribution == {"b.safetensors": 4}  # the tier's default


def test_unrecorded_plans_are_recorded_on_request(explorer):
    plan = explorer.plan(PlanRequest("t", 3, "explore"), record=False)
    assert _batches(explorer) == 0
    explorer.record(plan)
    explorer.require_batch(plan.batch_id)
    with pytest.raises(KeyError, match="not recorded"):
        explorer.require_batch("nope")


@pytest.mark.parametrize("request_kwargs,error,match", [
    ({"tier": "nope", "count": 4}, KeyError, "unknown tier"),
    ({"tier": "single", "count": 4, "mode": "explore"}, ValueError, "explore needs at least 2"),
    ({"tier": "t", "count": 0}, ValueError, "count"),
    ({"tier": "t", "count": 4, "mode": "sideways"}, ValueError, "mode"),
    ({"tier": "t", "count": 4, "seed": -1}, ValueError, "seed"),
])
def test_unservable_requests_record_nothing(explorer, request_kwargs, error, match):
    (explorer.pools_path).write_text('{"tiers": {"t": {"checkpoints": ["a.safetensors", "b.safetensors"]}, '
                                     '"single": {"checkpoints": ["solo.safetensors", "gone.safetensors"]}}}')
    with pytest.raises(error, match=match):
        explorer.plan(PlanRequest(**request_kwargs))
    assert _batches(explorer) == 0


def test_quick_works_with_one_installed_checkpoint(explorer):
    explorer.pools_path.write_text('{"tiers": {"single": {"checkpoints": ["solo.safetensors", "gone.safetensors"]}}}')
    plan = explorer.plan(PlanRequest("single", 2, "quick"))
    assert plan.distribution == {"solo.safetensors": 2} and plan.missing == ("gone.safetensors",)


def test_stats_list_installed_pool_members_with_zeros_and_picks_move_them(explorer):
    plan = explorer.plan(PlanRequest("t", 4, "explore", seed=1))
    explorer.record_images(plan.batch_id, [g.DraftImage(d.index, d.checkpoint, g.ImageRef(f"{d.index}.png"))
                                           for d in plan.drafts])
    first = plan.drafts[0]
    result = explorer.pick([g.draft_id(plan.batch_id, 0)], True)
    assert result["changed"] == 1 and result["stats"][first.checkpoint]["selected"] == 1
    stats = explorer.stats()
    assert set(stats) == set(INSTALLED[:3])
    assert stats[first.checkpoint] == {"selected": 1, "total": plan.distribution[first.checkpoint],
                                       "selection_rate": round(1 / plan.distribution[first.checkpoint], 4)}
    assert explorer.stats("t") == stats


def test_prompt_categories_steer_the_plan_when_switched_on(explorer):
    explorer.update_settings({"prompt_categories": True})
    for n in range(12):  # portraits: the user always picks a; landscapes: always c
        for prompt, favourite in (("portrait of a woman", "a.safetensors"), ("mountain landscape", "c.safetensors")):
            plan = explorer.plan(PlanRequest("t", 6, "explore", seed=n, prompt=prompt))
            images = [g.DraftImage(d.index, d.checkpoint, g.ImageRef(f"{d.index}.png")) for d in plan.drafts]
            ids = explorer.record_images(plan.batch_id, images)
            liked = [i for i, d in zip(ids, plan.drafts) if d.checkpoint == favourite]
            explorer.pick(liked or ids[:1], bool(liked))
    portrait = explorer.plan(PlanRequest("t", 20, "explore", seed=99, prompt="portrait of a man"))
    landscape = explorer.plan(PlanRequest("t", 20, "explore", seed=99, prompt="a landscape with a river"))
    assert max(portrait.distribution, key=portrait.distribution.get) == "a.safetensors"
    assert max(landscape.distribution, key=landscape.distribution.get) == "c.safetensors"


@pytest.mark.parametrize("prompt,category", [
    ("Portrait of a woman, studio light", "portrait"), ("misty mountains over a valley", "landscape"),
    ("anime girl, cel shading", "anime"), ("perfume bottle packshot", "product"), ("a cat", ""),
])
def test_prompt_categories(prompt, category):
    assert prompt_category(prompt) == category


@pytest.mark.parametrize("changes,match", [({"mode": "panel"}, "settings.mode"), ({"auto_lora": "yes"}, "auto_lora"),
                                           ({"colour": "red"}, "unknown setting")])
def test_bad_settings_are_refused(explorer, changes, match):
    with pytest.raises(ValueError, match=match):
        explorer.update_settings(changes)
    assert explorer.settings().to_dict() == {"mode": "explore", "auto_lora": False, "prompt_categories": False}
