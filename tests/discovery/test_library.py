"""The library index on real files: what it derives, incremental refresh, warm start, upsert, bad input."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from comfyui_lora_lab.engines.discovery import LibraryRoot, LoraLibrary
from comfyui_lora_lab.engines.discovery.scanner import index_files, walk
from comfyui_lora_lab.engines.store import Database

from discovery_fixtures import SD15, civitai, library, lora, raw_file, standard_library


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "loras"
    standard_library(folder)
    return folder


def test_entries_merge_header_and_every_sidecar_kind(tmp_path, folder):
    lib = library(tmp_path, folder)
    report = lib.refresh()
    assert (report.files, report.read, report.removed) == (9, 9, 0)
    makima = lib.entry("makimaChainsawMan_v10.safetensors")
    assert makima.display_name == "Makima (Chainsaw Man)" and makima.triggers[0] == "makima \\(chainsaw man\\)"
    assert (makima.family, makima.family_source) == ("sd15", "declared") and makima.sources == ["header", "civitai"]
    papercut = lib.entry("lora_3f9a1c.safetensors")
    assert papercut.triggers == ["papercut"] and papercut.family == "sd15" and papercut.strength == pytest.approx([0.6, 0.8])
    assert lib.entry("watercolorPainting_v1.safetensors").triggers == ["watercolor"]  # kohya dataset folder "10_watercolor"
    assert lib.entry("watercolor_dreams.safetensors").strength == [0.6, 0.7]
    yarn = lib.entry("yarn_art_flux.safetensors")
    assert (yarn.family, yarn.triggers, yarn.strength) == ("flux", ["yarn art style"], [0.9, 1.1])
    xl = lib.entry("pixel-art-xl.safetensors")
    assert (xl.family, xl.rank, xl.header_bytes) == ("sdxl", 4, os.path.getsize(folder / "pixel-art-xl.safetensors")
                                                    - xl.size + xl.header_bytes)


def test_bytes_read_are_exactly_the_headers(tmp_path, folder):
    lib = library(tmp_path, folder)
    lib.refresh()
    for entry in lib.index.entries.values():
        with open(entry.path, "rb") as handle:
            assert entry.header_bytes == 8 + int.from_bytes(handle.read(8), "little")


def test_refresh_reads_only_new_or_changed_files(tmp_path, folder):
    lib = library(tmp_path, folder)
    lib.refresh()
    assert lib.refresh().read == 0
    path = folder / "ghibli_style_v2.safetensors"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    (folder / "digital_illustration.civitai.info").unlink()
    lora(folder, "sub/new_one.safetensors", metadata=SD15)
    (folder / "lora_3f9a1c.safetensors").unlink()
    report = lib.refresh()
    assert (report.read, report.removed) == (3, 1)
    assert lib.entry("sub/new_one.safetensors") is not None and lib.entry("lora_3f9a1c.safetensors") is None
    assert lib.entry("digital_illustration.safetensors").triggers == []


def test_warm_start_uses_the_stored_index(tmp_path, folder):
    library(tmp_path, folder).refresh()
    warm = library(tmp_path, folder)
    assert warm.load() == 9 and warm.entry("ghibli_style_v2.safetensors").triggers == ["ghibli style"]
    assert warm.refresh().read == 0


def test_upsert_registers_one_file_without_a_scan(tmp_path, folder):
    lib = library(tmp_path, folder)
    lib.refresh()
    version = lib.version()
    path = lora(folder, "trained/my_new_style.safetensors", metadata={**SD15, "modelspec.trigger_phrase": "mnstyle"})
    entry = lib.upsert(path)
    assert entry.name == "trained/my_new_style.safetensors" and lib.version() != version
    assert library(tmp_path, folder).load() == 10  # stored too
    with pytest.raises(ValueError, match="not inside a LoRA folder"):
        lib.upsert(tmp_path / "elsewhere.safetensors")
    with pytest.raises(FileNotFoundError):
        lib.upsert(folder / "missing.safetensors")
    assert lib.forget(path) and lib.entry("trained/my_new_style.safetensors") is None


def test_bad_files_are_indexed_with_a_warning_or_skipped_with_a_reason(tmp_path):
    folder = tmp_path / "loras"
    lora(folder, "good.safetensors", metadata=SD15)
    raw_file(folder / "truncated.safetensors", b"{}", declared=999_999)
    raw_file(folder / "not_json.safetensors", b"{nope" + b" " * 8)
    (folder / "tiny.safetensors").write_bytes(b"\x01")
    (folder / "model.ckpt").write_bytes(b"pickle!")
    (folder / "dangling.safetensors").symlink_to(folder / "nowhere")
    lora(folder, "bad_sidecar.safetensors", metadata=SD15)
    (folder / "bad_sidecar.civitai.info").write_text("{broken")
    (folder / ".hidden.safetensors.tmp").write_bytes(b"")
    os.mkfifo(folder / "fifo.safetensors")
    name = os.fsdecode(b"caf\xe9_style.safetensors")
    lora(folder, name, metadata=SD15)
    lib = library(tmp_path, folder)
    report = lib.refresh()
    names = {e.name: e for e in lib.index.entries.values()}
    assert set(names) == {"good.safetensors", "truncated.safetensors", "not_json.safetensors", "tiny.safetensors",
                          "model.ckpt", "bad_sidecar.safetensors", name}
    assert "runs past the end" in names["truncated.safetensors"].warnings[0]
    assert "too short" in names["tiny.safetensors"].warnings[0]
    assert names["model.ckpt"].format == "pickle" and names["model.ckpt"].terms == {}
    assert "not valid UTF-8 JSON" in names["bad_sidecar.safetensors"].warnings[0]
    assert "not valid UTF-8" in names[name].warnings[0] and names[name].family == "sd15"
    assert [reason for _, reason in report.skipped] == ["cannot stat the file (No such file or directory)"]
    assert library(tmp_path, folder).load() == 7  # a name that is not UTF-8 survives the store
    json.dumps(lib.listing()["items"])  # and the routes' JSON


def test_a_folder_deleted_mid_scan_never_fails_the_scan(tmp_path):
    folder = tmp_path / "loras"
    for index in range(6):
        lora(folder, f"sub/style_{index}.safetensors", metadata=SD15)
    walked = walk([LibraryRoot(str(folder))])
    shutil.rmtree(folder / "sub")
    entries = list(index_files(walked.files, workers=2))
    assert len(entries) == 6 and all("disappeared" in e.warnings[0] for e in entries)
    lib = library(tmp_path, folder)
    assert lib.refresh().files == 0 and len(lib.index) == 0


def test_missing_root_and_unlistable_folder(tmp_path):
    folder = tmp_path / "loras"
    lora(folder, "a.safetensors", metadata=SD15)
    lib = LoraLibrary(Database(tmp_path / "x.sqlite"), lambda: [LibraryRoot(str(tmp_path / "missing")), LibraryRoot(str(folder))])
    report = lib.refresh()
    assert report.files == 1 and report.skipped == []


def test_background_refresh_returns_at_once(tmp_path, folder):
    lib = library(tmp_path, folder)
    assert lib.start_refresh() is True
    assert lib.wait_ready(30) and len(lib.index) == 9 and lib.status()["state"] == "ready"
    assert lib.refresh_if_stale() is False


def test_listing_filters_and_pages(tmp_path, folder):
    lib = library(tmp_path, folder)
    lib.refresh()
    assert lib.listing(family="sdxl")["total"] == 2
    assert [i["name"] for i in lib.listing(tag="character")["items"]] == ["makimaChainsawMan_v10.safetensors"]
    assert lib.listing(text="watercolor")["total"] == 2
    page = lib.listing(offset=2, limit=3)
    assert page["total"] == 9 and len(page["items"]) == 3 and "terms" not in page["items"][0]


def test_same_name_in_two_roots_keeps_the_first(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    lora(first, "style.safetensors", metadata={**SD15, "modelspec.trigger_phrase": "first"})
    lora(second, "style.safetensors", metadata={**SD15, "modelspec.trigger_phrase": "second"},
         sidecars=civitai("x", "SD 1.5", ["second"]))
    lib = LoraLibrary(Database(tmp_path / "x.sqlite"), lambda: [LibraryRoot(str(first)), LibraryRoot(str(second))])
    lib.refresh()
    assert lib.entry("style.safetensors").triggers == ["first"] and len(lib.listing()["items"]) == 1
