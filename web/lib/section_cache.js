// The brand LoRA cache's counters (GET /lora/cache/stats), refreshed with the rest of the panel.
// Hidden while that route does not exist on this server; shown with an inline error if it fails.

import { errorBox, h } from "./dom.js";
import { cacheRows } from "./panel_data.js";

export function createCache(ctx) {
  const list = h("dl", { class: "ll-dl" });
  const errorSlot = h("div");
  const element = h("section", { class: "ll-section ll-cache", attrs: { "aria-label": "Brand LoRA cache", hidden: true } },
    h("h3", {}, h("span", { text: "Brand LoRA cache" })), list, errorSlot);

  async function load() {
    element.dataset.loaded = "false";
    try {
      const stats = await ctx.client.cacheStats();
      list.replaceChildren(...cacheRows(stats).flatMap(([label, value]) => [h("dt", { text: label }), h("dd", { text: value })]));
      errorSlot.replaceChildren();
      element.hidden = false;
    } catch (err) {
      if (err.routeMissing) {
        element.hidden = true;
        return;
      }
      element.hidden = false;
      errorSlot.replaceChildren(errorBox(ctx.report(err, "Could not load the brand cache stats"), load));
    } finally {
      element.dataset.loaded = "true";
    }
  }

  return { element, load };
}
