// The latest batches as thumbnails (served by ComfyUI's /view), each labelled with its checkpoint and LoRAs.
// Click a draft (or Enter/Space on it) to mark or unmark it as a favourite; tick several (or Ctrl/Shift-click)
// and mark them together. Every pick goes to POST /lora_lab/picks, whose answer updates the stats in place.
// Cards are keyed by draft id and reused across refreshes, so images never reload or jump.

import { errorBox, h } from "./dom.js";
import { batchHeading, draftCaption, idsToPick, indexDrafts } from "./panel_data.js";

const PLACEHOLDER_CARDS = 4;
const HINT = "Click a draft to mark it as a favourite (again to unmark). Tick several, or Ctrl/Shift-click, "
  + "to mark them together.";
const EMPTY = "No drafts yet. Queue a batch with a Checkpoint Explorer and Save Drafts (see the "
  + "checkpoint_explorer example workflow under Templates).";

function placeholder() {
  const card = () => h("div", { class: "ll-card", attrs: { "aria-hidden": "true" } },
    h("span", { class: "ll-thumb ll-skeleton" }), h("div", { class: "ll-caption" }));
  return h("div", { class: "ll-batch ll-placeholder" },
    h("div", { class: "ll-batch-head" }, h("span", { class: "ll-skeleton ll-skeleton-line" })),
    h("div", { class: "ll-grid" }, Array.from({ length: PLACEHOLDER_CARDS }, card)));
}

function updateCard(card, draft) {
  const caption = draftCaption(draft);
  card.captionLines[0].textContent = caption.checkpoint;
  card.captionLines[1].textContent = caption.loras;
  card.el.title = caption.title;
  card.thumb.setAttribute("aria-label", `${caption.checkpoint}, ${caption.loras}${draft.image ? "" : " (no image yet)"}`);
  card.thumb.setAttribute("aria-pressed", String(Boolean(draft.selected)));
  card.thumb.disabled = !draft.image;
  card.check.disabled = !draft.image;
  card.check.setAttribute("aria-label", `Select ${caption.checkpoint} draft ${draft.index + 1}`);
}

class Gallery {
  constructor(ctx) {
    this.ctx = ctx;
    this.byId = new Map();
    this.selection = new Set();
    this.cards = new Map();
    this.batchEls = new Map();
    this.count = h("span", { class: "ll-count ll-muted", text: "0 selected", attrs: { "aria-live": "polite" } });
    const button = (text, action, title, onClick) => h("button", {
      class: "ll-button", text, on: { click: onClick },
      attrs: { type: "button", disabled: true, "data-action": action, title, "aria-label": title },
    });
    this.bulkButtons = [
      button("\u2605 Mark", "pick", "Mark the selected drafts as favourites", () => this.pick([...this.selection], true, true)),
      button("\u2606 Unmark", "unpick", "Unmark the selected drafts", () => this.pick([...this.selection], false, true)),
      button("\u2715", "clear", "Clear the selection", () => { this.selection.clear(); this.syncSelection(); }),
    ];
    this.list = h("div", { class: "ll-batches" }, placeholder());
    this.errorSlot = h("div");
    this.element = h("section", { class: "ll-section ll-gallery", attrs: { "aria-label": "Latest drafts" } },
      h("h3", {}, h("span", { text: "Latest drafts" })), h("p", { class: "ll-note", text: HINT }),
      h("div", { class: "ll-bulk" }, this.count, ...this.bulkButtons), this.errorSlot, this.list);
  }

  syncSelection() {
    for (const id of [...this.selection]) if (!this.byId.has(id)) this.selection.delete(id);
    for (const [id, card] of this.cards) card.check.checked = this.selection.has(id);
    this.count.textContent = `${this.selection.size} selected`;
    this.bulkButtons.forEach((b) => { b.disabled = this.selection.size === 0; });
  }

  toggleSelected(id, on) {
    if (on) this.selection.add(id);
    else this.selection.delete(id);
    this.syncSelection();
  }

