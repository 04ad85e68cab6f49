// The latest batches as thumbnails (served by ComfyUI's /view), each labelled with its checkpoint and LoRAs.
// Click a draft (or Enter/Space on it) to mark or unmark it as a favourite; tick several (or Ctrl/Shift-click)
// and mark them together. Every pick goes to POST /lora_lab/picks, whose answer updates the stats in place.
// Cards are keyed by draft id and reused across refreshes, so images never reload or jump.

import { errorBox, h } from "./dom.js";
import { batchHeading, draftCaption, idsToPick, indexDrafts } from "./panel_data.js";

const PLACEHOLDER_CARDS = 4;

function placeholder() {
  const card = () => h("div", { class: "ll-card", attrs: { "aria-hidden": "true" } },
    h("span", { class: "ll-thumb ll-skeleton" }), h("div", { class: "ll-caption" }));
  return h("div", { class: "ll-batch ll-placeholder" },
    h("div", { class: "ll-batch-head" }, h("span", { class: "ll-skeleton ll-skeleton-line" })),
    h("div", { class: "ll-grid" }, Array.from({ length: PLACEHOLDER_CARDS }, card)));
}

export function createGallery(ctx) {
  let byId = new Map();
  const selection = new Set();
  const cards = new Map();
  const batchEls = new Map();
  const count = h("span", { class: "ll-count ll-muted", text: "0 selected", attrs: { "aria-live": "polite" } });
  const bulkButtons = [
    h("button", { class: "ll-button", text: "\u2605 Mark", attrs: { type: "button", disabled: true, "data-action": "pick", title: "Mark the selected drafts as favourites" },
      on: { click: () => pick([...selection], true, true) } }),
    h("button", { class: "ll-button", text: "\u2606 Unmark", attrs: { type: "button", disabled: true, "data-action": "unpick", title: "Unmark the selected drafts" },
      on: { click: () => pick([...selection], false, true) } }),
    h("button", { class: "ll-button", text: "Clear", attrs: { type: "button", disabled: true, "data-action": "clear", title: "Clear the selection" },
      on: { click: () => { selection.clear(); syncSelection(); } } }),
  ];
  const list = h("div", { class: "ll-batches" }, placeholder());
  const errorSlot = h("div");
  const element = h("section", { class: "ll-section ll-gallery", attrs: { "aria-label": "Latest drafts" } },
    h("h3", {}, h("span", { text: "Latest drafts" })),
    h("p", { class: "ll-note", text: "Click a draft to mark it as a favourite (again to unmark). "
      + "Tick several, or Ctrl/Shift-click, to mark them together." }),
    h("div", { class: "ll-bulk" }, count, ...bulkButtons), errorSlot, list);

  function syncSelection() {
    for (const id of [...selection]) if (!byId.has(id)) selection.delete(id);
    for (const [id, card] of cards) card.check.checked = selection.has(id);
    count.textContent = `${selection.size} selected`;
    bulkButtons.forEach((b) => { b.disabled = selection.size === 0; });
  }

  function toggleSelected(id, on) {
    if (on) selection.add(id);
    else selection.delete(id);
    syncSelection();
  }

  function createCard(draft) {
    const img = h("img", { attrs: { alt: "", loading: "lazy", decoding: "async" } });
    img.addEventListener("error", () => img.replaceWith(h("span", { class: "ll-empty-thumb", text: "image missing" })));
    const thumb = h("button", {
      class: "ll-thumb", attrs: { type: "button", "data-draft": draft.id },
      on: { click: (event) => onThumb(draft.id, event) },
    }, draft.image ? img : h("span", { class: "ll-empty-thumb", text: "not saved yet" }),
    h("span", { class: "ll-star", text: "\u2605", attrs: { "aria-hidden": "true" } }));
    const check = h("input", { attrs: { type: "checkbox", "data-select": draft.id },
      on: { change: () => toggleSelected(draft.id, check.checked) } });
    const captionLines = [h("span"), h("span")];
    const el = h("div", { class: "ll-card" }, thumb, h("label", { class: "ll-check" }, check),
      h("div", { class: "ll-caption" }, captionLines));
    if (draft.image) img.src = ctx.client.viewUrl(draft.image);
    return { el, thumb, check, captionLines, hadImage: Boolean(draft.image) };
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

  function batchElement(batch) {
    const heading = batchHeading(batch, ctx.now());
    let entry = batchEls.get(batch.id);
    if (!entry) {
      const head = h("div", { class: "ll-batch-head" }, h("b"), h("span", { class: "ll-muted" }));
      entry = { el: h("div", { class: "ll-batch", attrs: { "data-batch": batch.id } }, head, h("div", { class: "ll-grid" })), head };
      batchEls.set(batch.id, entry);
    }
    entry.head.children[0].textContent = heading.prompt;
    entry.head.children[0].title = heading.title;
    entry.head.children[1].textContent = heading.meta;
    return entry.el;
  }

  function render(batches) {
    byId = indexDrafts(batches);
    list.querySelectorAll(".ll-placeholder, .ll-empty").forEach((el) => el.remove());
    const liveBatches = new Set(batches.map((b) => b.id));
    for (const [id, entry] of batchEls) if (!liveBatches.has(id)) { entry.el.remove(); batchEls.delete(id); }
    for (const [id, card] of cards) if (!byId.has(id)) { card.el.remove(); cards.delete(id); }
    for (const batch of batches) {
      const el = batchElement(batch);
      const grid = el.querySelector(".ll-grid");
      for (const draft of batch.drafts ?? []) {
        let card = cards.get(draft.id);
        if (card && !card.hadImage && draft.image) { card.el.remove(); card = undefined; }
        if (!card) { card = createCard(draft); cards.set(draft.id, card); }
        updateCard(card, draft);
        grid.append(card.el);
      }
      list.append(el);
    }
    if (!batches.length) {
      list.append(h("p", { class: "ll-empty ll-muted", text: "No drafts yet. Queue a batch with a Checkpoint Explorer "
        + "and Save Drafts (see the checkpoint_explorer example workflow under Templates)." }));
    }
    syncSelection();
  }

  function onThumb(id, event) {
    if (event.ctrlKey || event.metaKey || event.shiftKey) {
      toggleSelected(id, !selection.has(id));
      return;
    }
    const draft = byId.get(id);
    if (draft) pick([id], !draft.selected, false);
  }

  async function pick(ids, selected, fromSelection) {
    const todo = idsToPick(ids, byId, selected);
    if (!todo.length) {
      ctx.announce(selected ? "Already favourites" : "None of them is a favourite");
      return;
    }
    todo.forEach((id) => cards.get(id)?.thumb.setAttribute("aria-busy", "true"));
    try {
      const result = await ctx.client.pick(todo, selected);
      for (const id of todo) {
        const draft = byId.get(id);
        draft.selected = selected;
        updateCard(cards.get(id), draft);
      }
      if (fromSelection) { selection.clear(); syncSelection(); }
      ctx.announce(`${selected ? "Marked" : "Unmarked"} ${todo.length} draft${todo.length === 1 ? "" : "s"}`);
      await ctx.onPicked(result.stats ?? {});
    } catch (err) {
      ctx.report(err, "Could not record the pick");
    } finally {
      todo.forEach((id) => cards.get(id)?.thumb.removeAttribute("aria-busy"));
    }
  }

  async function load() {
    try {
      const answer = await ctx.client.batches(ctx.prefs.recentBatches());
      errorSlot.replaceChildren();
      render(answer.batches ?? []);
    } catch (err) {
      errorSlot.replaceChildren(errorBox(ctx.report(err, "Could not load the latest drafts"), load));
      list.querySelectorAll(".ll-placeholder").forEach((el) => el.remove());
    }
  }

  return { element, load };
}
