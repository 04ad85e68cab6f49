"""``lora-lab t2l`` on a real saved encoder folder: writes a loadable LoRA, refuses to replace a file."""

from __future__ import annotations

import json

from comfyui_lora_lab.cli import main
from comfyui_lora_lab.engines.lora_format import inspect_file
from comfyui_lora_lab.engines.text_to_lora.proposer import training_info
from t2l_helpers import tiny_sd15_dict


def _encoder_dir(clip_model, tmp_path):
    folder = tmp_path / "tiny_clip"
    clip_model.save_pretrained(folder, safe_serialization=True)  # no tokenizer files: the bundled SD one is used
    return folder


def test_the_command_writes_a_kohya_lora_and_never_replaces_a_file(clip_model, store, tmp_path, capsys):
    config = tmp_path / "tiny_sd15.json"
    config.write_text(json.dumps(tiny_sd15_dict()))
    out = tmp_path / "fox.safetensors"
    args = ["t2l", "a red fox in the snow", "--encoder", str(_encoder_dir(clip_model, tmp_path)), "--preset",
            str(config), "--steps", "3", "--store", str(store), "--precision", "float32", "--out", str(out)]
    assert main(args + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["path"] == str(out) and report["encoders"][0]["steps_run"] == 3
    assert (inspect_file(out).layout, inspect_file(out).family) == ("kohya", "sd15")
    before = out.read_bytes()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before


def test_train_proposer_writes_a_proposer_the_next_run_starts_from(clip_model, store, tmp_path, capsys):
    config = tmp_path / "tiny_sd15.json"
    config.write_text(json.dumps(tiny_sd15_dict()))
    common = ["--encoder", str(_encoder_dir(clip_model, tmp_path)), "--preset", str(config), "--store", str(store),
              "--precision", "float32"]
    proposer = tmp_path / "tiny_proposer.safetensors"
    assert main(["t2l", "train-proposer", *common, "--prompts", "6", "--validation-prompts", "2", "--rounds", "2",
                 "--round-prompts", "4", "--inner-steps", "2", "--epochs", "3", "--out", str(proposer)]) == 0
    assert f"wrote {proposer}" in capsys.readouterr().out
    assert training_info(proposer)["rounds"] == 2 and training_info(proposer)["prompts"] == 6
    out = tmp_path / "fox.safetensors"
    assert main(["t2l", "a red fox", *common, "--steps", "2", "--proposer", str(proposer), "--out", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["encoders"][0]["proposer"] == proposer.name


def test_a_missing_encoder_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["t2l", "a fox", "--encoder", str(tmp_path / "nope"), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "config.json" in capsys.readouterr().err
