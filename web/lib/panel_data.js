// Pure helpers of the LoRA Lab panel: route answers in, what the panel shows out. No DOM, no network,
// so the browser tests can check them with tables of inputs. Only exports (ComfyUI imports every .js).

/** The switches the panel stores through PUT /lora_lab/settings, as data (the DOM code draws any of them). */
export const SWITCHES = Object.freeze([
  {
    key: "mode",
    kind: "choice",
    label: "Checkpoints",
    options: [["explore", "Explore"], ["quick", "Quick"]],
    help: "Explore spreads a batch over 2-3 checkpoints of the tier, more to those whose drafts you pick; "
      + "Quick puts every draft on the best one. Checkpoint Explorer nodes set to \"follow panel\" use this.",
  },
  {
    key: "auto_lora",
    kind: "switch",
    label: "Auto-LoRA",
    help: "Let discovery choose LoRAs for the prompt of each batch.",
  },
  {
    key: "prompt_categories",
    kind: "switch",
    label: "Learn per prompt category",
    help: "Keep separate checkpoint statistics for kinds of prompt (portrait, landscape, ...).",
  },
]);

export const ALL_TIERS = "";

/** A file name without folders (either separator) or extension: what fits on a thumbnail. */
export function fileStem(name) {
  const base = String(name ?? "").split(/[\\/]/).pop();
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/** "37.5%" for a rate in [0, 1]; an en dash when nothing was shown yet (a rate of 0 would be a lie). */
export function formatRate(rate, total) {
  if (!total) return "\u2013";
  return `${(Math.round(rate * 1000) / 10).toFixed(1)}%`;
}

/** Width of a rate bar in percent, clamped to [0, 100]. */
export function barPercent(rate, total) {
  if (!total || !Number.isFinite(rate)) return 0;
  return Math.min(100, Math.max(0, rate * 100));
}

/** Rows of the stats table, in a stable order (by file stem, numbers in order) so a pick never moves a row. */
export function statsRows(stats) {
  return Object.entries(stats ?? {})
    .map(([name, s]) => ({
      name,
      stem: fileStem(name),
      selected: Number(s.selected) || 0,
      total: Number(s.total) || 0,
      rate: Number(s.selection_rate) || 0,
    }))
    .sort((a, b) => a.stem.localeCompare(b.stem, undefined, { numeric: true }) || a.name.localeCompare(b.name));
}

/**
 * The line under the stats table: pool checkpoints that are not installed (left out of batches), at most
 * three named; when a tier has nothing installed, where its pool is defined.
 */
export function poolsNote(pools, tier, shown) {
  const tiers = Object.entries(pools?.tiers ?? {}).filter(([name]) => !tier || name === tier);
  const missing = [...new Set(tiers.flatMap(([, t]) => t.missing ?? []))];
  const parts = [];
  if (missing.length) {
    const named = missing.slice(0, 3).map(fileStem).join(", ");
    parts.push(`Not installed, left out: ${named}${missing.length > 3 ? ` and ${missing.length - 3} more` : ""}.`);
  }
  if (!shown && pools?.file) parts.push(`Tiers are defined in ${pools.file}.`);
  return { text: parts.join(" "), title: missing.join("\n") };
}

/** `current` with the entries of `changed` replaced (the picks route answers only the checkpoints it touched). */
export function mergeStats(current, changed) {
  return { ...(current ?? {}), ...(changed ?? {}) };
}

/** What a draft card says: checkpoint stem, the LoRAs with their strengths, and the full names for a tooltip. */
export function draftCaption(draft) {
  const loras = Array.isArray(draft.loras) ? draft.loras : [];
  const loraText = loras.map((l) => `${fileStem(l.name)} ${Number(l.strength)}`).join(" + ");
  const fullLoras = loras.map((l) => `${l.name} @ ${Number(l.strength)}`).join(", ");
  return {
    checkpoint: fileStem(draft.checkpoint),
    loras: loraText || "no LoRA",
    title: `${draft.checkpoint}${fullLoras ? ` + ${fullLoras}` : ""} (seed ${draft.seed ?? "?"})`,
  };
}

/** "just now", "5 min ago", "3 h ago", "2 d ago" for a UNIX time in seconds. */
export function relativeTime(created, nowSeconds) {
  const age = Math.max(0, nowSeconds - Number(created));
  if (age < 60) return "just now";
  if (age < 3600) return `${Math.floor(age / 60)} min ago`;
  if (age < 86400) return `${Math.floor(age / 3600)} h ago`;
  return `${Math.floor(age / 86400)} d ago`;
}

/** The line above a batch's thumbnails. */
export function batchHeading(batch, nowSeconds) {
  const prompt = String(batch.prompt ?? "").trim();
  const short = prompt.length > 60 ? `${prompt.slice(0, 57)}...` : prompt;
  const where = [batch.mode, batch.tier].filter(Boolean).join(" \u00b7 ");
  return {
    prompt: short || "(no prompt)",
    meta: `${where}${where ? " \u00b7 " : ""}${relativeTime(batch.created, nowSeconds)}`,
    title: prompt,
  };
}

/** Draft ids of `batches` in display order, and a lookup by id. */
export function indexDrafts(batches) {
  const byId = new Map();
  for (const batch of batches ?? []) for (const draft of batch.drafts ?? []) byId.set(draft.id, draft);
  return byId;
}

/** Which of the `ids` would change if set to `selected` (a pick that changes nothing is not sent). */
export function idsToPick(ids, byId, selected) {
  return [...ids].filter((id) => byId.has(id) && byId.get(id).image && byId.get(id).selected !== selected);
}

/**
 * Whether a ComfyUI `status` event means a run just finished: the queue went from busy to empty.
 * `previous` is the last queue_remaining seen (undefined before the first event).
 */
export function queueDrained(previous, status) {
  const remaining = status?.exec_info?.queue_remaining;
  if (typeof remaining !== "number") return { remaining: previous, drained: false };
  return { remaining, drained: remaining === 0 && typeof previous === "number" && previous > 0 };
}

/**
 * Calls `task` now, or once more after the call in flight ends: bursts of events (a finished run sends
 * several) cost at most two refreshes, and answers never arrive out of order.
 */
export function coalesce(task) {
  let running = null;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await task();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
  return run;
}

function reasonText(reason) {
  if (typeof reason === "string") return reason;
  if (reason && typeof reason === "object") {
    const parts = [reason.keyword ?? reason.word, reason.field, reason.detail ?? reason.text];
    const score = reason.contribution ?? reason.score;
    const text = parts.filter(Boolean).join(" ");
    return typeof score === "number" ? `${text} +${score.toFixed(2)}` : text;
  }
  return String(reason);
}

function asNumber(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A discovery answer (ranked LoRAs with scores and per-keyword reasons) as rows for the preview. */
export function discoveryView(result) {
  const picks = Array.isArray(result?.picks) ? result.picks : Array.isArray(result?.loras) ? result.loras : [];
  const keywords = Array.isArray(result?.keywords) ? result.keywords : [];
  return {
    picks: picks.map((pick, rank) => ({
      rank: rank + 1,
      name: String(pick.name ?? ""),
      label: String(pick.display_name || fileStem(pick.name)),
      strength: asNumber(pick.strength),
      score: asNumber(pick.score ?? pick.relevance),
      reasons: (Array.isArray(pick.reasons) ? pick.reasons : []).map(reasonText).filter(Boolean),
      trigger: String(pick.trigger_added ?? ""),
    })),
    keywords: keywords.map((k) => ({
      word: String(k.word ?? k),
      picked: k.picked ? fileStem(k.picked) : "",
      generic: Boolean(k.generic),
    })),
    abstained: String(result?.abstained_reason ?? ""),
    warnings: (Array.isArray(result?.warnings) ? result.warnings : []).map(String),
  };
}

/** Human sizes for the cache section. */
export function formatBytes(bytes) {
  const value = Number(bytes);
  if (!Number.isFinite(value)) return "\u2013";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${size} B` : `${size.toFixed(1)} ${units[unit]}`;
}

const CACHE_FIELDS = [
  ["Hit rate", (s) => (s.hit_rate === null || s.hit_rate === undefined ? "\u2013" : formatRate(s.hit_rate, 1))],
  ["Hits / misses", (s) => `${s.hits ?? 0} / ${s.misses ?? 0}`],
  ["Entries", (s) => (s.max_entries ? `${s.entries ?? 0} of ${s.max_entries}` : `${s.entries ?? 0}`)],
  ["Memory", (s) => (s.max_bytes ? `${formatBytes(s.bytes_resident)} of ${formatBytes(s.max_bytes)}`
    : formatBytes(s.bytes_resident))],
  ["Evictions", (s) => `${s.evictions ?? 0}`],
];

/** The brand LoRA cache's counters as [label, value] rows. */
export function cacheRows(stats) {
  if (!stats || typeof stats !== "object") return [];
  const rows = CACHE_FIELDS.map(([label, value]) => [label, value(stats)]);
  if (stats.enabled === false) rows.unshift(["Cache", "disabled"]);
  return rows;
}
