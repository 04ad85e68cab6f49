"""Tiny real models for the text-to-LoRA tests: a 2-layer CLIP text model (random weights, the real 49,408-token
vocabulary and tokenizer), and the sd15 preset cut down to its shapes."""

from __future__ import annotations

import pytest
import torch

from comfyui_lora_lab.engines import tiny_models
from t2l_helpers import TINY_CLIP, tiny_sd15_dict


@pytest.fixture(scope="session")
def clip_model():
    return tiny_models.clip_text_model(TINY_CLIP, seed=0)


@pytest.fixture(scope="session")
def tiny_config():
    from comfyui_lora_lab.engines.text_to_lora.config import config_from_dict

    return config_from_dict(tiny_sd15_dict())


@pytest.fixture(scope="session")
def clip_bundle(clip_model):
    from comfyui_lora_lab.engines.text_to_lora.encoders import encoder_from_transformers
    from comfyui_lora_lab.engines.text_to_lora.pipeline import EncoderBundle
    from comfyui_lora_lab.engines.text_to_lora.tokenizer import wrap_tokenizer
    from comfyui_lora_lab.engines.tokenizers import clip_tokenizer

    return EncoderBundle("clip_l", encoder_from_transformers("clip", clip_model),
                         wrap_tokenizer(clip_tokenizer(), "clip"))


@pytest.fixture(scope="session")
def flat_calibration(clip_bundle):
    """A fixed sharp readout (temperature 0.1, no bias): for tests of mechanics, not of calibration fitting."""
    from comfyui_lora_lab.engines.text_to_lora.calibration import Calibration, fingerprint

    encoder = clip_bundle.encoder
    return Calibration(0.1, torch.zeros(encoder.vocab_size), None, "temperature_bias", fingerprint(encoder))


@pytest.fixture
def store(tmp_path, clip_bundle, flat_calibration, tiny_config):
    """A calibration store that already holds this encoder's calibration (fitting is tested separately)."""
    from comfyui_lora_lab.engines.text_to_lora import calibration

    path = calibration.calibration_path(tmp_path / "store", tiny_config.name, "clip_l", flat_calibration.fingerprint)
    path.parent.mkdir(parents=True)
    calibration.save_calibration(path, flat_calibration)
    return tmp_path / "store"
