"""Real headless Chromium for the tests marked ``browser``: Debian's ``/usr/bin/chromium`` driven by the
``playwright`` package through ``executable_path`` (``playwright install`` is never run or needed).

Tests that need it skip with the reason from :func:`missing_reason` when either is absent.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

CHROMIUM = os.environ.get("LORA_LAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The flags the ComfyUI host harness uses (../shared/research/comfyui-host.md, step 5).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def missing_reason() -> str:
    """Why browser tests cannot run here, or "" when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[browser]'; ./dev test does it)"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; ./dev test does it)"
    return ""


def launch(playwright):
    """A headless Chromium browser from the Debian binary."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)


def artifact(name: str) -> Path:
    """A path under test-artifacts/ (gitignored) for screenshots a person should look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
