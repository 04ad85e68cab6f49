// Stand-in for ComfyUI's /scripts/api.js in the panel's browser tests: fetchApi/apiURL with the /api prefix
// (the test server mounts the pack's real routes there) and ComfyUI's event API (CustomEvent with detail).
// `emit` lets a test deliver a server event such as execution_success.
class StandinApi extends EventTarget {
  api_base = "";

  apiURL(route) {
    return `${this.api_base}/api${route}`;
  }

  fetchApi(route, options = {}) {
    const headers = { ...(options.headers ?? {}), "Comfy-User": "" };
    return fetch(this.apiURL(route), { cache: "no-cache", ...options, headers });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

export const api = new StandinApi();
window.standinApi = api;
