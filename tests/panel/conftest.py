"""Fixtures of the panel's browser tests (the bench itself is ``tests/panel_bench.py``)."""

from __future__ import annotations

import pytest

from browser import launch, missing_reason
from panel_bench import CHECKPOINTS, running_bench, seed_store

from comfyui_lora_lab.engines.lab import Lab


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: playwright's sync API keeps an event loop running while it is open, which
    the asyncio tests of other modules must not inherit."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def lab(tmp_path):
    """The seeded store behind the pack's real routes, served with the panel (see panel_bench)."""
    output = tmp_path / "output"
    output.mkdir()
    services = Lab(data_dir=tmp_path / "data", checkpoint_names=lambda: list(CHECKPOINTS))
    seed_store(services, output)
    with running_bench(services, output) as running:
        yield running


@pytest.fixture
def page_errors():
    """Uncaught exceptions and console errors of the page (tests check it stays empty where it should)."""
    return []


@pytest.fixture
def page(browser, lab, page_errors):
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on("console", lambda msg: page_errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
