// LoRA stats beside the checkpoint stats: for each LoRA, the drafts picked, the drafts shown with it and the
// rate (picked / shown, so a LoRA shown on many drafts is not favoured for that alone); drafts made without
// any LoRA are the "(no LoRA)" row, the control. Rows are keyed by LoRA and updated in place, in a box of
// fixed height (scrolling when there are many), so loading never moves the sections below. The section
// hides itself when the server has no LoRA stats route (an older pack).

import { errorBox, h } from "./dom.js";
import { statsRows } from "./panel_data.js";
import { rateRow, updateRateRow } from "./rate_rows.js";

const COLUMNS = [
  ["LoRA", ""], ["Picked", "Drafts made with this LoRA that you picked"], ["Shown", "Drafts saved with this LoRA"],
  ["Rate", "Picked / shown"],
];

class LoraStats {
  constructor(ctx) {
    this.ctx = ctx;
    this.rows = new Map();
    this.latest = 0;
    this.tbody = h("tbody");
    this.table = h("table", { class: "ll-lora-stats", attrs: { "aria-busy": "true" } },
      h("caption", { class: "ll-sr", text: "Selection rate of each LoRA" }),
      h("colgroup", {}, h("col"), h("col", { class: "ll-num" }), h("col", { class: "ll-num" }), h("col", { class: "ll-rate" })),
      h("thead", {}, h("tr", {}, COLUMNS.map(([text, title]) => h("th", { text, attrs: { scope: "col", title } })))),
      this.tbody);
    this.errorSlot = h("div");
    this.element = h("section", { class: "ll-section ll-lora-stats-section", attrs: { "aria-label": "LoRA stats" } },
      h("h3", {}, h("span", { text: "LoRA stats" })), h("div", { class: "ll-lora-box" }, this.table), this.errorSlot);
  }

  render(stats) {
    this.tbody.querySelectorAll(".ll-empty").forEach((el) => el.remove());
    const data = statsRows(stats);
    const keep = new Set(data.map((d) => d.name));
    for (const [name, row] of this.rows) if (!keep.has(name)) { row.tr.remove(); this.rows.delete(name); }
    for (const item of data) {
      if (!this.rows.has(item.name)) this.rows.set(item.name, rateRow(item.name, "lora"));
      const row = this.rows.get(item.name);
      updateRateRow(row, item);
      this.tbody.append(row.tr);
    }
    if (!data.length) {
      this.tbody.append(h("tr", { class: "ll-empty" }, h("td", {
        class: "ll-muted", text: "No drafts yet.", attrs: { colspan: 4 },
      })));
    }
  }

  async load() {
    const call = ++this.latest;
    this.table.setAttribute("aria-busy", "true");
    try {
      const stats = await this.ctx.client.loraStats();
      if (call !== this.latest) return;
      this.render(stats);
      this.errorSlot.replaceChildren("");
    } catch (err) {
      if (call !== this.latest) return;
      if (err?.routeMissing) { this.element.hidden = true; return; }
      this.errorSlot.replaceChildren(errorBox(this.ctx.report(err, "Could not load LoRA stats"), () => this.load()));
    } finally {
      if (call === this.latest) this.table.setAttribute("aria-busy", "false");
    }
  }
}

/** The LoRA stats section: {element, load()}. */
export function createLoraStats(ctx) {
  return new LoraStats(ctx);
}
