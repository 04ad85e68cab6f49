"""Tiny real refiner models for the tests, made once per session: pairs, a tiny T5 base folder, a trained adapter.

The base has the Flan-T5 folder layout (config.json, model.safetensors, tokenizer.json, ...) and the adapter is
trained by the real training code, so every test runs the same code a real Flan-T5 folder would go through.
Tests that damage files work on copies (``models_copy``).

Every refiner test runs torch on one thread: these models are too small to gain from a second one, and on a
machine whose cores are shared, OpenMP's per-operation hand-offs between two threads made a tiny training step
about 20x slower (measured: 2.1 s vs 0.1 s).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from comfyui_lora_lab.engines.prompt_refiner.data import DataConfig, generate_pairs
from comfyui_lora_lab.engines.prompt_refiner.local_base import LocalBaseConfig, corpus_from_pairs, create_local_base
from comfyui_lora_lab.engines.prompt_refiner.pretrain import PretrainConfig
from comfyui_lora_lab.engines.prompt_refiner.training import TrainConfig, train_adapter

BASE, ADAPTER = "tiny-t5", "tiny-refiner"


@dataclass(frozen=True)
class TinyModels:
    root: Path
    base: Path
    adapter: Path


def make_base(folder: Path, pairs, seed: int = 0, shape: str = "tiny") -> Path:
    config = LocalBaseConfig(shape=shape, vocab_size=300, seed=seed, pretrain=PretrainConfig(steps=2, batch_size=4))
    return create_local_base(corpus_from_pairs(pairs.train), folder, config)


@contextlib.contextmanager
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def refiner_pairs():
    return generate_pairs(DataConfig(n=24, seed=0, held_out=4))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, refiner_pairs) -> TinyModels:
    root = tmp_path_factory.mktemp("prompt_refiner")
    with one_thread():
        base = make_base(root / BASE, refiner_pairs)
        adapter = train_adapter(base, refiner_pairs, root / ADAPTER,
                                TrainConfig(epochs=1, eval_max_new_tokens=8)).adapter_dir
    return TinyModels(root, base, adapter)


@pytest.fixture
def base_maker():
    """``make_base(folder, pairs, seed=0, shape="tiny")``: another small base folder (for mismatch tests)."""
    return make_base


@pytest.fixture
def models_copy(tiny_models, tmp_path) -> TinyModels:
    root = tmp_path / "prompt_refiner"
    shutil.copytree(tiny_models.root, root)
    return TinyModels(root, root / BASE, root / ADAPTER)
