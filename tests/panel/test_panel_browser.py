"""The LoRA Lab panel in real headless Chromium over the pack's real routes and a seeded SQLite store.

What a user sees: the stats table per tier, labelled thumbnails, a pick (click, keyboard, multi-select)
changing the rate in place and in the store, the switches persisting after a reload (where the Checkpoint
Explorer node reads them), route errors as toasts with the route's message, a finished run refreshing
the panel, no layout shift while loading, readable text in ComfyUI's dark and light palettes.
Screenshots land in test-artifacts/ (look at them).
"""

from __future__ import annotations

import pytest

from browser import artifact, missing_reason
from panel_bench import CONTRAST, POOLS, TEXT_SELECTORS, add_batch, open_panel

from comfyui_lora_lab.server_routes import all_routes

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason=missing_reason() or "playwright is missing").expect

# tier -> checkpoint -> (picked, shown, rate text, bar width)
EXPECTED_STATS = {
    "": {"alpha.safetensors": ("1", "4", "25.0%", "25%"), "beta.safetensors": ("2", "5", "40.0%", "40%"),
         "gamma.safetensors": ("1", "1", "100.0%", "100%")},
    "sd15_draft": {"alpha.safetensors": ("1", "4", "25.0%", "25%"), "beta.safetensors": ("2", "4", "50.0%", "50%")},
    "sdxl_standard": {"beta.safetensors": ("0", "1", "0.0%", "0%"), "gamma.safetensors": ("1", "1", "100.0%", "100%")},
}
READ_TABLE = """rows => rows.map(r => [r.dataset.checkpoint, r.querySelector('[data-col=selected]').textContent,
  r.querySelector('[data-col=total]').textContent, r.querySelector('.ll-rate-text').textContent,
  r.querySelector('.ll-bar > span').style.width])"""


def stats_table(page) -> dict:
    return {row[0]: tuple(row[1:]) for row in page.eval_on_selector_all(".ll-stats tr[data-checkpoint]", READ_TABLE)}


def rate_cell(page, checkpoint: str):
    return page.locator(f'.ll-stats tr[data-checkpoint="{checkpoint}"] .ll-rate-text')


def expect_rate(page, checkpoint: str, text: str) -> None:
    expect(rate_cell(page, checkpoint)).to_have_text(text)


def store_counts(lab, checkpoint: str) -> tuple[int, int]:
    stats = lab.services.explorer.stats()[checkpoint]
    return stats["selected"], stats["total"]


@pytest.mark.parametrize("tier", list(EXPECTED_STATS))
def test_stats_table_shows_the_stores_numbers_per_tier(page, lab, tier):
    open_panel(page, lab)
    tiers = page.eval_on_selector_all("[data-role=tier] option", "os => os.map(o => o.value)")
    assert tiers == ["", *POOLS["tiers"]]
    if tier:
        page.select_option("[data-role=tier]", tier)
        expect(page.locator(".ll-stats tr[data-checkpoint]")).to_have_count(len(EXPECTED_STATS[tier]))
        expect_rate(page, next(iter(EXPECTED_STATS[tier])), next(iter(EXPECTED_STATS[tier].values()))[2])
    assert stats_table(page) == EXPECTED_STATS[tier]
    assert page.locator(".ll-stats tr[data-checkpoint] td[data-col=checkpoint]").first.text_content() in {"alpha", "beta"}


def test_drafts_are_thumbnails_from_view_labelled_with_checkpoint_and_loras(page, lab, page_errors):
    open_panel(page, lab)
    assert page.eval_on_selector_all(".ll-batch", "bs => bs.map(b => b.dataset.batch)") == ["b2", "b1", "b0"]
    fox = page.locator('.ll-card:has([data-draft="b1-0"]) .ll-caption span')
    expect(fox).to_have_text(["alpha", "fox_style 0.7 + sharp 0.5"])
    expect(page.locator('.ll-card:has([data-draft="b2-3"]) .ll-caption span')).to_have_text(["beta", "no LoRA"])
    expect(page.locator('.ll-batch[data-batch="b1"] .ll-batch-head b')).to_have_text("a red fox in the snow")
    page.wait_for_function("() => [...document.querySelectorAll('.ll-thumb img')].every(i => i.complete && i.naturalWidth === 64)")
    src = page.get_attribute('[data-draft="b1-0"] img', "src")
    assert src == "/api/view?filename=b1_00.png&type=output"
    pressed = page.eval_on_selector_all(".ll-thumb[aria-pressed=true]", "ts => ts.map(t => t.dataset.draft)")
    assert sorted(pressed) == ["b0-1", "b1-0", "b1-2", "b2-2"]
    assert not [e for e in page_errors if "Failed to load resource" not in e]


