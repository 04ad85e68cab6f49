"""Facts about web/ that decide whether ComfyUI loads the panel at all (no browser needed).

ComfyUI serves web/ at /extensions/<pack folder>/ and imports EVERY .js file there as an extension; a
wrong ``../`` depth makes the import 404 and the extension silently not load. So: every import resolves
to a file of web/ or to one of the two public ComfyUI modules, helper modules under lib/ never touch
ComfyUI, and every route the API client calls is one the pack serves (or one of the optional routes
other capabilities add, which the panel feature-detects).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest

from comfyui_lora_lab.server_routes import all_routes
from comfyui_lora_lab.engines.lab import Lab

WEB = Path(__file__).resolve().parents[2] / "web"
BASE = "/extensions/comfyui-lora-lab"
COMFYUI_MODULES = {"/scripts/app.js", "/scripts/api.js"}
OPTIONAL_ROUTES = {"/lora_lab/discover", "/lora/cache/stats"}  # discovery and brand capabilities, feature-detected
IMPORT = re.compile(r"""^\s*import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)
JS_FILES = sorted(WEB.rglob("*.js"))


def served(path: Path) -> str:
    return f"{BASE}/{path.relative_to(WEB).as_posix()}"


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: p.relative_to(WEB).as_posix())
def test_every_import_resolves_to_a_web_file_or_a_public_comfyui_module(path):
    for spec in IMPORT.findall(path.read_text()):
        assert spec.startswith("."), f"{path.name}: import '{spec}' must be relative (served from {BASE})"
        url = posixpath.normpath(posixpath.join(posixpath.dirname(served(path)), spec))
        if url in COMFYUI_MODULES:
            continue
        assert url.startswith(BASE + "/"), f"{path.name}: '{spec}' resolves to {url}, not ComfyUI's app/api"
        assert (WEB / url[len(BASE) + 1:]).is_file(), f"{path.name}: '{spec}' resolves to {url}, which is missing"


@pytest.mark.parametrize("path", sorted((WEB / "lib").rglob("*.js")), ids=lambda p: p.name)
def test_lib_modules_only_export_and_never_touch_comfyui(path):
    source = path.read_text()
    assert "registerExtension" not in source
    assert all(spec.startswith("./") for spec in IMPORT.findall(source)), "lib/ imports only its siblings"
    top_level_calls = [line for line in source.splitlines() if re.match(r"^[A-Za-z_$][\w$.]*\(", line)]
    assert not top_level_calls, f"{path.name} runs code at import: {top_level_calls}"


def test_the_client_calls_only_routes_the_pack_serves(tmp_path):
    client = (WEB / "lib" / "api_client.js").read_text()
    called = set(re.findall(r'^\s+\w+: "(/[^"]+)",$', client, re.MULTILINE))
    served_paths = {route.path for route in all_routes(Lab(data_dir=tmp_path))}
    assert called >= {"/checkpoints/stats", "/lora_lab/picks", "/lora_lab/settings", "/lora_lab/batches"}
    assert called - served_paths <= OPTIONAL_ROUTES, f"client calls unknown routes {called - served_paths - OPTIONAL_ROUTES}"


def test_the_entry_registers_one_namespaced_extension_with_a_sidebar_tab():
    entry = (WEB / "lora_lab_panel.js").read_text()
    assert entry.count("app.registerExtension(") == 1
    assert 'name: "LoRALab.Panel"' in entry
    assert 'const TAB_ID = "lora-lab"' in entry and "registerSidebarTab" in entry
