"""The architecture rules that keep the pack importable anywhere and the engines testable alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMFY_MODULES = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "server", "nodes",
                 "execution", "node_helpers", "latent_preview"}
PACKAGE_DIRS = ("engines", "nodes", "bridge", "server_routes", "cli", "bench")


def python_files(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_engines_import_neither_comfyui_nor_aiohttp():
    offenders = {str(p.relative_to(ROOT)): sorted(imported_roots(p) & (COMFY_MODULES | {"aiohttp"}))
                 for p in python_files("engines")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_bridge_imports_comfyui():
    files = [ROOT / "__init__.py", *python_files(*(d for d in PACKAGE_DIRS if d != "bridge"))]
    offenders = {str(p.relative_to(ROOT)): sorted(imported_roots(p) & COMFY_MODULES) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_internal_imports_are_relative_and_nothing_touches_sys_path():
    for path in [ROOT / "__init__.py", *python_files(*PACKAGE_DIRS)]:
        source = path.read_text()
        assert "comfyui_lora_lab" not in imported_roots(path), f"{path}: absolute import of our own package"
        assert "sys.path" not in source, f"{path}: never put the pack on sys.path (our nodes/ would shadow ComfyUI's)"


def test_importing_the_pack_outside_comfyui_is_cheap_and_defines_its_names():
    code = ("import sys, comfyui_lora_lab as p; "
            "print(p.NODE_CLASS_MAPPINGS, p.WEB_DIRECTORY, 'torch' in sys.modules, 'aiohttp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["{}", "./web", "False", "False"], "import must define names only: no torch, no server"
