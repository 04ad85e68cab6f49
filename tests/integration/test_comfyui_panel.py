"""The LoRA Lab panel inside a real ComfyUI frontend (1.35.9 with ComfyUI 0.8), in headless Chromium.

The tab appears in the sidebar, its stats table shows what ``/api/checkpoints/stats`` says, a draft
clicked in the panel changes ``/api/checkpoints/stats``, a run queued by another client refreshes the
panel on its own, and the text is readable in ComfyUI's dark and light palettes. Drafts come from
running the Checkpoint Explorer example workflow over two checkpoints (``COMFYUI_CHECKPOINT_B``, default
``random_sd15_b.safetensors``: a copy or symlink of the random SD1.5 checkpoint). Screenshots:
test-artifacts/comfyui-panel-{pick,dark,light}.png.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from browser import artifact, launch, missing_reason
from comfyui_client import (CHECKPOINT, COMFYUI_PATH, URL, example_prompt, get_json, loras_dir, request,
                            requires_comfyui, run_prompt)
from panel_bench import CONTRAST, TEXT_SELECTORS

pytestmark = [pytest.mark.comfyui, pytest.mark.browser, requires_comfyui]
CHECKPOINT_B = os.environ.get("COMFYUI_CHECKPOINT_B", "random_sd15_b.safetensors")
TIER = "panel_test"
RUN_TIMEOUT_MS = 900_000


def run_batch(seed: int) -> None:
    """Queue the example workflow and wait for it, off the thread that drives the browser (its own loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run_prompt(explorer_prompt(seed))).result()


def explorer_prompt(seed: int) -> dict:
    prompt = example_prompt("checkpoint_explorer.json", get_json("/object_info"))
    explorer = next(k for k, v in prompt.items() if v["class_type"] == "LoRALabCheckpointExplorer")
    prompt[explorer]["inputs"].update(tier=TIER, mode="explore", count=4, seed=seed, prompt=f"panel test {seed}")
    return prompt


@pytest.fixture(scope="module")
def drafts():
    """A two-checkpoint tier with one finished batch of four drafts."""
    folder = Path(COMFYUI_PATH) / "models" / "checkpoints"
    if COMFYUI_PATH and not (folder / CHECKPOINT_B).exists():
        os.link(folder / CHECKPOINT, folder / CHECKPOINT_B)
    installed = get_json("/object_info/CheckpointLoaderSimple")["CheckpointLoaderSimple"]["input"]["required"]
    if CHECKPOINT_B not in installed["ckpt_name"][0]:
        pytest.skip(f"put a copy or symlink of {CHECKPOINT} named {CHECKPOINT_B} in the server's checkpoints folder")
    status, body = request("PUT", "/api/lora_lab/pools", {"tiers": {TIER: {"checkpoints": [CHECKPOINT, CHECKPOINT_B]}}})
    assert status == 200, body
    run_batch(seed=11)
    return get_json("/api/lora_lab/batches?limit=1")["batches"][0]


@pytest.fixture(scope="module")
def browser():
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def open_comfyui_panel(browser, errors: list):
    """ComfyUI's page with the first-visit Templates dialog out of the way, the LoRA Lab tab open."""
    request("POST", "/api/settings/Comfy.TutorialCompleted", True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(URL + "/", wait_until="domcontentloaded")
    page.wait_for_function("() => window.app && window.app.graph && window.app.extensionManager", timeout=60_000)
    for _ in range(3):
        if page.locator(".p-dialog-mask").count() == 0:
            break
        page.keyboard.press("Escape")
        page.locator(".p-dialog-mask").first.wait_for(state="detached", timeout=5_000)
    page.click("button.lora-lab-tab-button", timeout=30_000)
    page.wait_for_selector(".ll-stats tr[data-checkpoint]", timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('.ll-thumb img')].some(i => i.complete && i.naturalWidth)",
                           timeout=30_000)
    return context, page


def panel_table(page) -> dict:
    return {row[0]: row[1:] for row in page.eval_on_selector_all(".ll-stats tr[data-checkpoint]", """rows => rows.map(r =>
        [r.dataset.checkpoint, Number(r.querySelector('[data-col=selected]').textContent),
         Number(r.querySelector('[data-col=total]').textContent)])""")}


def test_the_tab_renders_stats_and_a_pick_in_the_panel_changes_the_route(browser, drafts):
    from playwright.sync_api import expect

    errors: list = []
    context, page = open_comfyui_panel(browser, errors)
    try:
        stats = get_json("/api/checkpoints/stats")
        assert panel_table(page) == {name: [s["selected"], s["total"]] for name, s in stats.items()}
        draft = next(d for d in drafts["drafts"] if d["image"] and not d["selected"])
        card = page.locator(f'.ll-thumb[data-draft="{draft["id"]}"]')
        expect(card).to_have_attribute("aria-pressed", "false")
        card.click()
        expect(card).to_have_attribute("aria-pressed", "true")
        after = get_json("/api/checkpoints/stats")[draft["checkpoint"]]
        assert after["selected"] == stats[draft["checkpoint"]]["selected"] + 1
        assert after["total"] == stats[draft["checkpoint"]]["total"]
        rate = page.locator(f'.ll-stats tr[data-checkpoint="{draft["checkpoint"]}"] .ll-rate-text')
        expect(rate).to_have_text(f"{after['selection_rate'] * 100:.1f}%")
        page.screenshot(path=str(artifact("comfyui-panel-pick.png")))
        other = next(d for d in drafts["drafts"] if d["image"] and not d["selected"] and d["id"] != draft["id"])
        key = page.locator(f'.ll-thumb[data-draft="{other["id"]}"]')
        key.focus()  # the keyboard works inside ComfyUI too (its canvas shortcuts must not eat Space/Enter)
        page.keyboard.press("Space")
        expect(key).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Enter")
        expect(key).to_have_attribute("aria-pressed", "false")
        assert get_json("/api/checkpoints/stats")[other["checkpoint"]]["selected"] == (
            after["selected"] if other["checkpoint"] == draft["checkpoint"] else stats[other["checkpoint"]]["selected"])
        ours = [e for e in errors if "lora" in e.lower() and "Failed to load resource" not in e]
        assert not ours, ours
    finally:
        context.close()


