"""Learning from picks written to the generation store (batches / drafts / picks) with plain SQL: a per-LoRA
prior and per-(concept, LoRA) affinities, exposure-normalised."""

from __future__ import annotations

import json
import time

import pytest

from comfyui_lora_lab.engines.discovery import DiscoverOptions
from comfyui_lora_lab.engines.discovery.feedback import Learner, aggregate, lora_key

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


def test_one_pick_ranks_the_picked_lora_first_for_that_concept(lib):
    """Issue 15's Draft flow relies on this: a pick on a draft credits each of its LoRAs for the prompt's
    concepts, exposure-normalised, and the next prompt with that concept ranks the picked LoRA first."""
    first = top(lib, "ink wash mountains")
    other = ({"inkA.safetensors", "inkB.safetensors"} - set(first)).pop()
    database = lib._learner.database
    insert_batch(database, "b0", "ink wash mountains", [[first[0]], [other, "castle_lora.safetensors"]], [1])
    assert top(lib, "ink wash mountains")[0] == other
    assert top(lib, "ink wash river")[0] == other  # the same concept in another prompt
    assert top(lib, "ink wash mountains", use_learning=False) == first
    rows = {(r["keyword"], r["lora"]): (r["shown"], r["picked"]) for r in database.read(
        "SELECT keyword, lora, shown, picked FROM discovery_affinity")}
    assert rows[("ink", lora_key(other))] == (1, 1) and rows[("ink", lora_key(first[0]))] == (1, 0)
    assert rows[("", lora_key(other))] == (1, 1)  # the per-LoRA prior counts every engaged batch


def test_exposure_normalises_the_affinity(lib):
    """Shown in 4 batches and picked in 1 is weaker than shown once and picked once."""
    database = lib._learner.database
    for batch in range(4):
        insert_batch(database, f"a{batch}", "ink wash", [["inkA.safetensors"], ["inkB.safetensors"]],
                     [0] if batch == 0 else [1])
    affinity = lib._learner.current()
    a, a_factor = affinity.learned(["ink", "wash"], "inkA.safetensors")
    b, b_factor = affinity.learned(["ink", "wash"], "inkB.safetensors")
    assert b >= 0.5 > a and a_factor < b_factor == 1.0  # 1 of 4 is not yet a habit, and passed over 3 times
    assert top(lib, "ink wash")[0] == "inkB.safetensors"


def test_a_habitual_lora_is_added_without_prompt_evidence_only_with_learning(lib):
    database = lib._learner.database
    for batch in range(6):
        insert_batch(database, f"b{batch}", f"ink wash study {batch}", [["inkA.safetensors", "castle_lora.safetensors"],
                                                                       ["inkB.safetensors"]], [0])
    assert "castle_lora.safetensors" in top(lib, "a hill at dawn")
    assert top(lib, "a hill at dawn", use_learning=False) == []
    picks = lib.discover("a hill at dawn", DiscoverOptions(family="sd15")).picks
    assert any("learned from your picks" in reason for reason in picks[0].reasons)


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
    assert [key for key in affinity.counts if key[1]] == [] and affinity.batches == 1  # engaged, but no LoRA shown


def test_re_picking_counts_a_lora_once_per_batch_and_names_compare_loosely():
    rows = [("b1", "ink wash", json.dumps([{"name": "Ink/A.safetensors"}]), 1),
            ("b1", "ink wash", json.dumps([{"name": "ink\\a.SAFETENSORS"}]), 0),
            ("b2", "ink wash", json.dumps(["b.safetensors"]), 0), ("b2", "ink wash", "[]", 1)]
    affinity = aggregate(rows)
    assert affinity.batches == 2
    assert affinity.counts[("ink", "ink/a")] == (1, 1) and affinity.counts[("ink", "b")] == (1, 0)
    assert affinity.learned(["unseen"], "b.safetensors") == (0.0, 1.0)
    learned, factor = affinity.learned(["ink"], "b.safetensors")
    assert learned == 0.0 and factor < 1.0  # passed over for 'ink': the prompt's part is scaled down


def test_signature_changes_with_each_pick(lib):
    learner = lib._learner
    before = learner.signature()
    insert_batch(learner.database, "b", "ink", [["inkA.safetensors"]], [0])
    assert learner.signature() != before
