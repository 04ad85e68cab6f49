"""``GET /lora_lab/health``: the pack version and which capabilities are usable here."""

from __future__ import annotations

import importlib.util

from aiohttp import web

from ..engines.lab import Lab
from .http import Route

# capability -> Python modules it needs beyond the core (torch, safetensors)
CAPABILITY_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "inspect": ("torch", "safetensors"),
    "refiner": ("torch", "transformers", "peft", "tokenizers"),
    "discovery": ("safetensors",),
    "explorer": ("numpy",),
    "brands": ("torch", "safetensors"),
    "trainer": ("torch", "safetensors", "diffusers", "transformers", "peft", "PIL"),
    "t2l": ("torch", "safetensors", "numpy"),
}


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [name for name in modules if importlib.util.find_spec(name) is None]


def capabilities() -> dict[str, dict]:
    report = {}
    for name, modules in CAPABILITY_REQUIREMENTS.items():
        missing = _missing(modules)
        report[name] = {"available": not missing, "missing": missing}
    return report


def routes(lab: Lab) -> list[Route]:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"version": lab.version, "capabilities": capabilities()})

    return [Route("GET", "/lora_lab/health", health)]
