"""The panel's browser-test bench: the pack's real routes (``build_app``) over a real SQLite store seeded with
batches and real PNG drafts, served by a real aiohttp server, with the panel loaded from ``web/`` at
``/extensions/comfyui-lora-lab/`` through the same relative imports it uses in ComfyUI. Only ComfyUI's
``/scripts/app.js`` and ``/scripts/api.js`` are stand-ins (``standins/scripts``).

The seeded store (three batches over three checkpoints in two tiers) gives these stats:

    all tiers       alpha 1/4 25.0%   beta 2/5 40.0%   gamma 1/1 100.0%
    sd15_draft      alpha 1/4 25.0%   beta 2/4 50.0%
    sdxl_standard   beta 0/1  0.0%    gamma 1/1 100.0%
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from comfyui_lora_lab.engines.store import generations as gen
from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.engines.lab import Lab as Services

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
STANDINS = Path(__file__).with_name("panel") / "standins"
PACK_URL = "/extensions/comfyui-lora-lab"
CHECKPOINTS = ["alpha.safetensors", "beta.safetensors", "gamma.safetensors"]
POOLS = {"tiers": {"sd15_draft": {"checkpoints": ["alpha.safetensors", "beta.safetensors"]},
                   "sdxl_standard": {"checkpoints": ["beta.safetensors", "gamma.safetensors"]}}}
# (batch id, tier, prompt, age in seconds, checkpoints of its drafts, LoRAs of every draft, picked indexes)
BATCHES = [
    ("b0", "sdxl_standard", "a castle at dusk, oil painting", 2 * 86400, ["beta", "gamma"], [("castle_oil.safetensors", 0.6)], [1]),
    ("b1", "sd15_draft", "a red fox in the snow", 7200, ["alpha", "alpha", "beta", "beta"],
     [("fox_style.safetensors", 0.7), ("detail/sharp.safetensors", 0.5)], [0, 2]),
    ("b2", "sd15_draft", "portrait of an astronaut", 60, ["alpha", "alpha", "beta", "beta"], [], [2]),
]
HOLD_PREFIXES = ("/api/lora_lab/", "/api/checkpoints/")


# Contrast ratio (WCAG) of each selector's text against the first opaque background behind it.
CONTRAST = """(selectors) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  return selectors.map((s) => { const el = document.querySelector(s); const a = lum(rgb(getComputedStyle(el).color));
    const b = lum(background(el)); return [s, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]; });
}"""
TEXT_SELECTORS = [".ll-header h2", ".ll-row .ll-label", ".ll-segmented input:checked + label",
                  ".ll-segmented input:not(:checked) + label", ".ll-stats th", ".ll-stats td[data-col=checkpoint]",
                  ".ll-stats tbody tr:nth-child(2) td[data-col=total]", ".ll-note", ".ll-caption span + span",
                  ".ll-batch-head > span", "[data-action=refresh]"]


def png(path: Path, colour: tuple[int, int, int]) -> None:
    """A real 64x64 PNG draft (a coloured square with a lighter stripe, so thumbnails are tellable apart)."""
    from PIL import Image

    image = Image.new("RGB", (64, 64), colour)
    image.paste(tuple(min(255, c + 90) for c in colour), (0, 24, 64, 40))
    image.save(path)


def record_batch(services: Services, output: Path, batch_id: str, tier: str, stems: list[str], *, prompt: str = "",
                 age: float = 0.0, loras: tuple = (), picked: tuple = (), shade: int = 0) -> None:
    """A batch as the Save Drafts node leaves it: drafts with real PNGs in ``output``, then the user's picks."""
    drafts = tuple(gen.DraftPlan(i, f"{stem}.safetensors", seed=100 + i) for i, stem in enumerate(stems))
    gen.record_batch(services.database, gen.BatchRecord(batch_id, "explore", drafts, prompt, tier,
                                                        created=time.time() - age))
    uses = tuple(gen.LoraUse(name, strength) for name, strength in loras)
    images = []
    for i, stem in enumerate(stems):
        name = f"{batch_id}_{i:02d}.png"
        png(output / name, ((40 + 60 * shade) % 256, 90 + 30 * i, (160 + 40 * shade) % 256))
        images.append(gen.DraftImage(i, f"{stem}.safetensors", gen.ImageRef(name), uses, seed=100 + i))
    gen.record_images(services.database, batch_id, images)
    if picked:
        gen.record_picks(services.database, [gen.draft_id(batch_id, i) for i in picked], True)


