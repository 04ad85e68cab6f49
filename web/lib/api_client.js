// The one client for every call the LoRA Lab panel makes to the pack's routes.
//
// Calls go through ComfyUI's `api.fetchApi`, which prefixes `/api` (ComfyUI mirrors every route there) and
// adds the user header. A failed call throws an ApiError carrying the route's own message: our routes
// answer every error as {"error": {"code", "message"}} with the real status, so a 404/405 *without* that
// body means the route is not there at all (a capability another branch adds), which `routeMissing`
// reports so the panel can leave that section out. This module only exports; ComfyUI imports every .js
// under web/ as an extension, so nothing here may run at import time.

export const ROUTES = Object.freeze({
  stats: "/checkpoints/stats",
  loraStats: "/lora_lab/loras/stats",
  pools: "/lora_lab/pools",
  batches: "/lora_lab/batches",
  picks: "/lora_lab/picks",
  settings: "/lora_lab/settings",
  discover: "/lora_lab/discover",
  cacheStats: "/lora/cache/stats",
});

export class ApiError extends Error {
  constructor(status, code, message, route) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.route = route;
  }

  /** True when the server has no such route (as opposed to the route refusing the request). */
  get routeMissing() {
    return (this.status === 404 || this.status === 405) && this.code === "";
  }
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorFrom(response, body, method, route) {
  const error = body && typeof body === "object" ? body.error : undefined;
  if (error && typeof error.message === "string") {
    return new ApiError(response.status, String(error.code ?? "error"), error.message, route);
  }
  const reason = response.statusText || "error";
  return new ApiError(response.status, "", `${method} ${route} failed: HTTP ${response.status} ${reason}`, route);
}

/** A client over ComfyUI's `api` object (the real one, or any object with the same fetchApi/apiURL). */
export function createClient(api) {
  async function call(route, { method = "GET", query, body } = {}) {
    const options = { method };
    if (body !== undefined) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await api.fetchApi(route + queryString(query), options);
    } catch (err) {
      throw new ApiError(0, "network", `${method} ${route}: ComfyUI did not answer (${err?.message ?? err})`, route);
    }
    const payload = await readBody(response);
    if (!response.ok) throw errorFrom(response, payload, method, route);
    if (payload === undefined) {
      throw new ApiError(response.status, "bad_response", `${method} ${route} answered without JSON`, route);
    }
    return payload;
  }

  return {
    /** {checkpoint: {selected, total, selection_rate}}, for one tier or all of them. */
    stats: (tier) => call(ROUTES.stats, { query: { tier } }),
    /** {lora: {selected, total, selection_rate}}: picks per draft shown with each LoRA ("(no LoRA)": none). */
    loraStats: () => call(ROUTES.loraStats),
    /** {file, installed_checkpoints, tiers: {name: {checkpoints, installed, missing, default}}}. */
    pools: () => call(ROUTES.pools),
    /** {batches: [{id, prompt, mode, tier, created, drafts: [{id, checkpoint, loras, image, selected, label}]}]}. */
    batches: (limit) => call(ROUTES.batches, { query: { limit } }),
    /** {recorded, changed, stats} with the new stats of the checkpoints the picked drafts came from. */
    pick: (draftIds, selected) => call(ROUTES.picks, { method: "POST", body: { draft_ids: draftIds, selected } }),
    /** {mode, auto_lora, prompt_categories}: what the Checkpoint Explorer node reads in "follow panel" mode. */
    settings: () => call(ROUTES.settings),
    updateSettings: (changes) => call(ROUTES.settings, { method: "PUT", body: changes }),
    /** Ranked LoRAs for a prompt, with scores and per-keyword reasons (the discovery capability's route). */
    discover: (prompt, options = {}) => call(ROUTES.discover, { method: "POST", body: { prompt, ...options } }),
    /** Counters of the brand LoRA cache (the brand capability's route). */
    cacheStats: () => call(ROUTES.cacheStats),
    /** Where ComfyUI serves a draft's image (`/view`, through the same /api prefix as every call). */
    viewUrl(image) {
      const route = `/view${queryString({ filename: image.filename, subfolder: image.subfolder, type: image.type })}`;
      return typeof api.apiURL === "function" ? api.apiURL(route) : `${api.api_base ?? ""}/api${route}`;
    },
  };
}

/** True unless `probe()` fails because the route does not exist; other failures still count as present. */
export async function routeExists(probe) {
  try {
    await probe();
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.routeMissing) return false;
    return true;
  }
}
