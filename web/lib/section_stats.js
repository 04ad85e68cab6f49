// Checkpoint stats per tier: drafts picked, drafts shown and the selection rate (text and a bar) of each
// checkpoint. Rows are keyed by checkpoint and updated in place (a pick or a refresh changes numbers, never
// the layout); three placeholder rows hold the space until the first answer.

import { errorBox, h } from "./dom.js";
import { ALL_TIERS, barPercent, formatRate, mergeStats, poolsNote, statsRows } from "./panel_data.js";

const PLACEHOLDER_ROWS = 3;

function placeholderRow() {
  const line = () => h("span", { class: "ll-skeleton ll-skeleton-line" });
  return h("tr", { class: "ll-placeholder", attrs: { "aria-hidden": "true" } },
    h("td", {}, line()), h("td", {}, line()), h("td", {}, line()), h("td", {}, line()));
}

function statsRow(name) {
  const cells = {
    name: h("td", { attrs: { "data-col": "checkpoint", title: name } }),
    selected: h("td", { attrs: { "data-col": "selected" } }),
    total: h("td", { attrs: { "data-col": "total" } }),
    rateText: h("span", { class: "ll-rate-text" }),
    bar: h("span"),
  };
  const rate = h("td", { attrs: { "data-col": "rate" } }, cells.rateText,
    h("span", { class: "ll-bar", attrs: { "aria-hidden": "true" } }, cells.bar));
  const tr = h("tr", { attrs: { "data-checkpoint": name } }, cells.name, cells.selected, cells.total, rate);
  return { tr, cells };
}

function updateRow(row, data) {
  row.cells.name.textContent = data.stem;
  row.cells.selected.textContent = String(data.selected);
  row.cells.total.textContent = String(data.total);
  row.cells.rateText.textContent = formatRate(data.rate, data.total);
  row.cells.bar.style.width = `${barPercent(data.rate, data.total)}%`;
}

export function createStats(ctx) {
  let tier = ALL_TIERS;
  let stats = null;
  let pools = null;
  let latest = 0;
  const rows = new Map();
  const select = h("select", {
    class: "ll-select",
    attrs: { "aria-label": "Tier", "data-role": "tier" },
    on: { change: () => { tier = select.value; stats = null; load(); } },
  }, h("option", { text: "All tiers", attrs: { value: ALL_TIERS } }));
  const tbody = h("tbody", {}, Array.from({ length: PLACEHOLDER_ROWS }, placeholderRow));
  const table = h("table", { class: "ll-stats", attrs: { "aria-busy": "true" } },
    h("caption", { class: "ll-sr", text: "Selection rate of each checkpoint" }),
    h("colgroup", {}, h("col"), h("col", { class: "ll-num" }), h("col", { class: "ll-num" }), h("col", { class: "ll-rate" })),
    h("thead", {}, h("tr", {}, h("th", { text: "Checkpoint", attrs: { scope: "col" } }),
      h("th", { text: "Picked", attrs: { scope: "col", title: "Drafts you picked as favourites" } }),
      h("th", { text: "Shown", attrs: { scope: "col", title: "Drafts saved with an image" } }),
      h("th", { text: "Rate", attrs: { scope: "col", title: "Picked / shown" } }))),
    tbody);
  const note = h("p", { class: "ll-note" });
  const errorSlot = h("div");
  const element = h("section", { class: "ll-section ll-stats-section", attrs: { "aria-label": "Checkpoint stats" } },
    h("h3", {}, h("span", { text: "Checkpoint stats" }), select), table, note, errorSlot);

  function renderTiers() {
    const names = Object.keys(pools?.tiers ?? {});
    if (tier !== ALL_TIERS && !names.includes(tier)) tier = ALL_TIERS;
    const wanted = [ALL_TIERS, ...names];
    const have = [...select.options].map((o) => o.value);
    if (wanted.join("\n") !== have.join("\n")) {
      select.replaceChildren(...wanted.map((value) => h("option", { text: value || "All tiers", attrs: { value } })));
    }
    select.value = tier;
  }

  function renderRows() {
    tbody.querySelectorAll(".ll-placeholder, .ll-empty").forEach((el) => el.remove());
    const data = statsRows(stats);
    const keep = new Set(data.map((d) => d.name));
    for (const [name, row] of rows) if (!keep.has(name)) { row.tr.remove(); rows.delete(name); }
    for (const item of data) {
      if (!rows.has(item.name)) rows.set(item.name, statsRow(item.name));
      const row = rows.get(item.name);
      updateRow(row, item);
      tbody.append(row.tr);
    }
    if (!data.length) {
      tbody.append(h("tr", { class: "ll-empty" }, h("td", {
        class: "ll-muted", text: "No checkpoint of this tier is installed, and no drafts yet.", attrs: { colspan: 4 },
      })));
    }
    const info = poolsNote(pools, tier, data.length);
    note.textContent = info.text;
    note.title = info.title;
  }

  async function load() {
    const call = ++latest;
    table.setAttribute("aria-busy", "true");
    const [poolsAnswer, statsAnswer] = await Promise.allSettled([ctx.client.pools(), ctx.client.stats(tier)]);
    if (call !== latest) return; // the tier changed meanwhile: a newer answer is on its way
    table.setAttribute("aria-busy", "false");
    const failed = [poolsAnswer, statsAnswer].find((a) => a.status === "rejected");
    if (poolsAnswer.status === "fulfilled") { pools = poolsAnswer.value; renderTiers(); }
    if (statsAnswer.status === "fulfilled") { stats = statsAnswer.value; renderRows(); }
    errorSlot.replaceChildren(failed ? errorBox(ctx.report(failed.reason, "Could not load checkpoint stats"), load) : "");
    if (failed && stats === null) tbody.querySelectorAll(".ll-placeholder").forEach((el) => el.remove());
  }

  /** The picks route answers the new all-tier stats of the checkpoints it touched: merge them or re-read the tier. */
  function applyPicked(changed) {
    if (tier === ALL_TIERS && stats !== null) {
      stats = mergeStats(stats, changed);
      renderRows();
      return Promise.resolve();
    }
    return load();
  }

  return { element, load, applyPicked };
}
