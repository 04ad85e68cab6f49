// The LoRA Lab panel: composes the sections, refreshes them on demand and when a run finishes, and turns
// route errors into toasts (plus an inline message in the section, so the panel is never blank).
// `mountPanel(root, deps)` draws into `root` and returns {refresh, destroy}; the sidebar tab calls it from
// render() and destroys it when the tab closes. deps: {client, notify(message), prefs, events, now?}.

import { h } from "./dom.js";
import { coalesce, queueDrained } from "./panel_data.js";
import { ensureStyles } from "./panel_styles.js";
import { createCache } from "./section_cache.js";
import { createDiscovery } from "./section_discovery.js";
import { createGallery } from "./section_gallery.js";
import { createLoraStats } from "./section_lora_stats.js";
import { createStats } from "./section_stats.js";
import { createSwitches } from "./section_switches.js";

// ComfyUI events that end a run queued from this browser tab; `status` (broadcast) covers runs queued elsewhere.
const RUN_END_EVENTS = ["execution_success", "execution_error", "execution_interrupted"];

/** Call `onRunEnd` whenever a run ends; returns the function that stops listening. */
function listenForRunEnds(events, onRunEnd) {
  let queueRemaining;
  const onStatus = (event) => {
    const seen = queueDrained(queueRemaining, event.detail);
    queueRemaining = seen.remaining;
    if (seen.drained) onRunEnd();
  };
  const listeners = [...RUN_END_EVENTS.map((type) => [type, onRunEnd]), ["status", onStatus]];
  for (const [type, fn] of listeners) events.addEventListener(type, fn);
  return () => listeners.forEach(([type, fn]) => events.removeEventListener(type, fn));
}

/** What every section gets: the client, preferences, a clock, announcements and error reporting. */
function sectionContext(deps, live) {
  return {
    client: deps.client,
    prefs: deps.prefs,
    now: deps.now ?? (() => Date.now() / 1000),
    announce(text) { live.textContent = text; },
    /** Toast the route's message and return it for the section's inline error. */
    report(err, what) {
      const message = `${what}: ${err?.message ?? err}`;
      deps.notify({ severity: "error", summary: "LoRA Lab", detail: message });
      return message;
    },
  };
}

export function mountPanel(root, deps) {
  ensureStyles(root.ownerDocument);
  const live = h("p", { class: "ll-sr", attrs: { "aria-live": "polite", "data-role": "announce" } });
  const updated = h("span", { class: "ll-updated", attrs: { "data-role": "updated" } });
  const ctx = sectionContext(deps, live);
  const stats = createStats(ctx);
  const loraStats = createLoraStats(ctx);
  ctx.onPicked = (changed) => Promise.all([stats.applyPicked(changed), loraStats.load()]);
  const [switches, gallery, discovery, cache] = [createSwitches, createGallery, createDiscovery, createCache].map((f) => f(ctx));

  // The optional sections sit below the drafts and are drawn only after them, so the drafts' height (unknown
  // until they arrive) never pushes visible content around while loading.
  let detected = false;
  const refresh = coalesce(async () => {
    await Promise.all([stats.load(), loraStats.load(), gallery.load()]);
    if (!detected) {
      detected = true;
      await discovery.detect();
    }
    await cache.load();
    updated.textContent = `updated ${new Date(ctx.now() * 1000).toLocaleTimeString()}`;
  });
  const refreshButton = h("button", {
    class: "ll-button", text: "\u27f3 Refresh", on: { click: () => refresh() },
    attrs: { type: "button", "aria-label": "Refresh stats and drafts", "data-action": "refresh" },
  });
  const panel = h("div", { class: "ll-panel", attrs: { "data-lora-lab-panel": "" } },
    h("div", { class: "ll-header" }, h("h2", { text: "LoRA Lab" }), updated, refreshButton),
    switches.element, stats.element, loraStats.element, gallery.element, discovery.element, cache.element, live);
  root.replaceChildren(panel);

  const stopListening = listenForRunEnds(deps.events, () => { if (deps.prefs.refreshAfterRun()) refresh(); });
  switches.load();
  refresh();
  return {
    refresh,
    destroy() {
      stopListening();
      panel.remove();
    },
  };
}