def test_a_click_picks_a_draft_and_the_rate_changes_in_place_and_in_the_store(page, lab):
    open_panel(page, lab)
    row = page.locator('.ll-stats tr[data-checkpoint="alpha.safetensors"]')
    row_handle = row.element_handle()
    page.click('[data-draft="b2-0"]')
    expect(page.locator('[data-draft="b2-0"]')).to_have_attribute("aria-pressed", "true")
    expect_rate(page, "alpha.safetensors", "50.0%")
    assert stats_table(page)["alpha.safetensors"] == ("2", "4", "50.0%", "50%")
    assert store_counts(lab, "alpha.safetensors") == (2, 4)
    assert row.element_handle().evaluate("(el, old) => el === old", row_handle), "the row was replaced, not updated"
    page.click('[data-draft="b2-0"]')  # again: unmark
    expect_rate(page, "alpha.safetensors", "25.0%")
    assert store_counts(lab, "alpha.safetensors") == (1, 4)


def test_keyboard_and_multi_select_pick_several_drafts_at_once(page, lab):
    open_panel(page, lab)
    page.focus('[data-draft="b2-1"]')
    page.keyboard.press("Space")
    expect_rate(page, "alpha.safetensors", "50.0%")
    page.check('[data-select="b1-1"]')
    page.click('[data-draft="b1-3"]', modifiers=["Control"])
    expect(page.locator(".ll-bulk .ll-count")).to_have_text("2 selected")
    assert store_counts(lab, "alpha.safetensors") == (2, 4), "a modifier click selects, it does not pick"
    page.click("[data-action=pick]")
    expect_rate(page, "beta.safetensors", "60.0%")
    expect_rate(page, "alpha.safetensors", "75.0%")
    expect(page.locator(".ll-bulk .ll-count")).to_have_text("0 selected")
    assert store_counts(lab, "alpha.safetensors") == (3, 4) and store_counts(lab, "beta.safetensors") == (3, 5)
    page.select_option("[data-role=tier]", "sd15_draft")  # a tier view is re-read from the route after a pick
    expect_rate(page, "beta.safetensors", "75.0%")
    page.click('[data-draft="b1-3"]')
    expect_rate(page, "beta.safetensors", "50.0%")


def test_switches_persist_after_reload_where_the_node_reads_them(page, lab):
    open_panel(page, lab)
    quick = page.locator("input[data-setting=mode][value=quick]")
    expect(quick).to_be_enabled()
    page.click(".ll-segmented label:has-text('Quick')")
    expect(quick).to_be_checked()
    expect(quick).to_be_enabled()
    page.click("input[data-setting=auto_lora]")
    expect(page.locator("input[data-setting=auto_lora]")).to_be_enabled()
    settings = lab.services.explorer.settings()
    assert (settings.mode, settings.auto_lora, settings.prompt_categories) == ("quick", True, False)
    page.reload()
    open_panel(page, lab)
    expect(quick).to_be_checked()
    expect(page.locator("input[data-setting=auto_lora]")).to_be_checked()
    page.focus("input[data-setting=mode][value=quick]")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("input[data-setting=mode][value=explore]")).to_be_checked()
    expect(quick).to_be_enabled()
    assert lab.services.explorer.settings().mode == "explore"


def test_route_errors_are_toasts_with_the_routes_message_and_the_panel_stays(page, lab):
    open_panel(page, lab)
    with lab.services.database.transaction() as conn:
        conn.execute("DELETE FROM batches WHERE id = 'b2'")
    page.click('[data-draft="b2-0"]')
    toast = page.locator(".standin-toast").last
    expect(toast).to_have_text("LoRA Lab: Could not record the pick: unknown draft id(s): b2-0")
    expect(page.locator('[data-draft="b2-0"]')).to_have_attribute("aria-pressed", "false")
    lab.services.explorer.pools_path.write_text("{not json")
    page.click("[data-action=refresh]")
    inline = page.locator(".ll-stats-section .ll-error")
    expect(inline).to_contain_text("not valid JSON")
    expect(page.locator(".standin-toast").last).to_contain_text("checkpoint_pools.json: not valid JSON")
    assert page.locator(".standin-toast").last.get_attribute("data-severity") == "error"
    expect(page.locator(".ll-stats tr[data-checkpoint]")).to_have_count(3)  # last good numbers stay
    expect(page.locator(".ll-batch")).to_have_count(2)  # the gallery still loads (b2 is gone)
    page.screenshot(path=str(artifact("panel-error.png")))
    lab.services.explorer.set_pools(POOLS)
    inline.locator("button", has_text="Retry").click()
    expect(inline).to_have_count(0)


