// One table row of picked / shown / rate (text and a bar), shared by the checkpoint and LoRA stats sections.
// Rows are keyed by name and updated in place, so a pick or a refresh changes numbers, never the layout.

import { h } from "./dom.js";
import { barPercent, formatRate } from "./panel_data.js";

/** A row for `name`; `kind` ("checkpoint" or "lora") names its first column and its data attribute. */
export function rateRow(name, kind) {
  const cells = {
    name: h("td", { attrs: { "data-col": kind, title: name } }),
    selected: h("td", { attrs: { "data-col": "selected" } }),
    total: h("td", { attrs: { "data-col": "total" } }),
    rateText: h("span", { class: "ll-rate-text" }),
    bar: h("span"),
  };
  const rate = h("td", { attrs: { "data-col": "rate" } }, cells.rateText,
    h("span", { class: "ll-bar", attrs: { "aria-hidden": "true" } }, cells.bar));
  return { tr: h("tr", { attrs: { [`data-${kind}`]: name } }, cells.name, cells.selected, cells.total, rate), cells };
}

/** Writes one `statsRows` item into a row made by `rateRow`. */
export function updateRateRow(row, data) {
  row.cells.name.textContent = data.stem;
  row.cells.selected.textContent = String(data.selected);
  row.cells.total.textContent = String(data.total);
  row.cells.rateText.textContent = formatRate(data.rate, data.total);
  row.cells.bar.style.width = `${barPercent(data.rate, data.total)}%`;
}
