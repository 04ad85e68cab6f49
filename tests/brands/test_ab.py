"""A/B weights: arm syntax, deterministic and balanced assignment, list outputs, results from the store."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from brand_library import make_brand, sd15_model, torch_applier
from comfyui_lora_lab.engines.brands import BrandService
from comfyui_lora_lab.engines.brands.ab import apply_arm, arm_results, assign_arm, brand_experiment, parse_arms
from comfyui_lora_lab.engines.brands.entries import StackConfigError, parse_lora_configs
from comfyui_lora_lab.engines.brands.scan import BrandRoot
from comfyui_lora_lab.engines.brands.run import StackRequest, run_stack
from comfyui_lora_lab.engines.lora_inspect import Target
from comfyui_lora_lab.engines.store import Database
from comfyui_lora_lab.engines.store.generations import COMPONENT, MIGRATIONS

CHI2_99_DF2 = 9.21  # chi-square critical value, p = 0.01, 2 degrees of freedom (3 arms)


@pytest.mark.parametrize("spec,expected", [
    ("0.4, 0.6, 0.8", [("acme=0.4", {"acme": 0.4}), ("acme=0.6", {"acme": 0.6}), ("acme=0.8", {"acme": 0.8})]),
    ([0.5, 1], [("acme=0.5", {"acme": 0.5}), ("acme=1", {"acme": 1.0})]),
    ('{"subtle": 0.5, "bold": {"acme": 0.9, "acme/product": 0.7}}',
     [("subtle", {"acme": 0.5}), ("bold", {"acme": 0.9, "acme/product": 0.7})]),
    ({"acme": [0.4, 0.8], "acme/product": [0.3]},
     [("acme=0.4,acme/product=0.3", {"acme": 0.4, "acme/product": 0.3}),
      ("acme=0.8,acme/product=0.3", {"acme": 0.8, "acme/product": 0.3})]),
    ("", []),
    (None, []),
])
def test_arm_forms(spec, expected):
    assert [(arm.name, dict(arm.weights)) for arm in parse_arms(spec, "acme")] == expected


@pytest.mark.parametrize("spec,primary,message", [
    ("0.4, lots", "acme", "must be weights like"),
    ("0.4, 1.4", "acme", "outside the allowed range"),
    ('{"a": 0.5, "b": [0.1]}', "acme", "not a mix"),
    ('{"a": ', "acme", "is not valid JSON"),
    ("0.5", None, "no brand is selected"),
    ({"": 0.5}, "acme", "arm names must be 1 to 64 characters"),
    ({"acme": [0.1, 0.2, 0.3, 0.4, 0.5], "b": [0.1, 0.2, 0.3, 0.4]}, "acme", "makes 20 arms; the limit is 16"),
])
def test_bad_arms_are_refused(spec, primary, message):
    with pytest.raises(StackConfigError, match=message):
        parse_arms(spec, primary)


def test_an_arm_must_name_entries_of_the_stack():
    entries = parse_lora_configs("acme: 0.8\nacme/product: 0.5")
    arm = parse_arms({"x": {"acme/product": 0.1}}, "acme")[0]
    assert [(e.label, e.weight, e.clip_strength) for e in apply_arm(entries, arm)] == [("acme", 0.8, 0.8),
                                                                                      ("acme/product", 0.1, 0.1)]
    with pytest.raises(StackConfigError, match=r"sets \['beta'\], which the stack does not hold"):
        apply_arm(entries, parse_arms({"x": {"beta": 0.1}}, "acme")[0])


def test_assignment_is_deterministic_and_balanced():
    arms = parse_arms("0.4, 0.6, 0.8", "acme")
    assert all(assign_arm(arms, key) == assign_arm(arms, key) for key in range(100))
    counts = Counter(assign_arm(arms, f"session-{n}").name for n in range(10_000))
    chi2 = sum((count - 10_000 / 3) ** 2 / (10_000 / 3) for count in counts.values())
    assert len(counts) == 3 and chi2 < CHI2_99_DF2, counts
    other = parse_arms("0.4, 0.6, 0.9", "acme")  # a new arm set is a new experiment
    assert [assign_arm(arms, k).name[-3:] for k in range(30)] != [assign_arm(other, k).name[-3:] for k in range(30)]


@pytest.fixture
def service(tmp_path):
    root = tmp_path / "loras" / "brands"
    make_brand(root, "acme", {"style.safetensors": 0, "product.safetensors": 1},
               metadata={"ab_arms": {"subtle": 0.4, "bold": 0.9}})
    return BrandService(lambda: [BrandRoot(root, "brands")])


def test_all_arms_renders_one_output_per_arm_and_loads_each_file_once(service):
    request = StackRequest("acme", 0.8, "acme/product: 0.5", ab_mode="all arms")
    out = run_stack(service, request, sd15_model(), None, [], torch_applier, Target("sd15", "sd15"))
    assert [r.arm for r in out.reports] == ["subtle", "bold"]
    assert out.stacks == [[("brands/acme/style.safetensors", 0.4, 0.4), ("brands/acme/product.safetensors", 0.5, 0.5)],
                          [("brands/acme/style.safetensors", 0.9, 0.9), ("brands/acme/product.safetensors", 0.5, 0.5)]]
    assert len(out.models) == 2 and out.models[0] is not out.models[1]
    snap = service.cache.snapshot()
    assert (snap["misses"], snap["hits"]) == (2, 2)


def test_assign_by_key_picks_one_arm_from_the_key(service):
    def arm_for(key):
        request = StackRequest("acme", 0.8, ab_mode="assign by key", ab_arms="0.2, 0.5, 0.7", ab_key=key)
        out = run_stack(service, request, sd15_model(), None, [], torch_applier, Target())
        return [r.arm for r in out.reports]

    arms = {key: arm_for(key) for key in range(6)}
    assert all(len(arm) == 1 for arm in arms.values()) and len({a[0] for a in arms.values()}) > 1
    assert arm_for(3) == arms[3]


def test_ab_needs_arms(service, tmp_path):
    make_brand(tmp_path / "loras" / "brands", "plain")
    with pytest.raises(StackConfigError, match="needs arms"):
        StackRequest("plain", ab_mode="all arms").check(service)
    request = StackRequest("ghost", ab_mode="all arms")  # a missing brand (not strict): one plain fallback output
    assert [arm for arm, _ in request.arms(service)] == [None]


def _record(db: Database, draft: str, loras: list, selected: int | None) -> None:
    db.migrate(COMPONENT, MIGRATIONS)
    with db.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO batches(id, prompt, mode, created) VALUES ('b1', 'p', 'quick', ?)",
                     (time.time(),))
        index = conn.execute("SELECT COUNT(*) FROM drafts").fetchone()[0]
        conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras) VALUES (?, 'b1', ?, 'sd15', ?)",
                     (draft, index, json.dumps(loras)))
        if selected is not None:
            conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES (?, ?, ?)", (draft, selected, 1.0))


def test_per_arm_results_come_from_drafts_and_picks(service, tmp_path):
    db = Database(tmp_path / "lora_lab.sqlite")
    style, product = "brands/acme/style.safetensors", "brands/acme/product.safetensors"
    _record(db, "d1", [{"name": style, "strength": 0.4}], 1)
    _record(db, "d2", [{"name": style, "strength": 0.4}, {"name": "other.safetensors", "strength": 1}], 0)
    _record(db, "d3", [{"name": "acme/style.safetensors", "strength": 0.9}], 1)  # a shorter name still matches
    _record(db, "d4", [{"name": style, "strength": 0.9}], None)
    _record(db, "d5", [{"name": "style.safetensors", "strength": 0.9}], 1)  # a bare file name is ambiguous
    _record(db, "d6", [{"name": style, "strength": 0.6}], 1)  # no arm
    with db.transaction() as conn:  # rows another capability wrote badly are skipped, not fatal
        conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras) VALUES ('d7', 'b1', 99, 'x', 'oops')")
    body = brand_experiment(service.library, db, "acme")
    results = {arm["arm"]: (arm["drafts"], arm["picked"], arm["rejected"], arm["unjudged"], arm["pick_rate"])
               for arm in body["arms"]}
    assert results == {"subtle": (2, 1, 1, 0, 0.5), "bold": (2, 1, 0, 1, 1.0)}
    assert arm_results(db, [("both", [(style, 0.4), (product, 0.5)])])[0]["drafts"] == 0


def test_node_reports_arm_results(service, tmp_path):
    db = Database(tmp_path / "lora_lab.sqlite")
    _record(db, "d1", [{"name": "brands/acme/style.safetensors", "strength": 0.9}], 1)
    request = StackRequest("acme", ab_mode="all arms")
    out = run_stack(service, request, sd15_model(), None, [], torch_applier, Target(), database=db)
    assert [r.results["picked"] for r in out.reports] == [0, 1]
    assert "results: 1 drafts, 1 picked" in out.text()
