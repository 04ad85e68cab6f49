"""Demo step: a small brand library, a stack resolved and loaded twice through the cache, metadata, A/B arms.

Applying the stack to a MODEL/CLIP needs ComfyUI (``comfy.sd.load_lora_for_models``); everything before
that runs here: resolution (roles, versions, pins), the cache, the metadata the route serves, and A/B
assignment with per-arm results read from a generation store.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path

MODULES = [("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768),
           ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 768, 320),
           ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320)]


def _write(path: Path, seed: int, title: str) -> None:
    import torch

    from ..engines.lora_format import save_tensors

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, width_in, width_out in MODULES:
        tensors[f"{name}.lora_down.weight"] = torch.randn(8, width_in, generator=generator) * 0.01
        tensors[f"{name}.lora_up.weight"] = torch.randn(width_out, 8, generator=generator) * 0.01
        tensors[f"{name}.alpha"] = torch.tensor(4.0)
    save_tensors(path, tensors, {"ss_base_model_version": "sd_v1", "ss_output_name": title,
                                 "ss_max_train_steps": "800", "ss_num_train_images": "30"}, overwrite=True)


def _library(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    _write(root / "acme" / "v1" / "style.safetensors", 1, "acme style v1")
    _write(root / "acme" / "v2" / "style.safetensors", 2, "acme style v2")
    _write(root / "acme" / "product.safetensors", 3, "acme product")
    _write(root / "studio_photo" / "lora.safetensors", 4, "studio photography")
    (root / "acme" / "metadata.json").write_text(json.dumps({
        "description": "Acme house style", "base_model": "sd15", "trigger_words": ["acme style"],
        "versions": {"v1": {"notes": "first cut"}, "v2": {"notes": "warmer palette"}},
        "ab_arms": {"subtle": 0.5, "bold": 0.9}}))


def _record_picks(db, style_name: str) -> None:
    """Drafts and picks as the explorer capability writes them (two per arm, one picked)."""
    from ..engines.store.generations import COMPONENT, MIGRATIONS

    db.migrate(COMPONENT, MIGRATIONS)
    with db.transaction() as conn:
        conn.execute("DELETE FROM batches")
        conn.execute("INSERT INTO batches(id, prompt, mode, created) VALUES ('demo', 'acme bottle', 'quick', ?)",
                     (time.time(),))
        for index, (strength, selected) in enumerate([(0.5, 1), (0.5, 0), (0.9, 1), (0.9, 1)]):
            conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras) VALUES (?, 'demo', ?, 'sd15', ?)",
                         (f"d{index}", index, json.dumps([{"name": style_name, "strength": strength}])))
            conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES (?, ?, ?)",
                         (f"d{index}", selected, time.time()))


def run(workdir: Path) -> dict:
    from ..engines.brands import BrandService
    from ..engines.brands.ab import assign_arm, brand_experiment, parse_arms
    from ..engines.brands.describe import listing
    from ..engines.brands.scan import BrandRoot
    from ..engines.brands.run import StackRequest
    from ..engines.brands.stack import resolve_items
    from ..engines.store import Database

    root = workdir / "brands_demo" / "loras" / "brands"
    _library(root)
    service = BrandService(lambda: [BrandRoot(root, "brands")])
    items = resolve_items(service.library, StackRequest("acme", 0.8, "acme/product: 0.6\nstudio_photo: 0.4").entries())
    first = [service.cache.get(item.path) for item in items]
    second = [service.cache.get(item.path) for item in items]
    _, metadata = service.metadata.get("acme")
    arms = parse_arms(service.library.sidecar(service.library.get("acme")).ab_arms, "acme")
    db = Database(workdir / "brands_demo" / "lora_lab.sqlite")
    _record_picks(db, items[0].lora_name)
    stats = service.cache.snapshot()
    return {
        "brands": [b["brand_id"] for b in listing(service.library)["brands"]],
        "stack": [f"{item.lora_name} @ {item.weight}" for item in items],
        "first_pass": [("hit" if r.hit else "miss") + f" {r.seconds * 1000:.2f} ms" for r in first],
        "second_pass": [("hit" if r.hit else "miss") + f" {r.seconds * 1000:.3f} ms" for r in second],
        "cache": {key: stats[key] for key in ("hits", "misses", "entries", "bytes_resident", "hit_rate")},
        "acme_versions": [v["version"] or "unversioned" for v in metadata["versions"]],
        "acme_etag": metadata["etag"],
        "arm_assignment_1000_keys": dict(Counter(assign_arm(arms, key).name for key in range(1000))),
        "arm_results": [(a["arm"], f"{a['picked']}/{a['drafts']} picked") for a in
                        brand_experiment(service.library, db, "acme")["arms"]],
    }
