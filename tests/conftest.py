"""Shared fixtures: real safetensors LoRA files written into tmp_path, at tiny and at real SD1.5 shapes."""

from __future__ import annotations

import os

import pytest
import torch

from lora_fixtures import kohya_sd15_tensors

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))

@pytest.fixture
def sd15_lora(tmp_path):
    """Path of a kohya SD1.5 LoRA (rank 4, alpha 2) with no family metadata: the family must be inferred."""
    from safetensors.torch import save_file

    path = tmp_path / "sd15_style.safetensors"
    save_file(kohya_sd15_tensors(), str(path), metadata={"ss_output_name": "sd15 style"})
    return path
