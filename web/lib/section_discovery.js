// Discovery preview: type a prompt, see the LoRAs Auto-LoRA would choose, with scores and per-keyword
// reasons (POST /lora_lab/discover). The section stays hidden unless that route exists on this server.

import { routeExists } from "./api_client.js";
import { errorBox, h } from "./dom.js";
import { discoveryView } from "./panel_data.js";

function pickItem(pick) {
  const facts = [
    pick.strength !== null ? `strength ${pick.strength.toFixed(2)}` : "",
    pick.score !== null ? `score ${pick.score.toFixed(2)}` : "",
    pick.trigger ? `adds "${pick.trigger}"` : "",
  ].filter(Boolean).join(" \u00b7 ");
  return h("li", { attrs: { "data-lora": pick.name } },
    h("b", { text: pick.label, attrs: { title: pick.name } }), " ", h("span", { class: "ll-muted ll-small", text: facts }),
    pick.reasons.length ? h("ul", {}, pick.reasons.map((reason) => h("li", { text: reason }))) : null);
}

function keywordChip(keyword) {
  const text = keyword.picked ? `${keyword.word} \u2192 ${keyword.picked}` : keyword.word;
  return h("span", {
    class: "ll-chip", text,
    attrs: { "data-picked": String(Boolean(keyword.picked)), title: keyword.generic ? "generic word: cannot choose a LoRA alone" : "" },
  });
}

export function createDiscovery(ctx) {
  const input = h("input", { class: "ll-input", attrs: { type: "search", placeholder: "a prompt, e.g. ghibli style castle",
    "aria-label": "Prompt to preview", maxlength: 2000 } });
  const button = h("button", { class: "ll-button", text: "Preview", attrs: { type: "submit" } });
  const results = h("div", { class: "ll-discovery-results", attrs: { "aria-live": "polite" } },
    h("p", { class: "ll-note", text: "The LoRAs Auto-LoRA would choose for this prompt, and why." }));
  const form = h("form", { class: "ll-form", on: { submit: (event) => { event.preventDefault(); preview(); } } }, input, button);
  const element = h("section", { class: "ll-section ll-discovery", attrs: { "aria-label": "Discovery preview", hidden: true } },
    h("h3", {}, h("span", { text: "Discovery preview" })), form, results);

  function show(result) {
    const view = discoveryView(result);
    const parts = [];
    if (view.picks.length) parts.push(h("ol", { class: "ll-results" }, view.picks.map(pickItem)));
    else parts.push(h("p", { class: "ll-note", text: `No LoRA would be chosen${view.abstained ? `: ${view.abstained}` : "."}` }));
    if (view.keywords.length) parts.push(h("div", { class: "ll-chips", attrs: { "aria-label": "Keywords" } }, view.keywords.map(keywordChip)));
    for (const warning of view.warnings) parts.push(h("p", { class: "ll-note", text: `\u26a0 ${warning}` }));
    results.replaceChildren(...parts);
  }

  async function preview() {
    const prompt = input.value.trim();
    if (!prompt) { input.focus(); return; }
    button.disabled = true;
    results.setAttribute("aria-busy", "true");
    try {
      show(await ctx.client.discover(prompt));
    } catch (err) {
      results.replaceChildren(errorBox(ctx.report(err, "Discovery preview failed"), preview));
    } finally {
      button.disabled = false;
      results.removeAttribute("aria-busy");
    }
  }

  /** Show the section only if POST /lora_lab/discover exists (an empty prompt is the cheapest probe). */
  async function detect() {
    element.hidden = !(await routeExists(() => ctx.client.discover("")));
    element.dataset.detected = "true";
  }

  return { element, detect };
}