  createCard(draft) {
    const img = h("img", { attrs: { alt: "", loading: "lazy", decoding: "async" } });
    img.addEventListener("error", () => img.replaceWith(h("span", { class: "ll-empty-thumb", text: "image missing" })));
    const thumb = h("button", {
      class: "ll-thumb", attrs: { type: "button", "data-draft": draft.id },
      on: { click: (event) => this.onThumb(draft.id, event) },
    }, draft.image ? img : h("span", { class: "ll-empty-thumb", text: "not saved yet" }),
    h("span", { class: "ll-star", text: "\u2605", attrs: { "aria-hidden": "true" } }));
    const check = h("input", { attrs: { type: "checkbox", "data-select": draft.id },
      on: { change: () => this.toggleSelected(draft.id, check.checked) } });
    const captionLines = [h("span"), h("span")];
    const el = h("div", { class: "ll-card" }, thumb, h("label", { class: "ll-check" }, check),
      h("div", { class: "ll-caption" }, captionLines));
    if (draft.image) img.src = this.ctx.client.viewUrl(draft.image);
    return { el, thumb, check, captionLines, hadImage: Boolean(draft.image) };
  }

  batchElement(batch) {
    const heading = batchHeading(batch, this.ctx.now());
    let entry = this.batchEls.get(batch.id);
    if (!entry) {
      const title = h("b");
      const meta = h("span", { class: "ll-muted" });
      const grid = h("div", { class: "ll-grid" });
      const el = h("div", { class: "ll-batch", attrs: { "data-batch": batch.id } },
        h("div", { class: "ll-batch-head" }, title, meta), grid);
      entry = { el, title, meta, grid };
      this.batchEls.set(batch.id, entry);
    }
    entry.title.textContent = heading.prompt;
    entry.title.title = heading.title;
    entry.meta.textContent = heading.meta;
    return entry;
  }

  /** The card of a draft, reused unless the draft got its image since it was drawn. */
  cardFor(draft) {
    let card = this.cards.get(draft.id);
    if (card && !card.hadImage && draft.image) {
      card.el.remove();
      card = undefined;
    }
    if (!card) {
      card = this.createCard(draft);
      this.cards.set(draft.id, card);
    }
    updateCard(card, draft);
    return card;
  }

  render(batches) {
    this.byId = indexDrafts(batches);
    this.list.querySelectorAll(".ll-placeholder, .ll-empty").forEach((el) => el.remove());
    const live = new Set(batches.map((b) => b.id));
    for (const [id, entry] of this.batchEls) if (!live.has(id)) { entry.el.remove(); this.batchEls.delete(id); }
    for (const [id, card] of this.cards) if (!this.byId.has(id)) { card.el.remove(); this.cards.delete(id); }
    for (const batch of batches) {
      const entry = this.batchElement(batch);
      for (const draft of batch.drafts ?? []) entry.grid.append(this.cardFor(draft).el);
      this.list.append(entry.el);
    }
    if (!batches.length) this.list.append(h("p", { class: "ll-empty ll-muted", text: EMPTY }));
    this.syncSelection();
  }

  onThumb(id, event) {
    if (event.ctrlKey || event.metaKey || event.shiftKey) {
      this.toggleSelected(id, !this.selection.has(id));
      return;
    }
    const draft = this.byId.get(id);
    if (draft) this.pick([id], !draft.selected, false);
  }

  async pick(ids, selected, fromSelection) {
    const todo = idsToPick(ids, this.byId, selected);
    if (!todo.length) {
      this.ctx.announce(selected ? "Already favourites" : "None of them is a favourite");
      return;
    }
    const busy = (on) => todo.forEach((id) => this.cards.get(id)?.thumb.setAttribute("aria-busy", String(on)));
    busy(true);
    try {
      const result = await this.ctx.client.pick(todo, selected);
      for (const id of todo) {
        this.byId.get(id).selected = selected;
        updateCard(this.cards.get(id), this.byId.get(id));
      }
      if (fromSelection) { this.selection.clear(); this.syncSelection(); }
      this.ctx.announce(`${selected ? "Marked" : "Unmarked"} ${todo.length} draft${todo.length === 1 ? "" : "s"}`);
      await this.ctx.onPicked(result.stats ?? {});
    } catch (err) {
      this.ctx.report(err, "Could not record the pick");
    } finally {
      busy(false);
    }
  }

  async load() {
    try {
      const answer = await this.ctx.client.batches(this.ctx.prefs.recentBatches());
      this.errorSlot.replaceChildren();
      this.render(answer.batches ?? []);
    } catch (err) {
      this.errorSlot.replaceChildren(errorBox(this.ctx.report(err, "Could not load the latest drafts"), () => this.load()));
      this.list.querySelectorAll(".ll-placeholder").forEach((el) => el.remove());
    }
  }
}

/** The drafts section: {element, load()}. */
export function createGallery(ctx) {
  return new Gallery(ctx);
}
