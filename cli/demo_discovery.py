"""Demo step: index a small mixed-family LoRA library with sidecars, discover LoRAs for prompts, learn from a pick."""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path

DEMO_LORAS = (  # (file, arch, metadata level, title, trigger, base label, tags)
    ("ghibli_style_v2.safetensors", "sd15_attn", "full", "Studio Ghibli style", "ghibli style", "SD 1.5", ["anime", "style"]),
    ("StudioGhibliRedmond.safetensors", "sdxl_unet", "civitai", "Studio Ghibli Redmond", "StdGBRedmAF", "SDXL 1.0", ["style"]),
    ("watercolorPainting_v1.safetensors", "sd15_attn", "kohya", "Watercolor", "watercolor", "SD 1.5", ["style"]),
    ("watercolor_dreams.safetensors", "sd15_full", "lora_manager", "Watercolor dreams", "watercolor", "SD 1.5", ["style"]),
    ("makimaChainsawMan_v10.safetensors", "sd15_attn", "kohya", "Makima", "makima \\(chainsaw man\\)", "SD 1.5", ["character"]),
    ("pixel-art-xl.safetensors", "sdxl_unet", "full", "Pixel Art XL", "pixel art", "SDXL 1.0", ["pixel art"]),
    ("digital_illustration.safetensors", "sd15_attn", "civitai", "Digital illustration", "digital illustration", "SD 1.5", ["style"]),
    ("lora_3f9a1c.safetensors", "sd15_attn", "a1111", "Papercut", "papercut", "SD 1.5", ["craft"]),
)
PROMPTS = ("a cozy cottage by a lake, ghibli style, (watercolor:1.1)", "makima \\(chainsaw man\\), papercut",
           "digital illustration of a mountain at sunset, highly detailed", "pixel art castle")


def _write_library(folder: Path) -> None:
    from ..bench.discovery_pool import PoolLora
    from ..bench.discovery_write import write_pool_lora

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    for name, arch, level, title, trigger, label, tags in DEMO_LORAS:
        family = "sdxl" if arch.startswith("sdxl") else "sd15"
        write_pool_lora(folder, PoolLora(name, family, arch, name, "style", title, trigger, trigger, tags, level, 8,
                                         label, (0.6, 0.9) if level == "lora_manager" else None), rng)


def _pick(database, prompt: str, result, chosen: str) -> None:
    """Record a batch of the result's variants and a pick of the draft that used ``chosen`` (the generation store)."""
    batch = uuid.uuid4().hex
    with database.transaction() as conn:
        conn.execute("INSERT INTO batches(id, prompt, mode, created) VALUES (?, ?, 'explore', ?)", (batch, prompt, time.time()))
        for index, variant in enumerate(result.variants):
            draft = f"{batch}-{index}"
            loras = json.dumps([{"name": p.name, "strength": p.strength} for p in variant.picks])
            conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras, image_filename) "
                         "VALUES (?, ?, ?, 'demo.safetensors', ?, ?)", (draft, batch, index, loras, f"{draft}.png"))
            picked = any(p.name == chosen for p in variant.picks)
            conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES (?, ?, ?)", (draft, int(picked), time.time()))


def run(workdir: Path) -> dict:
    from ..engines.discovery import DiscoverOptions, LibraryRoot, LoraLibrary
    from ..engines.store import Database

    folder = workdir / "discovery_loras"
    _write_library(folder)
    database = Database(workdir / "discovery_demo.sqlite")
    library = LoraLibrary(database, lambda: [LibraryRoot(str(folder))])
    report = library.refresh()
    picks = {}
    for prompt in PROMPTS:
        result = library.discover(prompt, DiscoverOptions(family="sd15"))
        reason = result.abstained_reason.split(";")[0]
        picks[prompt] = [f"{p.name}@{p.strength:g}" for p in result.picks] or [f"none: {reason}"]
    prompt = "watercolor portrait of a fox"
    before = library.discover(prompt, DiscoverOptions(family="sd15", variations=2, seed=1))
    for _ in range(3):
        _pick(database, prompt, before, "watercolor_dreams.safetensors")
    after = library.discover(prompt, DiscoverOptions(family="sd15"))
    return {"files_indexed": report.files, "index_seconds": report.seconds, "picks_sd15": picks,
            "watercolor_before_picks": before.picks[0].name if before.picks else None,
            "watercolor_after_3_picks": after.picks[0].name if after.picks else None}
