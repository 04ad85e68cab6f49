// Shows the text reports LoRA Lab nodes send in their UI output ({"text": [...]}) under the node.
// ComfyUI's frontend renders `text` only for node types with a handler (core does it for Preview Any),
// so every node in the "LoRA Lab" category gets this one. The widget is not serialized: saved
// workflows keep only real widget values, by position.
import { app } from "../../scripts/app.js";

const WIDGET_NAME = "lora_lab_report";

function reportWidget(node) {
  const existing = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (existing) return existing;
  const area = document.createElement("textarea");
  area.readOnly = true;
  area.className = "comfy-multiline-input";
  area.style.cssText = "width:100%;min-height:4.5em;font-family:monospace;font-size:11px;opacity:0.9;";
  if (typeof node.addDOMWidget === "function") {
    return node.addDOMWidget(WIDGET_NAME, "lora_lab_text", area, {
      getValue: () => area.value,
      setValue: (v) => { area.value = v; },
      serialize: false,
    });
  }
  const widget = node.addWidget("text", WIDGET_NAME, "", () => {}, { serialize: false });
  widget.serialize = false;
  return widget;
}

app.registerExtension({
  name: "LoRALab.Reports",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!String(nodeData?.category ?? "").startsWith("LoRA Lab")) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const text = message?.text;
      if (!Array.isArray(text) || text.length === 0) return;
      const widget = reportWidget(this);
      widget.value = text.join("\n\n");
      if (widget.element) widget.element.value = widget.value;
      this.setDirtyCanvas?.(true, true);
    };
  },
});
