"""Learning from picks written to the generation store (batches / drafts / picks) with plain SQL."""

from __future__ import annotations

import json
import time

import pytest

from comfyui_lora_lab.engines.discovery import DiscoverOptions
from comfyui_lora_lab.engines.discovery.feedback import BOOST_RANGE, Learner, aggregate, lora_key

from discovery_fixtures import SD15, civitai, library, lora


def insert_batch(database, batch: str, prompt: str, drafts: list[list[str]], picked: list[int] | None) -> None:
    """A batch and its drafts; ``picked`` = indexes selected (None = the user never reacted)."""
    with database.transaction() as conn:
        conn.execute("INSERT INTO batches(id, prompt, mode, created) VALUES (?, ?, 'explore', ?)", (batch, prompt, time.time()))
        for index, loras in enumerate(drafts):
            conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras, image_filename) "
                         "VALUES (?, ?, ?, 'c.safetensors', ?, ?)",
                         (f"{batch}/{index}", batch, index, json.dumps([{"name": n, "strength": 0.7} for n in loras]),
                          f"{batch}_{index}.png"))
        for index in picked or []:
            conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES (?, 1, ?)", (f"{batch}/{index}", time.time()))


@pytest.fixture
def lib(tmp_path):
    folder = tmp_path / "loras"
    for name in ("inkA.safetensors", "inkB.safetensors"):
        lora(folder, name, metadata=SD15, sidecars=civitai("Ink", "SD 1.5", ["ink wash"], ["style"]))
    lora(folder, "castle_lora.safetensors", metadata=SD15, sidecars=civitai("Castle", "SD 1.5", ["castle"]))
    lib = library(tmp_path, folder)
    lib.refresh()
    return lib


def top(lib, prompt: str, **options) -> list[str]:
    return [p.name for p in lib.discover(prompt, DiscoverOptions(family="sd15", **options)).picks]


def test_picks_reorder_loras_of_one_concept(lib):
    first = top(lib, "ink wash mountains")
    other = ({"inkA.safetensors", "inkB.safetensors"} - set(first)).pop()
    database = lib._learner.database
    for batch in range(4):
        insert_batch(database, f"b{batch}", "ink wash mountains", [[first[0]], [other], [], [other]], [1])
    assert top(lib, "ink wash mountains") == [other]
    assert top(lib, "ink wash river") == [other]  # the same keyword in another prompt
    assert top(lib, "ink wash mountains", use_learning=False) == first
    rows = database.read("SELECT keyword, lora, shown, picked FROM discovery_affinity WHERE lora = ?", (lora_key(other),))
    assert {r["keyword"] for r in rows} == {"ink", "wash", "mountain"} and rows[0]["shown"] == 8 and rows[0]["picked"] == 4


def test_learning_never_adds_an_ungrounded_lora_or_lifts_one_over_the_threshold(lib):
    database = lib._learner.database
    for batch in range(10):
        insert_batch(database, f"b{batch}", "castle on a hill, ink wash", [["castle_lora.safetensors"], []], [0])
    assert top(lib, "a hill at dawn") == []  # 'hill' was in every picked prompt, but no LoRA names it
    before = lib.discover("castle", DiscoverOptions(family="sd15", threshold=0.99, use_learning=False))
    after = lib.discover("castle", DiscoverOptions(family="sd15", threshold=0.99))
    assert before.picks == after.picks == []


def test_batches_without_any_pick_and_bad_rows_are_ignored(lib):
    database = lib._learner.database
    insert_batch(database, "ignored", "ink wash", [["inkA.safetensors"], ["inkB.safetensors"]], None)
    with database.transaction() as conn:
        conn.execute("INSERT INTO batches(id, prompt, mode, created) VALUES ('bad', 'ink wash', 'quick', 0)")
        conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras, image_filename) "
                     "VALUES ('bad/0', 'bad', 0, 'c', 'not json', 'x.png')")
        conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras) "
                     "VALUES ('bad/1', 'bad', 1, 'c', '[{\"name\": \"inkA.safetensors\"}]')")  # never rendered: not shown
        conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES ('bad/0', 1, 0)")
    affinity = Learner(database).current()
    assert affinity.counts == {} and affinity.base_rate == 1.0


def test_re_picking_is_idempotent_and_boost_is_clamped():
    rows = [("ink wash", json.dumps([{"name": "Ink/A.safetensors"}]), 1)] * 20 + [("ink wash", "[]", 0)] * 60
    affinity = aggregate(rows)
    assert affinity.base_rate == 0.25
    assert affinity.boost(["ink"], "ink/a.SAFETENSORS") == BOOST_RANGE[1]
    never = aggregate([("ink", json.dumps(["b.safetensors"]), 0)] * 20 + [("ink", "[]", 1)] * 20)
    assert never.boost(["ink"], "b.safetensors") == BOOST_RANGE[0]
    assert never.boost(["unseen"], "b.safetensors") == 1.0


def test_signature_changes_with_each_pick(lib):
    learner = lib._learner
    before = learner.signature()
    insert_batch(learner.database, "b", "ink", [["inkA.safetensors"]], [0])
    assert learner.signature() != before
