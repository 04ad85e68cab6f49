// A tiny element builder for the panel's DOM code (no framework: ComfyUI's frontend owns Vue, we do not).
// Only exports.

/**
 * h("button", {class: "x", text: "Go", attrs: {"aria-label": "Go"}, on: {click}}, child, ...)
 * `attrs` values of false/null/undefined are left out; `true` sets an empty attribute.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [name, value] of Object.entries(props.props ?? {})) el[name] = value;
  for (const [event, handler] of Object.entries(props.on ?? {})) el.addEventListener(event, handler);
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

/** Set or clear a boolean attribute. */
export function toggleAttr(el, name, on) {
  if (on) el.setAttribute(name, "");
  else el.removeAttribute(name);
}

let nextId = 0;

/** A document-unique id for label/aria wiring (the panel can be rendered many times). */
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** An inline error (the route's message) with a retry button: a failed section never goes blank. */
export function errorBox(message, onRetry) {
  const retry = onRetry ? h("button", { class: "ll-button", text: "Retry", attrs: { type: "button" }, on: { click: onRetry } }) : null;
  return h("div", { class: "ll-error", attrs: { role: "alert" } }, h("span", { text: message }), retry);
}
