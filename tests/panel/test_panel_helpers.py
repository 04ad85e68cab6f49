"""The panel's pure helpers (web/lib/panel_data.js), run in the same Chromium that runs the panel, as tables."""

from __future__ import annotations

import pytest

from panel_bench import PACK_URL

pytestmark = pytest.mark.browser

CALL = f"""async (cases) => {{
  const m = await import("{PACK_URL}/lib/panel_data.js");
  return cases.map(([name, args]) => m[name](...args));
}}"""

# The discovery capability's answer shape (engines/discovery DiscoveryResult.to_dict), trimmed to what the preview reads.
DISCOVERY = {
    "prompt": "ghibli style castle at dusk", "family": "sd15",
    "picks": [{"name": "styles/ghibliStyle_v2.safetensors", "display_name": "Ghibli Style", "strength": 0.74,
               "clip_strength": 0.74, "relevance": 0.9, "score": 3.21, "family": "sd15", "concept": ["ghibli"],
               "reasons": ["'ghibli' in trigger words +2.00", "'style' in name (generic) +0.21"],
               "trigger_added": "ghibli style", "alternatives": [], "note": ""}],
    "keywords": [{"word": "ghibli", "emphasis": 1.0, "in_loras": 1, "generic": False, "candidates": 1,
                  "picked": "styles/ghibliStyle_v2.safetensors"},
                 {"word": "style", "emphasis": 1.0, "in_loras": 9, "generic": True, "candidates": 9, "picked": ""}],
    "abstained_reason": "", "warnings": ["2 LoRAs of another family were left out"],
}

POOLS_VIEW = {"file": "/u/pools.json", "tiers": {
    "t1": {"missing": ["x.safetensors", "y.safetensors", "z.safetensors", "w.safetensors"]},
    "t2": {"missing": ["z.safetensors"]}, "t3": {"missing": []}}}

