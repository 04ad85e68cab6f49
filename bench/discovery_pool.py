"""The discovery benchmark's LoRA pool and evaluation prompts, built from ``data/discovery_catalog.json``.

Pool: each catalog concept gets versions in one to three families (SD1.5, SDXL, Flux, a few SD3), named
the way such files are named on Civitai/Hugging Face (``makimaChainsawMan_v10``, ``pixel-artXL``,
``yarn_art_flux``, epoch suffixes, Pony/IL tags) with ~12% meaningless names (``lora_3f9a1c``,
``final_v3``) and a few names of another concept. Each version gets one metadata level: full (kohya +
modelspec + a Civitai sidecar), kohya header only, Civitai sidecar only, Lora-Manager, rgthree, A1111, or
none. Some made-up trigger tokens (Redmond style) are only findable from metadata.

Prompts: for each version, a Civitai-style prompt that carried ``<lora:name:w>`` (quality tags, subject,
the trigger or the concept phrase, extras); the tag is stripped and the system must recover the
concept's LoRA *of the prompt's family*. A fifth of them mix a character and a style. Prompts that need
no LoRA and generic style phrases measure abstaining. Concepts are split half dev (used to tune) and
half test (reported separately).
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CATALOG = Path(__file__).resolve().parent / "data" / "discovery_catalog.json"
FAMILY_ODDS = (("sd15", 0.8), ("sdxl", 0.75), ("flux", 0.35), ("sd3", 0.06))
FAMILY_ARCHS = {"sd15": ("sd15_full", "sd15_attn"), "sdxl": ("sdxl_unet", "sdxl_full"),
                "flux": ("flux_kohya", "flux_peft"), "sd3": ("sd3_kohya",)}
FAMILY_SUFFIXES = {"sd15": ("_v1", "_v2", "-000010", "_v10", "", "", "_offset", "_sd15"),
                   "sdxl": ("XL", "_XL_v1", "-sdxl", "", "", "XL_v2", "_PonyXL", "_ILXL", "_v1"),
                   "flux": ("_flux", "-flux-lora", "_F1D", "", "_v1"), "sd3": ("_sd35", "_v1")}
BASE_LABELS = {"sd15": ("SD 1.5",), "sdxl": ("SDXL 1.0", "Pony", "Illustrious"), "flux": ("Flux.1 D",),
               "sd3": ("SD 3.5",)}
A1111_VERSION = {"sd15": "SD1", "sdxl": "SDXL", "flux": "Unknown", "sd3": "Unknown"}
LEVELS = (("full", 0.25), ("kohya", 0.25), ("civitai", 0.15), ("lora_manager", 0.10), ("rgthree", 0.05),
          ("a1111", 0.05), ("none", 0.15))
MISLEADING = ("lora_{hex}", "final_v{n}", "my_lora_{n}", "test{n}", "untitled-{n}", "train_run_{n}")


def load_catalog() -> dict:
    return json.loads(CATALOG.read_text())


@dataclass
class PoolLora:
    file_name: str
    family: str
    arch: str
    concept: str
    kind: str
    title: str
    trigger: str
    phrase: str
    tags: list[str]
    level: str
    rank: int
    base_label: str
    strength: tuple[float, float] | None = None
    misleading: bool = False


@dataclass
class EvalPrompt:
    prompt: str
    original: str
    family: str
    targets: set[str] = field(default_factory=set)  # concept ids; empty = needs no LoRA
    split: str = "test"
    kind: str = "concept"  # concept | none | generic


def split_of(concept: str) -> str:
    return "dev" if zlib.crc32(concept.encode()) % 2 == 0 else "test"


def _name(rng: random.Random, stems: list[str], family: str, index: int) -> tuple[str, bool]:
    if rng.random() < 0.12:
        return rng.choice(MISLEADING).format(hex=f"{rng.getrandbits(24):06x}", n=rng.randint(1, 40)), True
    return stems[index % len(stems)] + rng.choice(FAMILY_SUFFIXES[family]), False


def _made_up_trigger(rng: random.Random, concept: str) -> str:
    head = concept.replace("_", "")[:5]
    return head + rng.choice(("RedmAF", "_sty", "zkw", "V1tok"))


def _versions(rng: random.Random, concept: list, utility: bool) -> list[PoolLora]:
    if utility:
        cid, title, trigger, tags, stems = concept
        kind, phrase = "utility", trigger or title.lower()
    else:
        cid, kind, title, trigger, phrase, tags, stems = concept
    families = [f for f, odds in FAMILY_ODDS if rng.random() < odds] or ["sd15"]
    if rng.random() < 0.15:
        families.append(families[0])  # a second LoRA of the same concept and family: a shared trigger
    out = []
    for index, family in enumerate(families):
        name, misleading = _name(rng, stems, family, index)
        version_trigger = trigger
        if trigger and not utility and rng.random() < 0.12:
            version_trigger = _made_up_trigger(rng, cid)
        level = rng.choices([lv for lv, _ in LEVELS], weights=[w for _, w in LEVELS])[0]
        strength = (round(rng.uniform(0.4, 0.7), 2), round(rng.uniform(0.75, 1.0), 2)) if rng.random() < 0.3 else None
        out.append(PoolLora(name, family, rng.choice(FAMILY_ARCHS[family]), cid, kind, title, version_trigger, phrase,
                            list(tags), level, rng.choice((4, 8, 16, 32, 64)), rng.choice(BASE_LABELS[family]),
                            strength, misleading))
    return out


def build_pool(catalog: dict, seed: int = 0) -> list[PoolLora]:
    rng = random.Random(seed)
    pool = [v for c in catalog["concepts"] for v in _versions(rng, c, False)]
    pool += [v for c in catalog["utility"] for v in _versions(rng, c, True)]
    seen: dict[str, int] = {}
    for lora in pool:
        key = lora.file_name.lower()
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            lora.file_name += f"_{seen[key]}"
        lora.file_name += ".safetensors"
    return pool


def _concept_text(rng: random.Random, lora: PoolLora) -> str:
    text = lora.trigger if lora.trigger else lora.phrase
    if lora.trigger and lora.trigger != lora.phrase.split(",")[0] and rng.random() < 0.5:
        text = f"{lora.trigger}, {lora.phrase}"
    return f"({text}:{rng.choice((1.1, 1.2, 1.3))})" if rng.random() < 0.25 else text


def _prompt_for(rng: random.Random, catalog: dict, loras: list[PoolLora]) -> tuple[str, str]:
    parts = [rng.choice(catalog["qualities"])]
    for lora in loras:
        subjects = catalog["subjects"].get(lora.kind, catalog["subjects"]["style"])
        parts += [_concept_text(rng, lora), rng.choice(subjects)]
    parts.append(rng.choice(catalog["extras"]))
    stripped = ", ".join(p for p in parts if p)
    tags = " ".join(f"<lora:{lora.file_name.rsplit('.', 1)[0]}:{rng.choice((0.6, 0.7, 0.8, 1.0))}>" for lora in loras)
    return stripped, f"{stripped} {tags}"


def build_prompts(catalog: dict, pool: list[PoolLora], seed: int = 0) -> list[EvalPrompt]:
    """One prompt per concept version, a fifth of them two-concept; plus no-LoRA and generic prompts."""
    rng = random.Random(seed + 1)
    concepts = [lora for lora in pool if lora.kind != "utility"]
    styles = [lora for lora in concepts if lora.kind == "style"]
    prompts = []
    for lora in concepts:
        chosen = [lora]
        partners = [s for s in styles if s.family == lora.family and s.concept != lora.concept]
        if lora.kind == "character" and partners and rng.random() < 0.4:
            chosen.append(rng.choice(partners))
        stripped, original = _prompt_for(rng, catalog, chosen)
        prompts.append(EvalPrompt(stripped, original, lora.family, {c.concept for c in chosen}, split_of(lora.concept)))
    families = sorted({lora.family for lora in pool})
    for index, text in enumerate(catalog["no_lora"]):
        prompts.append(EvalPrompt(text, text, families[index % len(families)], set(), split_of(text), "none"))
    for index, text in enumerate(catalog["generic_phrases"]):
        prompts.append(EvalPrompt(text, text, families[index % len(families)], set(), split_of(text), "generic"))
    return prompts
