"""The discovery preview in a real browser against a seeded LoRA library: the picks shown are the right ones.

The library has real LoRA headers and sidecars (``discovery_fixtures.standard_library``), indexed before the
page opens. A prompt that names a seeded LoRA's trigger must show that LoRA as a pick: if discovery returned
nothing (an empty index, a broken route, a renderer that drops picks) the panel shows "No LoRA would be
chosen" and these tests fail.
"""

from __future__ import annotations

import pytest

from browser import missing_reason
from discovery_fixtures import standard_library
from panel_bench import CHECKPOINTS, open_panel, running_bench, seed_store

from comfyui_lora_lab.engines.lab import Lab

expect = pytest.importorskip("playwright.sync_api", reason=missing_reason() or "playwright is missing").expect


@pytest.fixture
def lab(tmp_path):
    """The panel's seeded store plus a seeded, indexed LoRA library behind the same real routes."""
    output, loras = tmp_path / "output", tmp_path / "loras"
    output.mkdir()
    standard_library(loras)
    services = Lab(data_dir=tmp_path / "data", checkpoint_names=lambda: list(CHECKPOINTS),
                        lora_dirs=lambda: [loras])
    report = services.discovery.refresh()
    assert report.read >= 9, report  # the library really is there before the browser looks
    seed_store(services, output)
    with running_bench(services, output) as running:
        yield running


def _preview(page, prompt: str):
    page.fill(".ll-discovery input", prompt)
    page.click(".ll-discovery button[type=submit]")
    results = page.locator(".ll-discovery-results")
    expect(results).not_to_have_attribute("aria-busy", "true")
    return results


@pytest.mark.parametrize("prompt,expected", [
    ("a castle on a hill, ghibli style, soft light", "ghibli"),
    ("portrait of a woman among flowers, watercolor", "watercolor"),
    ("a fox made of paper, papercut", "lora_3f9a1c"),
])
def test_a_prompt_naming_a_seeded_lora_shows_it_as_a_pick(page, lab, prompt, expected):
    open_panel(page, lab)
    expect(page.locator(".ll-discovery")).to_be_visible()
    results = _preview(page, prompt)
    picks = results.locator("ol.ll-results > li[data-lora]")
    expect(picks.first).to_be_visible()
    names = picks.evaluate_all("items => items.map(item => item.dataset.lora)")
    assert any(expected in name for name in names), names
    assert results.locator("p", has_text="No LoRA would be chosen").count() == 0
    first = picks.first
    expect(first.locator("b")).not_to_be_empty()
    expect(first.locator("span")).to_contain_text("score")


def test_a_prompt_with_nothing_to_find_shows_no_pick(page, lab):
    open_panel(page, lab)
    results = _preview(page, "a photo")
    expect(results.locator("p", has_text="No LoRA would be chosen")).to_be_visible()
    expect(results.locator("ol.ll-results > li[data-lora]")).to_have_count(0)
