"""Packaging facts ComfyUI-Manager, the registry and pip rely on."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_for_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {"comfyui_lora_lab." + ".".join(p.parent.relative_to(ROOT).parts) if p.parent != ROOT else "comfyui_lora_lab"
             for p in ROOT.rglob("__init__.py")
             if not any(part in {".venv", "tests", "build", "node_modules"} or part.startswith(".")
                        for part in p.relative_to(ROOT).parts)}
    assert found == listed


def test_requirements_never_install_torch():
    names = [line.split(";")[0].strip().split("=")[0].split(">")[0].split("<")[0].strip().lower()
             for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert names and not {"torch", "torchvision", "torchaudio"} & set(names)


def test_web_directory_is_registered_once():
    assert "web" not in PYPROJECT["tool"]["comfy"], "[tool.comfy] web and WEB_DIRECTORY would load the JS twice"
    assert 'WEB_DIRECTORY = "./web"' in (ROOT / "__init__.py").read_text()
    assert list((ROOT / "web").glob("*.js"))


def test_console_script_and_version():
    assert PYPROJECT["project"]["scripts"]["lora-lab"] == "comfyui_lora_lab.cli:main"
    from comfyui_lora_lab.engines.lora_format.metadata import PACK_VERSION

    assert PACK_VERSION == PYPROJECT["project"]["version"]
