"""Tiny models and datasets shared by the training tests (written once per session)."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.training.tiny import make_dataset, write_tiny_model


@pytest.fixture(scope="session")
def tiny_sd15(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny_sd15") / "model", "sd15")


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny_sdxl") / "model", "sdxl")


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "data", count=4, size=64, trigger="lorasks")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny models train faster on one thread, and far faster when other processes share the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("LORA_LAB_THREADS", "1")
    yield
    torch.set_num_threads(threads)
