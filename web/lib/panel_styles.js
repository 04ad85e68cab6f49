// The panel's CSS, injected once as a <style> element (a <link> would load after the first paint and shift
// the layout). Colours come only from ComfyUI's theme variables (set by its colour palettes, dark and light),
// with neutral fallbacks. Only exports.

const STYLE_ID = "lora-lab-panel-styles";

const ACCENT = "var(--p-primary-color, #3b82f6)";

export const PANEL_CSS = `
.ll-panel { box-sizing: border-box; height: 100%; overflow-y: auto; padding: 10px 12px 24px;
  color: var(--fg-color, #ddd); font-size: 13px; line-height: 1.35; }
.ll-panel *, .ll-panel *::before, .ll-panel *::after { box-sizing: border-box; }
.ll-panel :focus-visible { outline: 2px solid ${ACCENT}; outline-offset: 2px; }
.ll-header { display: flex; align-items: center; gap: 8px; margin-bottom: 10px; }
.ll-header h2 { flex: 1; margin: 0; font-size: 15px; font-weight: 600; }
.ll-updated { color: var(--descrip-text, #999); font-size: 11px; min-width: 6em; text-align: right; }
.ll-section { margin: 0 0 14px; padding: 0 0 12px; border-bottom: 1px solid var(--border-color, #4e4e4e); }
.ll-section:last-child { border-bottom: 0; }
.ll-section > h3 { display: flex; align-items: center; gap: 8px; margin: 0 0 8px; font-size: 13px; font-weight: 600; }
.ll-section > h3 > span { flex: 1; }
.ll-muted { color: var(--descrip-text, #999); }
.ll-small { font-size: 11px; }
.ll-button, .ll-select, .ll-input { font: inherit; color: var(--input-text, #ddd);
  background: var(--comfy-input-bg, #222); border: 1px solid var(--border-color, #4e4e4e); border-radius: 4px; }
.ll-button { padding: 3px 9px; cursor: pointer; white-space: nowrap; }
.ll-button:hover:not(:disabled) { border-color: ${ACCENT}; }
.ll-button:disabled { opacity: 0.55; cursor: default; }
.ll-select { padding: 2px 4px; width: 10em; }
.ll-input { padding: 4px 6px; flex: 1; min-width: 0; }
.ll-row { display: flex; align-items: center; gap: 8px; min-height: 28px; }
.ll-row > .ll-label { flex: 1; }
.ll-segmented { display: inline-flex; border: 1px solid var(--border-color, #4e4e4e); border-radius: 4px;
  overflow: hidden; }
.ll-segmented input { position: absolute; opacity: 0; width: 1px; height: 1px; margin: 0; }
.ll-segmented label { padding: 3px 12px; cursor: pointer; background: var(--comfy-input-bg, #222);
  color: var(--input-text, #ddd); }
.ll-segmented label + input + label, .ll-segmented input + label ~ label { border-left: 1px solid var(--border-color, #4e4e4e); }
/* inverted text colours: as readable as the panel's own text in every palette (a primary fill is not) */
.ll-segmented input:checked + label { background: var(--fg-color, #ddd); color: var(--comfy-menu-bg, #171718); font-weight: 600; }
.ll-segmented input:focus-visible + label { outline: 2px solid ${ACCENT}; outline-offset: -2px; }
.ll-segmented input:disabled + label { cursor: default; opacity: 0.6; }
.ll-switch { width: 16px; height: 16px; accent-color: ${ACCENT}; cursor: pointer; }
.ll-error { margin: 6px 0; padding: 6px 8px; border-left: 3px solid var(--error-text, #f44); color: var(--fg-color, #ddd);
  background: var(--comfy-input-bg, #222); display: flex; gap: 8px; align-items: flex-start; }
.ll-error > span { flex: 1; overflow-wrap: anywhere; }
.ll-stats, .ll-lora-stats { width: 100%; border-collapse: collapse; table-layout: fixed; }
.ll-lora-box { height: 190px; overflow-y: auto; }
.ll-stats th, .ll-stats td, .ll-lora-stats th, .ll-lora-stats td { padding: 4px 4px; text-align: right; height: 34px; vertical-align: middle; }
.ll-stats th, .ll-lora-stats th { height: auto; font-weight: 600; font-size: 11px; color: var(--descrip-text, #999); }
.ll-stats th:first-child, .ll-stats td:first-child, .ll-lora-stats th:first-child, .ll-lora-stats td:first-child { text-align: left; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.ll-stats col.ll-num, .ll-lora-stats col.ll-num { width: 3.6em; }
.ll-stats col.ll-rate, .ll-lora-stats col.ll-rate { width: 6.5em; }
.ll-stats tbody tr:nth-child(odd), .ll-lora-stats tbody tr:nth-child(odd) { background: var(--tr-odd-bg-color, transparent); }
.ll-stats tbody tr:nth-child(even), .ll-lora-stats tbody tr:nth-child(even) { background: var(--tr-even-bg-color, transparent); }
.ll-stats[aria-busy="true"] tbody, .ll-lora-stats[aria-busy="true"] tbody { opacity: 0.7; }
.ll-bar { display: block; height: 5px; margin-top: 3px; border-radius: 3px; overflow: hidden;
  background: var(--comfy-input-bg, #333); border: 1px solid var(--border-color, #4e4e4e); }
.ll-bar > span { display: block; height: 100%; background: ${ACCENT}; transition: width 0.25s ease; }
.ll-note { margin: 6px 0 0; font-size: 11px; color: var(--descrip-text, #999); overflow-wrap: anywhere; }
.ll-skeleton { display: block; border-radius: 3px; background: var(--border-color, #4e4e4e);
  animation: ll-pulse 1.2s ease-in-out infinite; }
.ll-skeleton-line { height: 12px; width: 70%; }
@keyframes ll-pulse { 0%, 100% { opacity: 0.55; } 50% { opacity: 0.25; } }
@media (prefers-reduced-motion: reduce) { .ll-skeleton { animation: none; } .ll-bar > span { transition: none; } }
.ll-bulk { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; min-height: 30px; margin-bottom: 8px; }
.ll-bulk > .ll-count { flex: 1; min-width: 6em; }
.ll-batch { margin-bottom: 12px; }
.ll-batch-head { display: flex; gap: 6px; align-items: baseline; margin-bottom: 5px; min-width: 0; }
.ll-batch-head > b { flex: 1; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ll-batch-head > span { font-size: 11px; white-space: nowrap; }
.ll-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(76px, 1fr)); gap: 8px; }
.ll-card { position: relative; min-width: 0; }
.ll-thumb { display: block; position: relative; width: 100%; aspect-ratio: 1 / 1; padding: 0; overflow: hidden;
  cursor: pointer; border-radius: 5px; border: 2px solid var(--border-color, #4e4e4e);
  background: var(--comfy-input-bg, #333); }
.ll-thumb img { display: block; width: 100%; height: 100%; object-fit: cover; }
.ll-thumb:disabled { cursor: default; }
.ll-thumb[aria-pressed="true"] { border-color: ${ACCENT}; box-shadow: 0 0 0 1px ${ACCENT}; }
.ll-thumb[aria-busy="true"] { opacity: 0.6; }
.ll-star { position: absolute; top: 3px; right: 4px; font-size: 17px; line-height: 1; color: #ffc107;
  text-shadow: 0 0 2px #000, 0 0 3px #000; visibility: hidden; }
.ll-thumb[aria-pressed="true"] .ll-star { visibility: visible; }
.ll-empty-thumb { display: flex; align-items: center; justify-content: center; height: 100%; font-size: 11px;
  color: var(--descrip-text, #999); }
.ll-check { position: absolute; top: 3px; left: 3px; display: flex; padding: 2px; border-radius: 3px;
  background: var(--comfy-menu-bg, rgba(0, 0, 0, 0.6)); }
.ll-check input { margin: 0; width: 15px; height: 15px; accent-color: ${ACCENT}; cursor: pointer; }
.ll-caption { margin-top: 3px; font-size: 11px; line-height: 14px; height: 28px; overflow: hidden; }
.ll-caption > span { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ll-caption > span + span { color: var(--descrip-text, #999); }
.ll-form { display: flex; gap: 6px; }
.ll-results { margin: 8px 0 0; padding-left: 1.4em; min-height: 3em; }
.ll-results li { margin-bottom: 8px; }
.ll-results ul { margin: 3px 0 0; padding-left: 1.1em; color: var(--descrip-text, #999); font-size: 11px; }
.ll-chips { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
.ll-chip { padding: 1px 7px; border-radius: 9px; font-size: 11px; border: 1px solid var(--border-color, #4e4e4e); }
.ll-chip[data-picked="true"] { border-color: ${ACCENT}; }
.ll-dl { display: grid; grid-template-columns: auto 1fr; gap: 3px 10px; margin: 0; }
.ll-dl dt { color: var(--descrip-text, #999); }
.ll-dl dd { margin: 0; text-align: right; }
.ll-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/** Add the panel's stylesheet to `doc` once. */
export function ensureStyles(doc) {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = PANEL_CSS;
  doc.head.append(style);
}