CASES = [
    (("fileStem", ["sub\\dir/model.v2.safetensors"]), "model.v2"),
    (("fileStem", [".hidden"]), ".hidden"),
    (("formatRate", [0.375, 8]), "37.5%"),
    (("formatRate", [2 / 3, 3]), "66.7%"),
    (("formatRate", [1, 1]), "100.0%"),
    (("formatRate", [0, 0]), "\u2013"),
    (("barPercent", [0.4, 5]), 40),
    (("barPercent", [1.7, 2]), 100),
    (("barPercent", [0.5, 0]), 0),
    (("statsRows", [{"b/z.safetensors": {"selected": 1, "total": 2, "selection_rate": 0.5},
                     "a.safetensors": {"selected": 0, "total": 0, "selection_rate": 0}}]),
     [{"name": "a.safetensors", "stem": "a", "selected": 0, "total": 0, "rate": 0},
      {"name": "b/z.safetensors", "stem": "z", "selected": 1, "total": 2, "rate": 0.5}]),
    (("statsRows", [{"m10.safetensors": {}, "m9.safetensors": {}}]),
     [{"name": "m9.safetensors", "stem": "m9", "selected": 0, "total": 0, "rate": 0},
      {"name": "m10.safetensors", "stem": "m10", "selected": 0, "total": 0, "rate": 0}]),
    (("poolsNote", [POOLS_VIEW, "", 3]), {"text": "Not installed, left out: x, y, z and 1 more.",
                                          "title": "x.safetensors\ny.safetensors\nz.safetensors\nw.safetensors"}),
    (("poolsNote", [POOLS_VIEW, "t2", 0]), {"text": "Not installed, left out: z. Tiers are defined in /u/pools.json.",
                                            "title": "z.safetensors"}),
    (("poolsNote", [POOLS_VIEW, "t3", 2]), {"text": "", "title": ""}),
    (("mergeStats", [{"a": 1, "b": 2}, {"b": 3}]), {"a": 1, "b": 3}),
    (("draftCaption", [{"checkpoint": "sd15/dream.safetensors", "seed": 7,
                        "loras": [{"name": "x/fox.safetensors", "strength": 0.7}]}]),
     {"checkpoint": "dream", "loras": "fox 0.7", "title": "sd15/dream.safetensors + x/fox.safetensors @ 0.7 (seed 7)"}),
    (("draftCaption", [{"checkpoint": "a.ckpt", "loras": []}]), {"checkpoint": "a", "loras": "no LoRA", "title": "a.ckpt (seed ?)"}),
    (("relativeTime", [1000, 1030]), "just now"),
    (("relativeTime", [0, 7300]), "2 h ago"),
    (("relativeTime", [0, 3 * 86400]), "3 d ago"),
    (("queueDrained", [None, {"exec_info": {"queue_remaining": 2}}]), {"remaining": 2, "drained": False}),
    (("queueDrained", [2, {"exec_info": {"queue_remaining": 0}}]), {"remaining": 0, "drained": True}),
    (("queueDrained", [0, {"exec_info": {"queue_remaining": 0}}]), {"remaining": 0, "drained": False}),
    (("queueDrained", [3, None]), {"remaining": 3, "drained": False}),
    (("discoveryView", [DISCOVERY]), {
        "picks": [{"rank": 1, "name": "styles/ghibliStyle_v2.safetensors", "label": "Ghibli Style", "strength": 0.74,
                   "score": 3.21, "reasons": ["'ghibli' in trigger words +2.00", "'style' in name (generic) +0.21"],
                   "trigger": "ghibli style"}],
        "keywords": [{"word": "ghibli", "picked": "ghibliStyle_v2", "generic": False},
                     {"word": "style", "picked": "", "generic": True}],
        "abstained": "", "warnings": ["2 LoRAs of another family were left out"]}),
    (("discoveryView", [{"picks": [], "keywords": [], "abstained_reason": "only generic words"}]),
     {"picks": [], "keywords": [], "abstained": "only generic words", "warnings": []}),
    (("discoveryView", [{"loras": [{"name": "a.safetensors", "score": 1.5,
                                    "reasons": [{"keyword": "fox", "field": "trigger", "contribution": 1.5}]}]}]),
     {"picks": [{"rank": 1, "name": "a.safetensors", "label": "a", "strength": None, "score": 1.5,
                 "reasons": ["fox trigger +1.50"], "trigger": ""}], "keywords": [], "abstained": "", "warnings": []}),
    (("cacheRows", [{"enabled": True, "entries": 2, "max_entries": 8, "bytes_resident": 3 * 1024 * 1024,
                     "max_bytes": 1024 ** 3, "hits": 9, "misses": 3, "evictions": 1, "hit_rate": 0.75}]),
     [["Hit rate", "75.0%"], ["Hits / misses", "9 / 3"], ["Entries", "2 of 8"], ["Memory", "3.0 MB of 1.0 GB"],
      ["Evictions", "1"]]),
    (("cacheRows", [{"enabled": False, "hit_rate": None}]),
     [["Cache", "disabled"], ["Hit rate", "\u2013"], ["Hits / misses", "0 / 0"], ["Entries", "0"], ["Memory", "\u2013"],
      ["Evictions", "0"]]),
]


def test_pure_helpers_as_a_table(page, lab):
    page.goto(lab.url)
    page.wait_for_function("() => window.__extensionsLoaded")
    got = page.evaluate(CALL, [list(call) for call, _ in CASES])
    mismatches = [(call, want, have) for (call, want), have in zip(CASES, got) if have != want]
    assert not mismatches


def test_picks_that_change_nothing_are_not_sent_and_bursts_of_refreshes_coalesce(page, lab):
    page.goto(lab.url)
    page.wait_for_function("() => window.__extensionsLoaded")
    result = page.evaluate(f"""async () => {{
      const m = await import("{PACK_URL}/lib/panel_data.js");
      const byId = m.indexDrafts([{{drafts: [{{id: "a", image: {{}}, selected: true}}, {{id: "b", image: {{}}, selected: false}},
                                            {{id: "c", image: null, selected: false}}]}}]);
      let calls = 0, release;
      const run = m.coalesce(() => {{ calls += 1; return new Promise((r) => {{ release = r; }}); }});
      const first = run(); run(); run();
      release(); await Promise.resolve(); await new Promise((r) => setTimeout(r, 0)); release(); await first;
      return {{pickTrue: m.idsToPick(["a", "b", "c", "zz"], byId, true), pickFalse: m.idsToPick(["a", "b"], byId, false), calls}};
    }}""")
    assert result == {"pickTrue": ["b"], "pickFalse": ["a"], "calls": 2}
