// Checkpoint stats per tier: drafts picked, drafts shown and the selection rate (text and a bar) of each
// checkpoint. Rows are keyed by checkpoint and updated in place (a pick or a refresh changes numbers, never
// the layout); three placeholder rows hold the space until the first answer.

import { errorBox, h } from "./dom.js";
import { ALL_TIERS, mergeStats, poolsNote, statsRows } from "./panel_data.js";
import { rateRow, updateRateRow } from "./rate_rows.js";

const PLACEHOLDER_ROWS = 3;
const COLUMNS = [
  ["Checkpoint", ""], ["Picked", "Drafts you picked as favourites"], ["Shown", "Drafts saved with an image"],
  ["Rate", "Picked / shown"],
];

function placeholderRow() {
  const cell = () => h("td", {}, h("span", { class: "ll-skeleton ll-skeleton-line" }));
  return h("tr", { class: "ll-placeholder", attrs: { "aria-hidden": "true" } }, cell(), cell(), cell(), cell());
}

function statsTable(tbody) {
  return h("table", { class: "ll-stats", attrs: { "aria-busy": "true" } },
    h("caption", { class: "ll-sr", text: "Selection rate of each checkpoint" }),
    h("colgroup", {}, h("col"), h("col", { class: "ll-num" }), h("col", { class: "ll-num" }), h("col", { class: "ll-rate" })),
    h("thead", {}, h("tr", {}, COLUMNS.map(([text, title]) => h("th", { text, attrs: { scope: "col", title } })))),
    tbody);
}

class Stats {
  constructor(ctx) {
    this.ctx = ctx;
    this.tier = ALL_TIERS;
    this.stats = null;
    this.pools = null;
    this.latest = 0;
    this.rows = new Map();
    this.select = h("select", {
      class: "ll-select", attrs: { "aria-label": "Tier", "data-role": "tier" },
      on: { change: () => { this.tier = this.select.value; this.stats = null; this.load(); } },
    }, h("option", { text: "All tiers", attrs: { value: ALL_TIERS } }));
    this.tbody = h("tbody", {}, Array.from({ length: PLACEHOLDER_ROWS }, placeholderRow));
    this.table = statsTable(this.tbody);
    this.note = h("p", { class: "ll-note" });
    this.errorSlot = h("div");
    this.element = h("section", { class: "ll-section ll-stats-section", attrs: { "aria-label": "Checkpoint stats" } },
      h("h3", {}, h("span", { text: "Checkpoint stats" }), this.select), this.table, this.note, this.errorSlot);
  }

  renderTiers() {
    const names = Object.keys(this.pools?.tiers ?? {});
    if (this.tier !== ALL_TIERS && !names.includes(this.tier)) this.tier = ALL_TIERS;
    const wanted = [ALL_TIERS, ...names];
    if (wanted.join("\n") !== [...this.select.options].map((o) => o.value).join("\n")) {
      this.select.replaceChildren(...wanted.map((value) => h("option", { text: value || "All tiers", attrs: { value } })));
    }
    this.select.value = this.tier;
  }

  renderRows() {
    this.tbody.querySelectorAll(".ll-placeholder, .ll-empty").forEach((el) => el.remove());
    const data = statsRows(this.stats);
    const keep = new Set(data.map((d) => d.name));
    for (const [name, row] of this.rows) if (!keep.has(name)) { row.tr.remove(); this.rows.delete(name); }
    for (const item of data) {
      if (!this.rows.has(item.name)) this.rows.set(item.name, rateRow(item.name, "checkpoint"));
      updateRateRow(this.rows.get(item.name), item);
      this.tbody.append(this.rows.get(item.name).tr);
    }
    if (!data.length) {
      this.tbody.append(h("tr", { class: "ll-empty" }, h("td", {
        class: "ll-muted", text: "No checkpoint of this tier is installed, and no drafts yet.", attrs: { colspan: 4 },
      })));
    }
    const info = poolsNote(this.pools, this.tier, data.length);
    this.note.textContent = info.text;
    this.note.title = info.title;
  }

  async load() {
    const call = ++this.latest;
    this.table.setAttribute("aria-busy", "true");
    const answers = await Promise.allSettled([this.ctx.client.pools(), this.ctx.client.stats(this.tier)]);
    if (call !== this.latest) return; // the tier changed meanwhile: a newer answer is on its way
    this.table.setAttribute("aria-busy", "false");
    const [pools, stats] = answers;
    if (pools.status === "fulfilled") { this.pools = pools.value; this.renderTiers(); }
    if (stats.status === "fulfilled") { this.stats = stats.value; this.renderRows(); }
    const failed = answers.find((a) => a.status === "rejected");
    const message = failed && this.ctx.report(failed.reason, "Could not load checkpoint stats");
    this.errorSlot.replaceChildren(failed ? errorBox(message, () => this.load()) : "");
    if (failed && this.stats === null) this.tbody.querySelectorAll(".ll-placeholder").forEach((el) => el.remove());
  }

  /** The picks route answers the new all-tier stats of the checkpoints it touched: merge them or re-read the tier. */
  applyPicked(changed) {
    if (this.tier !== ALL_TIERS || this.stats === null) return this.load();
    this.stats = mergeStats(this.stats, changed);
    this.renderRows();
    return Promise.resolve();
  }
}

/** The stats section: {element, load(), applyPicked(changedStats)}. */
export function createStats(ctx) {
  return new Stats(ctx);
}
