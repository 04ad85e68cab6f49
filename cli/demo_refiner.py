"""Demo step: pairs -> a tiny local base -> a LoRA adapter -> a refined prompt, also through the HTTP route.

Demo-sized on purpose (tiny T5, a few pre-training steps, one epoch) so it finishes in seconds: it shows the
pipeline and the files, not the quality; ``lora-lab bench refiner`` trains the real small model and scores it.
The folders it writes have the layout ComfyUI's ``models/prompt_refiner`` expects.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

DEMO_BASE, DEMO_ADAPTER = "demo-t5", "demo-refiner"


async def _through_the_route(models: Path, state: Path, prompt: str) -> dict:
    import aiohttp
    from aiohttp import web

    from ..engines.lab import Lab
    from ..server_routes.app import build_app

    runner = web.AppRunner(build_app(Lab(data_dir=state, refiner_model_dirs=lambda: [models])))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://{host}:{port}/api/prompt_refiner/refine",
                                    json={"prompt": prompt, "max_new_tokens": 48}) as response:
                return {"status": response.status, **(await response.json())}
    finally:
        await runner.cleanup()


def run(workdir: Path) -> dict:
    import shutil

    import torch

    from ..engines.prompt_refiner.data import DataConfig, generate_pairs, save_pairs
    from ..engines.prompt_refiner.generation import DecodeSettings
    from ..engines.prompt_refiner.local_base import LocalBaseConfig, corpus_from_pairs, create_local_base
    from ..engines.prompt_refiner.pretrain import PretrainConfig
    from ..engines.prompt_refiner.runtime import load_refiner
    from ..engines.prompt_refiner.training import TrainConfig, train_adapter

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread only adds hand-off cost
    try:
        models = workdir / "models" / "prompt_refiner"
        shutil.rmtree(models, ignore_errors=True)
        pairs = generate_pairs(DataConfig())
        data = save_pairs(pairs, workdir / "refiner_pairs.json", overwrite=True)
        base = create_local_base(corpus_from_pairs(pairs.train), models / DEMO_BASE,
                                 LocalBaseConfig(shape="tiny", vocab_size=600, pretrain=PretrainConfig(steps=60)))
        trained = train_adapter(base, pairs, models / DEMO_ADAPTER,
                                TrainConfig(epochs=1, eval_limit=8, eval_max_new_tokens=48))
        refined = load_refiner(base, trained.adapter_dir).refine("create function", DecodeSettings(max_new_tokens=48))
        route = asyncio.run(_through_the_route(models, workdir / "refiner_state", "create function"))
    finally:
        torch.set_num_threads(threads)
    return {
        "pairs": f"{data} ({len(pairs.train)} train / {len(pairs.held_out)} held out, sha256 {pairs.sha256()[:12]})",
        "base": f"{base} (tiny T5, 60 pre-training steps: demo size, not demo quality)",
        "adapter": f"{trained.adapter_dir} ({trained.trainable_parameters} LoRA parameters, "
                   f"loss {trained.epoch_losses[0]:.3f})",
        "refine 'create function'": f"{refined.new_tokens} tokens in {refined.ms:.0f} ms, "
                                    f"missing words {refined.missing_words}",
        "route /api/prompt_refiner/refine": f"HTTP {route['status']}, {route.get('new_tokens')} tokens, "
                                            f"model {route.get('model')} + {route.get('adapter')}",
        "use in ComfyUI": f"copy {models}/* to ComfyUI/models/prompt_refiner/",
    }