def test_a_finished_run_refreshes_stats_and_drafts(page, lab):
    open_panel(page, lab)
    add_batch(lab, "b3", "sdxl_standard", ["gamma", "gamma"], picked=[0])
    page.evaluate("() => window.standinApi.emit('execution_success', {prompt_id: 'p1'})")
    expect(page.locator(".ll-batch").first).to_have_attribute("data-batch", "b3")
    expect_rate(page, "gamma.safetensors", "66.7%")
    add_batch(lab, "b4", "sd15_draft", ["beta"], picked=[])
    page.evaluate("""() => {  // a run queued by another client: only the broadcast queue status tells
      window.standinApi.emit('status', {exec_info: {queue_remaining: 1}});
      window.standinApi.emit('status', {exec_info: {queue_remaining: 0}});
    }""")
    expect(page.locator(".ll-batch").first).to_have_attribute("data-batch", "b4")
    expect_rate(page, "beta.safetensors", "33.3%")


def test_a_reopened_tab_listens_once(page, lab):
    open_panel(page, lab)
    page.click("button.lora-lab-tab-button")  # close: destroy()
    expect(page.locator("[data-lora-lab-panel]")).to_have_count(0)
    page.click("button.lora-lab-tab-button")
    page.wait_for_selector(".ll-thumb img")
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/api/lora_lab/batches" in r.url else None)
    with page.expect_response(lambda r: "/api/lora_lab/batches" in r.url):
        page.evaluate("() => window.standinApi.emit('execution_success', {prompt_id: 'p2'})")
    assert len(requests) == 1, requests


def test_loading_shows_placeholders_without_layout_shift(page, lab):
    page.add_init_script("""window.__shifts = [];
      new PerformanceObserver(list => window.__shifts.push(...list.getEntries().map(e => e.value)))
        .observe({type: 'layout-shift', buffered: true});""")
    page.goto(lab.url)
    page.wait_for_function("() => window.__extensionsLoaded")
    lab.hold()
    page.evaluate("() => document.querySelector('button.lora-lab-tab-button').click()")  # not user input: counted
    expect(page.locator(".ll-stats .ll-placeholder")).to_have_count(3)
    expect(page.locator(".ll-gallery .ll-placeholder")).to_have_count(1)
    expect(page.locator("input[data-setting=auto_lora]")).to_be_disabled()
    heads = "() => [...document.querySelectorAll('.ll-stats-section > h3, .ll-gallery > h3')].map(h => h.getBoundingClientRect().top)"
    before = page.evaluate(heads)
    page.screenshot(path=str(artifact("panel-loading.png")))
    lab.release()
    page.wait_for_selector(".ll-stats tr[data-checkpoint]")
    page.wait_for_function("() => [...document.querySelectorAll('.ll-thumb img')].every(i => i.complete)")
    expect(page.locator("input[data-setting=auto_lora]")).to_be_enabled()
    assert page.evaluate(heads) == before
    lab.hold()
    page.click("[data-action=refresh]")
    expect(page.locator(".ll-stats")).to_have_attribute("aria-busy", "true")
    expect(page.locator(".ll-stats tr[data-checkpoint]")).to_have_count(3)  # a refresh keeps the rows
    lab.release()
    expect(page.locator(".ll-stats")).to_have_attribute("aria-busy", "false")
    assert sum(page.evaluate("() => window.__shifts")) < 0.01


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_text_is_readable_in_comfyuis_dark_and_light_palettes(page, lab, theme):
    open_panel(page, lab, theme)
    page.wait_for_function("() => [...document.querySelectorAll('.ll-thumb img')].every(i => i.complete)")
    ratios = dict(page.evaluate(CONTRAST, TEXT_SELECTORS))
    low = {selector: round(ratio, 2) for selector, ratio in ratios.items() if ratio < 4.5}
    assert not low, f"text below WCAG AA contrast (4.5) in the {theme} palette: {low}"
    page.screenshot(path=str(artifact(f"panel-{theme}.png")))


def test_discovery_and_cache_sections_follow_their_routes(page, lab):
    open_panel(page, lab)
    paths = {route.path for route in all_routes(lab.services)}
    discovery, cache = page.locator(".ll-discovery"), page.locator(".ll-cache")
    if "/lora_lab/discover" in paths:
        expect(discovery).to_be_visible()  # its picks: test_panel_discovery_preview.py (seeded library)
    else:
        page.wait_for_selector(".ll-discovery[data-detected=true]", state="attached")
        expect(discovery).to_be_hidden()
    page.wait_for_selector(".ll-cache[data-loaded=true]", state="attached")
    if "/lora/cache/stats" in paths:
        expect(cache.locator("dt").first).to_have_text("Hit rate")
    else:
        expect(cache).to_be_hidden()