def seed_store(services: Services, output: Path) -> None:
    services.explorer.set_pools(POOLS)
    for shade, (batch_id, tier, prompt, age, stems, loras, picked) in enumerate(BATCHES):
        record_batch(services, output, batch_id, tier, stems, prompt=prompt, age=age, loras=loras, picked=picked,
                     shade=shade)


def add_batch(lab: "Lab", batch_id: str, tier: str, stems: list[str], picked: list[int]) -> None:
    """A batch that a run just finished (newest of all)."""
    record_batch(lab.services, lab.output, batch_id, tier, stems, prompt=f"run {batch_id}", picked=tuple(picked),
                 shade=len(batch_id))


def view_handler(output: Path):
    """ComfyUI's ``/view`` for output images: bare file names inside the output folder only."""

    async def view(request: web.Request) -> web.StreamResponse:
        name, subfolder = request.query.get("filename", ""), request.query.get("subfolder", "")
        if request.query.get("type", "output") != "output" or not name or "/" in name or "\\" in name:
            raise web.HTTPBadRequest(text="bad image reference")
        path = (output / subfolder / name).resolve()
        if output.resolve() not in path.parents or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    return view


@dataclass
class Lab:
    """A running bench: its URL, the services behind the routes, and a gate that can hold route answers."""

    url: str
    services: Services
    output: Path
    loop: asyncio.AbstractEventLoop
    gate: asyncio.Event

    def hold(self) -> None:
        """Hold every answer of the pack's routes until :meth:`release` (to look at the loading state)."""
        self.loop.call_soon_threadsafe(self.gate.clear)

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self.gate.set)


def build_bench(services: Services, output: Path, gate: asyncio.Event) -> web.Application:
    @web.middleware
    async def holdable(request, handler):
        if request.path.startswith(HOLD_PREFIXES):
            await gate.wait()
        return await handler(request)

    app = build_app(services)
    app.middlewares.append(holdable)
    listing = sorted(f"{PACK_URL}/{p.relative_to(WEB).as_posix()}" for p in WEB.rglob("*.js"))

    async def extensions(request):  # ComfyUI's GET /extensions: every .js of every web dir
        return web.json_response(listing)

    async def index(request):
        return web.FileResponse(STANDINS / "index.html")

    view = view_handler(output)
    app.router.add_get("/", index)
    app.router.add_get("/extensions", extensions)
    app.router.add_get("/view", view)
    app.router.add_get("/api/view", view)
    app.router.add_static(PACK_URL, WEB)
    app.router.add_static("/scripts", STANDINS / "scripts")
    return app


@contextlib.contextmanager
def running_bench(services: Services, output: Path) -> Iterator[Lab]:
    """Serve the bench on a free local port from a background event loop (the browser is driven synchronously)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))

    async def start():
        gate = asyncio.Event()
        gate.set()
        runner = web.AppRunner(build_bench(services, output, gate))
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner, gate

    runner, gate = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield Lab(f"http://127.0.0.1:{sock.getsockname()[1]}", services, output, loop, gate)
    finally:
        loop.call_soon_threadsafe(gate.set)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def open_panel(page, lab, theme: str = "dark"):
    """Load the test page like ComfyUI loads extensions, open the LoRA Lab tab, wait for the stats rows."""
    page.goto(f"{lab.url}/?theme={theme}")
    page.wait_for_function("() => window.__extensionsLoaded")
    page.click("button.lora-lab-tab-button")
    page.wait_for_selector(".ll-stats tr[data-checkpoint]")
    page.wait_for_selector(".ll-thumb img")
    return page
