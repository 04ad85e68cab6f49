"""The kohya and mflux engines against fake CLIs that behave like the real ones (including failing), the
engine choice, and the subprocess runner's progress and interrupt handling."""

from __future__ import annotations

import sys

import pytest

from comfyui_lora_lab.engines.lora_format import read_header
from comfyui_lora_lab.engines.training.config import TrainingConfig
from comfyui_lora_lab.engines.training.engine import EngineUnavailable
from comfyui_lora_lab.engines.training.registry import choose_engine
from comfyui_lora_lab.engines.training.job import TrainingJob
from comfyui_lora_lab.engines.training.kohya import KohyaEngine
from comfyui_lora_lab.engines.training.mflux import MfluxEngine
from comfyui_lora_lab.engines.training.process import EngineProcessError, parse_tqdm, run_tool
from comfyui_lora_lab.engines.training.tiny import make_dataset
from fake_trainers import fake_kohya, fake_mflux


@pytest.fixture
def data(tmp_path):
    folder = make_dataset(tmp_path / "data" / "2_ohwx thing", count=3, size=64, trigger="[trigger]")
    return folder.parent


def job(tmp_path, data, family="sd15", model="model.safetensors", **kw):
    config = TrainingConfig.for_family(family, resolution=64, epochs=2, batch_size=2, rank=4, trigger_word="ohwx",
                                       sample_steps=0, save_every=1)
    return TrainingJob(data, tmp_path / model, "ext", config, tmp_path / "loras", tmp_path / "run", **kw)


class Steps:
    def __init__(self):
        self.calls = []

    def __call__(self, done, total, message=""):
        self.calls.append((done, total, message))


def test_kohya_engine_writes_toml_streams_progress_and_imports_the_lora(tmp_path, data, monkeypatch):
    scripts, accelerate = fake_kohya(tmp_path)
    engine = KohyaEngine(str(scripts), str(accelerate))
    steps = Steps()
    result = engine.train(job(tmp_path, data), steps, log=lambda m: None)
    toml = (tmp_path / "run" / "dataset.toml").read_text()
    assert "num_repeats = 2" in toml and "batch_size = 2" in toml and "resolution = 64" in toml
    assert steps.calls[-1][:2] == (6, 6) and "loss 0.1667" in steps.calls[-1][2]
    metadata = read_header(result.lora_path).metadata
    assert metadata["ss_sd_scripts_commit_hash"] == "fake" and metadata["modelspec.trigger_phrase"] == "ohwx"
    assert metadata["lora_lab.engine"] == "kohya" and result.final_loss == pytest.approx(1 / 6, abs=1e-4)
    resumed = engine.train(job(tmp_path, data, resume=True), steps, log=lambda m: None)
    assert resumed.lora_path == result.lora_path


@pytest.mark.parametrize("env, problem", [("FAKE_FAIL", "exited with code 1"),
                                          ("FAKE_NO_OUTPUT", "finished without writing")])
def test_kohya_failures_raise_with_the_stderr_tail(tmp_path, data, monkeypatch, env, problem):
    scripts, accelerate = fake_kohya(tmp_path)
    monkeypatch.setenv(env, "1")
    with pytest.raises(EngineProcessError, match=problem) as failure:
        KohyaEngine(str(scripts), str(accelerate)).train(job(tmp_path, data), log=lambda m: None)
    if env == "FAKE_FAIL":
        assert "CUDA out of memory" in str(failure.value)
    assert not (tmp_path / "loras" / "ext.safetensors").exists()


def test_mflux_engine_trains_resumes_and_surfaces_failures(tmp_path, data, monkeypatch):
    engine = MfluxEngine(str(fake_mflux(tmp_path)))
    steps = Steps()
    result = engine.train(job(tmp_path, data, family="flux", model="z-image-turbo"), steps, log=lambda m: None)
    assert steps.calls[-1][:2] == (2, 2)
    assert any("repeats" in warning for warning in result.warnings)
    assert set(read_header(result.lora_path).tensors) == {"transformer.layers.0.attention.to_q.lora_A.weight",
                                                          "transformer.layers.0.attention.to_q.lora_B.weight"}
    engine.train(job(tmp_path, data, family="flux", model="z-image-turbo", resume=True), log=lambda m: None)
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(EngineProcessError, match="no longer supported"):
        engine.train(job(tmp_path, data, family="flux", model="z-image-turbo", overwrite=True), log=lambda m: None)


def test_engine_choice_by_platform_availability_and_name(tmp_path, monkeypatch):
    monkeypatch.delenv("LORA_LAB_SD_SCRIPTS", raising=False)
    monkeypatch.delenv("LORA_LAB_MFLUX_TRAIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert choose_engine("auto", "sd15", "linux-x86_64").name == "inprocess"
    with pytest.raises(EngineUnavailable, match="LORA_LAB_SD_SCRIPTS"):
        choose_engine("kohya", "sd15")
    with pytest.raises(EngineUnavailable, match="mflux-train not found"):
        choose_engine("auto", "flux", "darwin-arm64")
    monkeypatch.setenv("LORA_LAB_MFLUX_TRAIN", str(fake_mflux(tmp_path)))
    assert choose_engine("auto", "flux", "darwin-arm64").name == "mflux"
    assert choose_engine("auto", "sd15", "darwin-arm64").name == "inprocess"
    with pytest.raises(EngineUnavailable, match="unknown engine"):
        choose_engine("diffusers", "sd15")


@pytest.mark.parametrize("line, parsed", [
    ("steps:  10%|#   | 10/100 [00:05<00:45,  1.99it/s, avr_loss=0.123]", (10, 100, 0.123)),
    (" 30%|###| 3/10 [00:01<00:02]", (3, 10, None)),
    ("epoch 1/10", None),
])
def test_tqdm_lines_are_parsed(line, parsed):
    assert parse_tqdm(line) == parsed


def test_an_interrupt_stops_the_tool_and_propagates(tmp_path):
    script = tmp_path / "forever.py"
    script.write_text("import sys, itertools\nfor i in itertools.count(1):\n"
                      "    print(f'{i}/1000000 [00:00<00:00]', file=sys.stderr, flush=True)\n")

    class Interrupted(Exception):
        pass

    def progress(done, total, message=""):
        if done >= 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_tool([sys.executable, str(script)], progress)
