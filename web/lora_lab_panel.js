// The "LoRA Lab" sidebar tab: Explore/Quick and Auto-LoRA switches, checkpoint stats per tier, the latest
// drafts to pick favourites from, and (when those routes exist) a discovery preview and the brand cache.
// This is the only file that touches ComfyUI's frontend objects; everything it draws lives in lib/.
// Only scripts/app.js and scripts/api.js are imported from ComfyUI; newer/older frontend APIs are feature-detected.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { createClient } from "./lib/api_client.js";
import { mountPanel } from "./lib/panel.js";

const TAB_ID = "lora-lab";
const SETTING_BATCHES = "LoRALab.Panel.RecentBatches";
const SETTING_REFRESH = "LoRALab.Panel.RefreshAfterRun";
const DEFAULTS = { [SETTING_BATCHES]: 4, [SETTING_REFRESH]: true };

const SETTINGS = [
  {
    id: SETTING_BATCHES,
    name: "Batches shown in the LoRA Lab panel",
    category: ["LoRA Lab", "Panel", "Recent batches"],
    type: "number",
    defaultValue: DEFAULTS[SETTING_BATCHES],
    attrs: { min: 1, max: 20, step: 1 },
    tooltip: "How many of the latest batches the panel shows as thumbnails to pick favourites from.",
  },
  {
    id: SETTING_REFRESH,
    name: "Refresh the LoRA Lab panel when a run finishes",
    category: ["LoRA Lab", "Panel", "Refresh after run"],
    type: "boolean",
    defaultValue: DEFAULTS[SETTING_REFRESH],
    tooltip: "Reload the checkpoint stats and drafts when the queue finishes (otherwise use the Refresh button).",
  },
];

function setting(id) {
  const value = app.extensionManager?.setting?.get?.(id);
  return value === undefined || value === null ? DEFAULTS[id] : value;
}

const prefs = {
  recentBatches: () => Math.min(20, Math.max(1, Number(setting(SETTING_BATCHES)) || DEFAULTS[SETTING_BATCHES])),
  refreshAfterRun: () => setting(SETTING_REFRESH) !== false,
};

/** A toast on ComfyUI 1.35 (`toast.add`) or newer frontends (`toast.error(...)`); the console otherwise. */
function notify(message) {
  const toast = app.extensionManager?.toast;
  if (typeof toast?.add === "function") {
    toast.add({ ...message, life: 8000 });
    return;
  }
  const method = toast?.[message.severity === "warn" ? "warning" : message.severity];
  if (typeof method === "function") {
    method.call(toast, `${message.summary}: ${message.detail}`);
    return;
  }
  console.error(`[${message.summary}] ${message.detail}`);
}

function registerTab() {
  const manager = app.extensionManager;
  if (typeof manager?.registerSidebarTab !== "function") {
    console.warn("[LoRA Lab] this ComfyUI frontend has no extensionManager.registerSidebarTab: the LoRA Lab panel is not shown.");
    return;
  }
  const client = createClient(api);
  let mounted = null;
  manager.registerSidebarTab({
    id: TAB_ID,
    icon: "pi pi-sliders-h",
    title: "LoRA Lab",
    tooltip: "LoRA Lab: checkpoint stats and favourites",
    label: "LoRA Lab",
    type: "custom",
    render(el) {
      mounted?.destroy();
      mounted = mountPanel(el, { client, notify, prefs, events: api });
    },
    destroy() {
      mounted?.destroy();
      mounted = null;
    },
  });
}

app.registerExtension({
  name: "LoRALab.Panel",
  settings: SETTINGS,
  setup() {
    registerTab();
  },
});
