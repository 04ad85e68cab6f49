"""Brand LoRA stacks: a library of brand folders, a byte-budgeted cache of loaded LoRAs, preload, A/B weights.

Typical use (what the BrandLoRAStack node does; inside ComfyUI the service is ``lab.brands``)::

    service = BrandService.from_env(os.environ, lora_dirs=lambda: [Path("models/loras")])
    request = StackRequest(brand="acme", weight=0.8, lora_configs='[{"brand_id": "acme", "type": "product"}]')
    out = run_stack(service, request, model, clip, incoming=[], applier=apply_lora, target=Target("sd15", "sd15"))
    out.models, out.clips, out.stacks, out.text()

The parts, for what the routes, the CLI and the tests use directly: ``scan`` / ``library`` / ``ids`` (brand
folders and references), ``cache`` (the LRU), ``config`` (environment settings, preload), ``entries`` /
``stack`` (stack text and applying it), ``ab`` (A/B arms), ``describe`` (listing and metadata for the routes).
"""

from __future__ import annotations

from .run import StackOutput, StackRequest, run_stack
from .service import BrandService

__all__ = ["BrandService", "StackOutput", "StackRequest", "run_stack"]
