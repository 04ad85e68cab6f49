"""Our kohya arguments against sd-scripts' own parser definitions, read from the checkout that
``LORA_LAB_SD_SCRIPTS`` names (not against a mirror of our own); the reader itself on a small real script."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_lora_lab.engines.training.config import ConfigError, TrainingConfig
from comfyui_lora_lab.engines.training.job import TrainingJob
from comfyui_lora_lab.engines.training.kohya import SCRIPTS, KohyaEngine, train_arguments
from comfyui_lora_lab.engines.training.kohya_args import argument_problems, read_options

SD_SCRIPTS = os.environ.get("LORA_LAB_SD_SCRIPTS", "")
requires_sd_scripts = pytest.mark.skipif(not SD_SCRIPTS or not (Path(SD_SCRIPTS) / "train_network.py").is_file(),
                                         reason="set LORA_LAB_SD_SCRIPTS to an sd-scripts checkout (the folder "
                                                "holding train_network.py) to check against its real parser")

SETTINGS = [
    dict(),
    dict(max_steps=100, save_every=0, train_text_encoder=True, text_encoder_lr=5e-5, gradient_checkpointing=True,
         noise_offset=0.05, optimizer="adamw8bit", lr_scheduler="cosine", precision="fp16"),
    dict(optimizer="sgd", precision="fp32", cache_latents=False, sample_steps=0, lr_scheduler="constant_with_warmup",
         warmup_steps=10),
]


def _arguments(tmp_path: Path, family: str, settings: dict, resume: bool) -> list[str]:
    config = TrainingConfig.for_family(family, **settings)
    job = TrainingJob(tmp_path / "data", tmp_path / "model.safetensors", "ext", config, tmp_path / "loras",
                      tmp_path / "run")
    prompts = tmp_path / "prompts.txt" if config.sample_steps else None
    return train_arguments(job, tmp_path / "dataset.toml", tmp_path / "out", prompts,
                           tmp_path / "out" / "ext-state" if resume else None)


@requires_sd_scripts
@pytest.mark.parametrize("family", sorted(SCRIPTS))
@pytest.mark.parametrize("index", range(len(SETTINGS)))
def test_every_argument_we_generate_is_accepted_by_sd_scripts_own_parser(tmp_path, family, index):
    options = read_options(SD_SCRIPTS, SCRIPTS[family])
    assert len(options) > 100, f"read only {len(options)} options from {SCRIPTS[family]}"
    arguments = _arguments(tmp_path, family, SETTINGS[index], resume=index == 1)
    assert argument_problems(arguments, options) == []


SCRIPT = '''
import argparse
from library import helpers
from library.helpers import add_more as more

def setup_parser():
    parser = argparse.ArgumentParser()
    helpers.add_common(parser)
    more(parser, True)
    parser.add_argument("--network_dim", type=int)
    return parser
'''
HELPERS = '''
def add_common(parser):
    parser.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"])
    parser.add_argument("--save_state", action="store_true")

def add_more(parser, flag):
    parser.add_argument("--seed", "--random_seed", type=int)

def never_called(parser):
    parser.add_argument("--not_registered")
'''


def test_the_reader_follows_helpers_and_checks_values(tmp_path):
    (tmp_path / "library").mkdir()
    (tmp_path / "train_network.py").write_text(SCRIPT)
    (tmp_path / "library" / "helpers.py").write_text(HELPERS)
    options = read_options(tmp_path)
    assert set(options) == {"--mixed_precision", "--save_state", "--seed", "--random_seed", "--network_dim"}
    assert argument_problems(["--network_dim", "8", "--save_state", "--mixed_precision", "bf16"], options) == []
    assert argument_problems(["--mixed_precision", "fp8", "--save_state", "yes", "--network_dim", "--rank", "4"],
                             options) == ["--mixed_precision fp8: sd-scripts accepts no, fp16, bf16",
                                          "--save_state: sd-scripts takes no value, got 'yes'",
                                          "--network_dim: sd-scripts expects a value",
                                          "--rank: sd-scripts has no such option"]


def test_the_engine_refuses_an_argument_the_checkout_would_reject(tmp_path):
    (tmp_path / "library").mkdir()
    (tmp_path / "train_network.py").write_text(SCRIPT)
    (tmp_path / "library" / "helpers.py").write_text(HELPERS)
    with pytest.raises(ConfigError, match="would reject: --output_dir: sd-scripts has no such option"):
        KohyaEngine(str(tmp_path), "accelerate").check_arguments("sd15", ["--network_dim", "4", "--output_dir", "x"])
