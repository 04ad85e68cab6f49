"""The ``lora-lab`` command on real files: inspect, convert, error exits."""

from __future__ import annotations

import json

import pytest

from comfyui_lora_lab.cli import main
from comfyui_lora_lab.engines.lora_format import inspect_file


def test_inspect_prints_family_and_rank_of_a_kohya_sd15_lora(sd15_lora, capsys):
    assert main(["inspect", str(sd15_lora)]) == 0
    out = capsys.readouterr().out
    assert "family:   sd15" in out and "rank:     4" in out and "format:   kohya" in out


def test_inspect_json(sd15_lora, capsys):
    assert main(["inspect", str(sd15_lora), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["family"], data["rank"], data["alpha"]) == ("sd15", 4, 2.0)


@pytest.mark.parametrize("layout", ["peft", "comfy", "kohya"])
def test_convert_writes_the_requested_layout_and_refuses_to_overwrite(sd15_lora, tmp_path, layout, capsys):
    target = tmp_path / f"out_{layout}.safetensors"
    assert main(["convert", str(sd15_lora), str(target), "--to", layout]) == 0
    assert inspect_file(target).layout == layout
    assert main(["convert", str(sd15_lora), str(target), "--to", layout]) == 2
    assert "already exists" in capsys.readouterr().err


def test_pickle_input_is_refused_with_a_reason(tmp_path, capsys):
    path = tmp_path / "old.ckpt"
    path.write_bytes(b"\x80\x04K\x01.")
    assert main(["inspect", str(path)]) == 2
    assert "pickle" in capsys.readouterr().err
