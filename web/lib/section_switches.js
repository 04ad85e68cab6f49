// The Explore/Quick and Auto-LoRA switches (and any other entry of SWITCHES), stored through
// PUT /lora_lab/settings: the Checkpoint Explorer node in "follow panel" mode reads them there.
// The controls are drawn at once, disabled with the defaults, so nothing moves when the settings arrive.

import { errorBox, h, uid } from "./dom.js";
import { SWITCHES } from "./panel_data.js";

function choiceControl(spec, onChange) {
  const labelId = uid("ll-label");
  const name = uid("ll-choice");
  const inputs = [];
  const group = h("div", { class: "ll-segmented", attrs: { role: "radiogroup", "aria-labelledby": labelId } });
  for (const [value, text] of spec.options) {
    const id = uid("ll-opt");
    const input = h("input", {
      attrs: { type: "radio", name, id, value, disabled: true, "data-setting": spec.key },
      on: { change: () => input.checked && onChange(spec.key, value) },
    });
    inputs.push(input);
    group.append(input, h("label", { text, attrs: { for: id } }));
  }
  const row = h("div", { class: "ll-row", attrs: { title: spec.help } },
    h("span", { class: "ll-label", text: spec.label, attrs: { id: labelId } }), group);
  return {
    row,
    set: (value) => inputs.forEach((input) => { input.checked = input.value === value; }),
    enable: (on) => inputs.forEach((input) => { input.disabled = !on; }),
  };
}

function switchControl(spec, onChange) {
  const input = h("input", {
    class: "ll-switch",
    attrs: { type: "checkbox", role: "switch", disabled: true, "data-setting": spec.key },
    on: { change: () => onChange(spec.key, input.checked) },
  });
  const row = h("label", { class: "ll-row", attrs: { title: spec.help } },
    h("span", { class: "ll-label", text: spec.label }), input);
  return {
    row,
    set: (value) => { input.checked = Boolean(value); },
    enable: (on) => { input.disabled = !on; },
  };
}

const CONTROLS = { choice: choiceControl, switch: switchControl };

export function createSwitches(ctx) {
  let current = null;
  const controls = new Map();
  const errorSlot = h("div");
  const element = h("section", { class: "ll-section ll-switches", attrs: { "aria-label": "Generation switches" } });

  function apply(settings, enabled) {
    for (const [key, control] of controls) {
      if (settings && key in settings) control.set(settings[key]);
      control.enable(enabled);
    }
  }

  async function change(key, value) {
    apply(current, false);
    try {
      current = await ctx.client.updateSettings({ [key]: value });
      const spec = SWITCHES.find((s) => s.key === key);
      ctx.announce(`${spec.label}: ${typeof value === "boolean" ? (value ? "on" : "off") : value}`);
    } catch (err) {
      ctx.report(err, `Could not save ${key}`);
    }
    apply(current, current !== null);
  }

  for (const spec of SWITCHES) {
    const control = CONTROLS[spec.kind](spec, change);
    control.set(spec.kind === "choice" ? spec.options[0][0] : false);
    controls.set(spec.key, control);
    element.append(control.row);
  }
  element.append(errorSlot);

  async function load() {
    try {
      current = await ctx.client.settings();
      errorSlot.replaceChildren();
      apply(current, true);
    } catch (err) {
      errorSlot.replaceChildren(errorBox(ctx.report(err, "Could not load the panel settings"), load));
    }
  }

  return { element, load };
}
