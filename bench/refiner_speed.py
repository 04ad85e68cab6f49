"""Speed parts of ``bench/refiner.py``: route latency at Flan-T5-base shape, training epoch time at Flan shapes.

Random weights have Flan-T5's cost but not its habits, so the base used for latency has its end-of-sequence
embedding row zeroed: with tied embeddings that logit is always 0 while 32k random logits exceed it, so every
request really generates the full ``new_tokens`` (checked: the JSON reports the min and max generated).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from pathlib import Path

from .timing import percentile

FLAN_VOCAB = 32128


def _latency_models(pairs, workdir: Path) -> tuple[Path, Path]:
    """A Flan-T5-base-shaped base folder (random weights, EOS never chosen) and a q,v r=16 adapter for it."""
    import torch

    from ..engines.prompt_refiner.adapter_files import write_adapter
    from ..engines.prompt_refiner.base_model import base_identity, build_t5, load_base, save_base
    from ..engines.prompt_refiner.local_base import corpus_from_pairs
    from ..engines.prompt_refiner.local_tokenizer import train_tokenizer
    from ..engines.prompt_refiner.training import DEFAULT_PREFIX, TrainConfig, adapter_state, wrap_with_lora

    tokenizer = train_tokenizer(corpus_from_pairs(pairs.train), 2000)
    model = build_t5("flan-t5-base", FLAN_VOCAB)
    with torch.no_grad():
        model.shared.weight[tokenizer.eos_token_id].zero_()
    base_dir = save_base(model, tokenizer, workdir / "flan-t5-base-shape", {"random_weights": True})
    del model
    base = load_base(base_dir)
    wrapped, _ = wrap_with_lora(base.model, TrainConfig())
    tensors, config = adapter_state(wrapped, TrainConfig(), base)
    adapter_dir = write_adapter(workdir / "refiner-random", tensors, config,
                                {"base": base_identity(base), "input_prefix": DEFAULT_PREFIX})
    return base_dir, adapter_dir


async def _measure_route(services, prompts: list[str], new_tokens: int) -> dict:
    import aiohttp
    from aiohttp import web

    from ..server_routes.app import build_app

    runner = web.AppRunner(build_app(services))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/prompt_refiner/refine"
    try:
        async with aiohttp.ClientSession() as session:
            async def post(prompt: str) -> tuple[float, dict]:
                start = time.perf_counter()
                async with session.post(url, json={"prompt": prompt, "max_new_tokens": new_tokens}) as response:
                    body = await response.json()
                    if response.status != 200:
                        raise RuntimeError(f"refine answered {response.status}: {body}")
                return time.perf_counter() - start, body

            await post(prompts[0])  # loads the model
            answers = [await post(prompt) for prompt in prompts]
        route_precision = services.refiner.route_model().precision
        direct = _direct_by_precision(services, prompts[:10], new_tokens)
    finally:
        await runner.cleanup()
    seconds = [s for s, _ in answers]
    generated = [body["new_tokens"] for _, body in answers]
    return {
        "latency_p50_s": round(percentile(seconds, 50), 3), "latency_p95_s": round(percentile(seconds, 95), 3),
        "latency_requests": len(seconds), "latency_new_tokens": [min(generated), max(generated)],
        "precision": route_precision, "direct_p50_s": direct[route_precision],
        "direct_p50_s_by_precision": direct,
        "int8_speedup_vs_fp32": round(direct["fp32"] / direct["int8"], 2),
        "bf16_speedup_vs_fp32": round(direct["fp32"] / direct["bf16"], 2),
        "http_vs_direct_p50_ratio": round(percentile(seconds, 50) / direct[route_precision], 3),
    }


def _direct_by_precision(services, prompts: list[str], new_tokens: int) -> dict[str, float]:
    """Median seconds per refinement without HTTP for each number format, taking turns so load hits all alike."""
    from ..engines.prompt_refiner.generation import DecodeSettings

    choice = services.refiner.route_choice()
    models = {p: services.refiner.cache.get(choice.base_dir, choice.adapter_dir, precision=p)
              for p in ("fp32", "bf16", "int8")}
    seconds: dict[str, list[float]] = {p: [] for p in models}
    for prompt in prompts:
        for precision, loaded in models.items():
            start = time.perf_counter()
            loaded.refine(prompt, DecodeSettings(max_new_tokens=new_tokens))
            seconds[precision].append(time.perf_counter() - start)
    return {p: round(statistics.median(s), 3) for p, s in seconds.items()}


def route_latency(pairs, workdir: Path, requests: int, new_tokens: int) -> dict:
    from ..engines.lab import Lab

    base_dir, adapter_dir = _latency_models(pairs, workdir)
    services = Lab(data_dir=workdir / "state", refiner_model_dirs=lambda: [workdir],
                   refiner_fixed=(base_dir, adapter_dir))
    everything = pairs.train + pairs.held_out
    prompts = [everything[i % len(everything)].vague for i in range(requests)]
    return asyncio.run(_measure_route(services, prompts, new_tokens))


def epoch_seconds(pairs, shape: str, steps: int) -> dict:
    """Seconds per epoch of all pairs (LoRA q,v r=16, batch 8) at ``shape``: mean of timed steps x steps per epoch."""
    from ..engines.prompt_refiner.base_model import build_t5
    from ..engines.prompt_refiner.batches import collate, shuffled_batches
    from ..engines.prompt_refiner.training import DEFAULT_PREFIX, TrainConfig, lora_optimizer, train_step, wrap_with_lora
    from ..engines.tokenizers import clip_tokenizer

    clip, rng = clip_tokenizer(), random.Random(0)
    everything = pairs.train + pairs.held_out

    def random_ids(text: str) -> list[int]:
        length = len(clip(text, truncation=False)["input_ids"]) - 1  # CLIP adds start and end; T5 adds only </s>
        return [rng.randrange(3, FLAN_VOCAB) for _ in range(length - 1)] + [1]

    examples = [(random_ids(DEFAULT_PREFIX + p.vague), random_ids(p.structured)) for p in everything]
    config = TrainConfig()
    wrapped, _ = wrap_with_lora(build_t5(shape, FLAN_VOCAB), config)
    optimizer = lora_optimizer(wrapped, config)
    batches = list(shuffled_batches(examples, config.batch_size, random.Random(0)))
    wrapped.train()
    train_step(wrapped, optimizer, collate(batches[0]))  # warm-up
    timed = []
    for batch in batches[1:1 + steps]:
        start = time.perf_counter()
        train_step(wrapped, optimizer, collate(batch))
        timed.append(time.perf_counter() - start)
    step_s = statistics.mean(timed)
    return {"epoch_s": round(step_s * len(batches), 1), "step_s": round(step_s, 3),
            "target_tokens_mean": round(statistics.mean(len(t) for _, t in examples), 1)}
