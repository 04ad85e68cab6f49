// Stand-in for ComfyUI's /scripts/app.js in the panel's browser tests: only the surface the panel uses
// (registerExtension with settings + setup, extensionManager.registerSidebarTab / toast.add / setting),
// drawn as plain DOM so a test sees what a user would. A sidebar tab is rendered into a fresh element when
// its button is clicked and destroyed when it is closed, as ComfyUI's frontend 1.35 does.
const extensions = [];
const settings = new Map();
let openTab = null;

function toggle(tab) {
  const panel = document.getElementById("sidebar-panel");
  if (openTab) {
    openTab.destroy?.();
    panel.replaceChildren();
  }
  if (openTab === tab) {
    openTab = null;
    return;
  }
  openTab = tab;
  const el = document.createElement("div");
  el.className = "sidebar-content";
  panel.append(el);
  tab.render(el);
}

export const app = {
  registerExtension(extension) {
    extensions.push(extension);
  },
  async setupExtensions() {
    for (const extension of extensions) {
      for (const s of extension.settings ?? []) if (!settings.has(s.id)) settings.set(s.id, s.defaultValue);
    }
    for (const extension of extensions) await extension.setup?.(app);
  },
  extensionManager: {
    registerSidebarTab(tab) {
      const button = document.createElement("button");
      button.className = `side-bar-button ${tab.id}-tab-button`;
      button.setAttribute("aria-label", tab.tooltip ?? tab.title);
      button.textContent = tab.title;
      button.addEventListener("click", () => toggle(tab));
      document.getElementById("sidebar-buttons").append(button);
    },
    toast: {
      add({ severity, summary, detail }) {
        const toast = document.createElement("div");
        toast.className = "standin-toast";
        toast.dataset.severity = severity;
        toast.textContent = `${summary}: ${detail}`;
        document.getElementById("toasts").append(toast);
      },
    },
    setting: {
      get: (id) => settings.get(id),
      set: (id, value) => settings.set(id, value),
    },
  },
};
window.app = app;
