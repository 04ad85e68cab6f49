"""Write the benchmark pool (and filler LoRAs up to a library size) as files with headers and sidecars."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from .discovery_library import Sidecars, civitai_record, tag_frequency, write_header_file, write_sidecars
from .discovery_pool import A1111_VERSION, FAMILY_ARCHS, PoolLora

SYLLABLES = ("zor", "vak", "mel", "ith", "qua", "dri", "pon", "lux", "ter", "nim", "gal", "rok", "sib", "fen", "tav",
             "ul", "bre", "cas", "dom", "yth", "ark", "sel", "vin", "oth")
FILLER_TAGS = ("style", "anime", "character", "concept", "clothing", "realistic", "photography", "3d", "art",
               "woman", "landscape", "portrait", "fantasy", "cute", "girl", "detailed")


def _tag_bytes(rng: random.Random) -> int:
    """0.5 KB to 50 KB, log-uniform (most real files are small, some carry huge caption sets)."""
    return int(math.exp(rng.uniform(math.log(500), math.log(50_000))))


def _kohya_metadata(rng: random.Random, lora: PoolLora, with_tags: bool) -> dict[str, str]:
    stem = lora.file_name.rsplit(".", 1)[0]
    metadata = {"ss_network_module": "networks.lora", "ss_network_dim": str(lora.rank),
                "ss_network_alpha": str(lora.rank / 2), "ss_output_name": stem, "ss_num_epochs": "10",
                "ss_resolution": "(512, 512)" if lora.family == "sd15" else "(1024, 1024)",
                "ss_learning_rate": "0.0001", "ss_sd_model_name": f"{lora.family}_base.safetensors"}
    if rng.random() < 0.6:
        metadata["ss_base_model_version"] = {"sd15": "sd_v1", "sdxl": "sdxl_base_v1-0", "flux": "flux1",
                                             "sd3": "sd3"}[lora.family]
    if with_tags:
        instance = lora.trigger or lora.phrase.split(",")[0]
        folder = f"{rng.choice((5, 10, 20))}_{instance}"
        metadata["ss_tag_frequency"] = tag_frequency(rng, folder, [instance] + lora.tags[:2], _tag_bytes(rng))
    return metadata


def _modelspec(lora: PoolLora) -> dict[str, str]:
    architecture = {"sd15": "stable-diffusion-v1/lora", "sdxl": "stable-diffusion-xl-v1-base/lora",
                    "flux": "flux-1-dev/lora", "sd3": "stable-diffusion-v3-medium/lora"}[lora.family]
    spec = {"modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": architecture, "modelspec.title": lora.title}
    if lora.trigger:
        spec["modelspec.trigger_phrase"] = lora.trigger
    return spec


def _examples(rng: random.Random, lora: PoolLora) -> list[str]:
    text = lora.trigger or lora.phrase
    return [f"masterpiece, best quality, {text}, {rng.choice(('1girl', 'scenery', 'a cat', 'city street'))}, "
            f"{rng.choice(('forest', 'night', 'sunset', 'studio lighting'))} <lora:{lora.file_name[:-12]}:0.8>"
            for _ in range(rng.randint(1, 3))]


def _civitai(rng: random.Random, lora: PoolLora) -> dict:
    words = [lora.trigger] if lora.trigger else []
    return civitai_record(lora.title, lora.base_label, words, lora.tags, _examples(rng, lora),
                          f"<p>{lora.title} LoRA. Use with {lora.base_label} checkpoints.</p>")


def _sidecars(rng: random.Random, lora: PoolLora) -> Sidecars:
    if lora.level in ("full", "civitai"):
        return Sidecars(civitai=_civitai(rng, lora))
    if lora.level == "lora_manager":
        tips = {"strength_min": lora.strength[0], "strength_max": lora.strength[1]} if lora.strength else {}
        return Sidecars(lora_manager={"file_name": lora.file_name[:-12], "model_name": lora.title,
                                      "base_model": lora.base_label, "tags": lora.tags, "usage_tips": json.dumps(tips),
                                      "civitai": _civitai(rng, lora)})
    if lora.level == "rgthree":
        words = ([{"word": lora.trigger, "civitai": True}] if lora.trigger else []) + [
            {"word": tag, "count": rng.randint(5, 50), "metadata": True} for tag in ("1girl", "solo")]
        record = {"file": lora.file_name, "name": lora.title, "baseModel": lora.base_label, "trainedWords": words}
        if lora.strength:
            record.update(strengthMin=lora.strength[0], strengthMax=lora.strength[1])
        return Sidecars(rgthree=record)
    if lora.level == "a1111":
        weight = round(sum(lora.strength) / 2, 2) if lora.strength else 0
        return Sidecars(a1111={"description": lora.title, "sd version": A1111_VERSION[lora.family],
                               "activation text": lora.trigger, "preferred weight": weight, "notes": ""})
    return Sidecars()


def write_pool_lora(folder: Path, lora: PoolLora, rng: random.Random) -> int:
    """Write one pool LoRA (header + the sidecars of its level); returns its header length."""
    metadata: dict[str, str] = {}
    if lora.level in ("full", "kohya"):
        metadata = _kohya_metadata(rng, lora, with_tags=True)
    elif lora.level != "none" and rng.random() < 0.5:
        metadata = _kohya_metadata(rng, lora, with_tags=False)
    if lora.level == "full":
        metadata.update(_modelspec(lora))
    path = folder / lora.file_name
    length = write_header_file(path, lora.arch, lora.rank, metadata)
    write_sidecars(path, _sidecars(rng, lora))
    return length


def filler_loras(count: int, seed: int) -> list[PoolLora]:
    """Unrelated LoRAs (made-up words, generic tags, mixed families) to grow a library to a given size."""
    rng = random.Random(seed + 7)
    out = []
    for index in range(count):
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        family = rng.choices(("sd15", "sdxl", "flux", "sd3"), weights=(45, 40, 12, 3))[0]
        tags = rng.sample(FILLER_TAGS, 3)
        level = rng.choices(("full", "kohya", "civitai", "lora_manager", "none"), weights=(25, 30, 20, 10, 15))[0]
        name = f"{word}_{rng.choice(tags)}_v{rng.randint(1, 9)}_{index}.safetensors"
        out.append(PoolLora(name, family, rng.choice(FAMILY_ARCHS[family]), f"filler_{word}", "filler",
                            word.capitalize(), word if rng.random() < 0.6 else "", word, tags, level,
                            rng.choice((4, 8, 16, 32, 64, 128)),
                            {"sd15": "SD 1.5", "sdxl": "SDXL 1.0", "flux": "Flux.1 D", "sd3": "SD 3.5"}[family]))
    return out


def write_library(folder: Path, loras: list[PoolLora], seed: int = 0, per_folder: int = 500) -> dict[str, int]:
    """Write every LoRA into subfolders of ``per_folder`` files; returns {relative name: header length}."""
    rng = random.Random(seed + 3)
    lengths = {}
    for index, lora in enumerate(loras):
        sub = folder / f"set_{index // per_folder:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        lengths[f"{sub.name}/{lora.file_name}"] = write_pool_lora(sub, lora, rng)
    return lengths
