"""Small real LoRA libraries for the discovery tests: header-real safetensors files and real sidecar JSON."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from comfyui_lora_lab.bench.discovery_library import Sidecars, civitai_record, write_header_file, write_sidecars
from comfyui_lora_lab.engines.discovery import LibraryRoot, LoraLibrary
from comfyui_lora_lab.engines.store import Database

SD15 = {"ss_base_model_version": "sd_v1"}
SDXL = {"ss_base_model_version": "sdxl_base_v1-0"}


def lora(folder: Path, name: str, arch: str = "sd15_attn", metadata: dict | None = None,
         sidecars: Sidecars | None = None, rank: int = 4) -> Path:
    """Write ``folder/name`` (a valid header, sparse data) and its sidecars."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_header_file(path, arch, rank, dict(metadata or {}))
    if sidecars is not None:
        write_sidecars(path, sidecars)
    return path


def civitai(title: str, base: str, words: list[str], tags: list[str] = (), prompts: list[str] = ()) -> Sidecars:
    return Sidecars(civitai=civitai_record(title, base, list(words), list(tags), list(prompts)))


def raw_file(path: Path, header: bytes, data: bytes = b"", declared: int | None = None) -> Path:
    """A file with an arbitrary header (for bad-input tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(header) if declared is None else declared) + header + data)
    return path


def library(tmp_path: Path, folder: Path, workers: int = 1, semantic: bool = False) -> LoraLibrary:
    """Lexical only by default (deterministic without the optional sentence model)."""
    return LoraLibrary(Database(tmp_path / "lab.sqlite"), lambda: [LibraryRoot(str(folder))], read_workers=workers,
                       semantic=semantic)


def standard_library(folder: Path) -> None:
    """A mixed library: triggers from headers and every sidecar kind, shared triggers, generic traps, families."""
    lora(folder, "ghibli_style_v2.safetensors", metadata={**SD15, "modelspec.trigger_phrase": "ghibli style",
                                                         "ss_output_name": "ghibli style"})
    lora(folder, "ghibliStyleXL.safetensors", "sdxl_unet", metadata={**SDXL, "modelspec.trigger_phrase": "ghibli style"})
    lora(folder, "watercolorPainting_v1.safetensors", metadata={
        **SD15, "ss_tag_frequency": json.dumps({"10_watercolor": {"watercolor": 40, "1girl": 30, "flower": 12}})})
    lora(folder, "watercolor_dreams.safetensors", metadata=SD15, sidecars=Sidecars(lora_manager={
        "model_name": "Watercolor Dreams", "base_model": "SD 1.5", "tags": ["style"],
        "usage_tips": json.dumps({"strength_min": 0.6, "strength_max": 0.7}),
        "civitai": {"trainedWords": ["watercolor"]}}))
    lora(folder, "makimaChainsawMan_v10.safetensors", metadata=SD15,
         sidecars=civitai("Makima (Chainsaw Man)", "SD 1.5", ["makima \\(chainsaw man\\), ringed eyes"], ["character"]))
    lora(folder, "lora_3f9a1c.safetensors", sidecars=Sidecars(a1111={
        "activation text": "papercut", "preferred weight": 0.7, "sd version": "SD1", "description": "paper cutout"}))
    lora(folder, "yarn_art_flux.safetensors", "flux_kohya", sidecars=Sidecars(rgthree={
        "name": "Yarn Art", "baseModel": "Flux.1 D", "trainedWords": [{"word": "yarn art style", "civitai": True}],
        "strengthMin": 0.9, "strengthMax": 1.1}))
    lora(folder, "digital_illustration.safetensors", metadata=SD15,
         sidecars=civitai("Digital Illustration", "SD 1.5", ["digital illustration"], ["style"]))
    lora(folder, "pixel-art-xl.safetensors", "sdxl_unet", metadata={**SDXL, "modelspec.trigger_phrase": "pixel art"})