def test_a_run_queued_elsewhere_refreshes_the_open_panel(browser, drafts):
    from playwright.sync_api import expect

    context, page = open_comfyui_panel(browser, [])
    try:
        expect(page.locator(".ll-batch").first).to_have_attribute("data-batch", drafts["id"])
        run_batch(seed=12)  # queued by another websocket client: the panel hears the broadcast `status`
        newest = get_json("/api/lora_lab/batches?limit=1")["batches"][0]["id"]
        assert newest != drafts["id"]
        expect(page.locator(".ll-batch").first).to_have_attribute("data-batch", newest, timeout=RUN_TIMEOUT_MS)
    finally:
        context.close()


@pytest.mark.parametrize("palette", ["dark", "light"])
def test_the_panel_is_readable_in_comfyuis_palettes(browser, drafts, palette):
    status, _ = request("POST", "/api/settings/Comfy.ColorPalette", palette)
    assert status == 200
    try:
        context, page = open_comfyui_panel(browser, [])
        ratios = dict(page.evaluate(CONTRAST, TEXT_SELECTORS))
        page.screenshot(path=str(artifact(f"comfyui-panel-{palette}.png")))
        context.close()
        low = {selector: round(ratio, 2) for selector, ratio in ratios.items() if ratio < 4.5}
        assert not low, low
    finally:
        request("POST", "/api/settings/Comfy.ColorPalette", "dark")


# A made-up style word only this test's LoRA carries: other tests leave their own style LoRAs (a watercolor one
# among them) in the same server's folder, and the prompt must ask for this one alone.
SWITCH_WORD = "vellumtint"
SWITCH_LORA = f"lab_panel_{SWITCH_WORD}.safetensors"


def run_draft_grid(seed: int) -> tuple[dict, str]:
    """The draft-grid example (2 drafts on the panel's tier, Auto-LoRA on 'follow panel'): history, node id."""
    prompt = example_prompt("draft_grid.json", get_json("/object_info"))
    ids = {node["class_type"]: key for key, node in prompt.items()}
    prompt[ids["LoRALabCheckpointExplorer"]]["inputs"].update(tier=TIER, count=2, seed=seed,
                                                              prompt=f"a {SWITCH_WORD} fox in the snow")
    assert prompt[ids["LoRALabAutoLoRADiscover"]]["inputs"]["auto_lora"] == "follow panel"
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run_prompt(prompt)).result(), ids["LoRALabAutoLoRADiscover"]


@pytest.fixture
def switch_lora():
    """One loadable LoRA the prompt asks for, written into the server's loras folder and indexed."""
    import time

    from comfyui_lora_lab.bench.discovery_library import write_real_lora

    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH: the test writes a LoRA into the server's loras folder")
    write_real_lora(loras_dir() / SWITCH_LORA, {"ss_base_model_version": "sd_v1",
                                                "modelspec.trigger_phrase": SWITCH_WORD})
    request("POST", "/lora_lab/loras/refresh")
    deadline = time.time() + 120
    while time.time() < deadline and not get_json(f"/lora_lab/loras?q={SWITCH_WORD}")["total"]:
        time.sleep(0.5)  # waiting on the server's background scan, not timing anything
    yield SWITCH_LORA
    (loras_dir() / SWITCH_LORA).unlink(missing_ok=True)
    request("POST", "/lora_lab/loras/refresh")


def test_the_auto_lora_switch_turns_auto_lora_off_and_on_for_a_queued_draft_grid(browser, drafts, switch_lora):
    from playwright.sync_api import expect

    before = get_json("/lora_lab/settings")
    context, page = open_comfyui_panel(browser, [])
    try:
        switch = page.locator('input[data-setting="auto_lora"]')
        expect(switch).to_be_enabled(timeout=30_000)
        for wanted in (False, True):
            if switch.is_checked() != wanted:
                switch.click()
            expect(switch).to_be_checked(checked=wanted)
            page.wait_for_function(f"() => fetch('/api/lora_lab/settings').then(r => r.json()).then(s => s.auto_lora "
                                   f"=== {str(wanted).lower()})", timeout=30_000)
            history, node = run_draft_grid(seed=20 + wanted)
            text = "\n".join(history["outputs"][node]["text"])
            batch = get_json("/api/lora_lab/batches?limit=1")["batches"][0]
            used = {lora["name"] for d in batch["drafts"] for lora in d["loras"]}
            if wanted:
                assert "Auto-LoRA off" not in text and used == {switch_lora}, (text, used)
            else:
                assert "Auto-LoRA off" in text and "switch is off" in text and used == set(), (text, used)
        page.screenshot(path=str(artifact("comfyui-panel-auto-lora-switch.png")))
    finally:
        context.close()
        request("PUT", "/lora_lab/settings", before)
