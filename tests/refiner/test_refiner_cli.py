"""``lora-lab refiner`` end to end on tiny models: data, base, train, refine, errors, and the standalone server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from comfyui_lora_lab.cli import main


def test_data_writes_reproducible_pairs_and_refuses_to_overwrite(tmp_path, capsys):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["refiner", "data", "--n", "30", "--held-out", "5", "--seed", "2", "--out", str(first)]) == 0
    assert main(["refiner", "data", "--n", "30", "--held-out", "5", "--seed", "2", "--out", str(second)]) == 0
    assert json.loads(first.read_text())["sha256"] == json.loads(second.read_text())["sha256"]
    assert len(json.loads(first.read_text())["held_out"]) == 5
    assert main(["refiner", "data", "--n", "30", "--held-out", "5", "--out", str(first)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_base_train_and_refine_from_the_command_line(tmp_path, capsys):
    pairs, models = tmp_path / "pairs.json", tmp_path / "models"
    assert main(["refiner", "data", "--n", "20", "--held-out", "2", "--out", str(pairs)]) == 0
    assert main(["refiner", "base", "--data", str(pairs), "--out", str(models / "t5"), "--shape", "tiny",
                 "--vocab", "300", "--pretrain-steps", "2"]) == 0
    assert main(["refiner", "train", "--base", str(models / "t5"), "--data", str(pairs), "--out",
                 str(models / "refiner"), "--epochs", "1", "--eval-limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "[1/3] epoch 1/1 step 1/3 loss" in out and "wrote adapter" in out
    assert main(["refiner", "refine", "create function", "--models", str(models), "--max-new-tokens", "8",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["model"], report["adapter"]) == ("t5", "refiner")
    assert report["intent"]["content_words"] == ["create", "function"]


def test_refine_without_a_model_says_where_to_put_one(tmp_path, capsys):
    assert main(["refiner", "refine", "create function", "--models", str(tmp_path)]) == 2
    assert "no adapter folder" in capsys.readouterr().err
    assert main(["refiner", "refine", "x", "--base", str(tmp_path)]) == 2
    assert "give both --base and --adapter" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_the_refine_route_outside_comfyui(tiny_models, tmp_path):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "comfyui_lora_lab.cli", "refiner", "serve", "--port", str(port),
                               "--models", str(tiny_models.root), "--data-dir", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/prompt_refiner/refine", method="POST",
                                         data=json.dumps({"prompt": "create function", "max_new_tokens": 8}).encode())
        deadline = time.monotonic() + 120
        while True:  # wait until the server listens (startup imports torch)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    body = json.loads(response.read())
                break
            except urllib.error.URLError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read().decode()
                time.sleep(0.2)
        assert (body["model"], body["adapter"]) == ("tiny-t5", "tiny-refiner") and body["new_tokens"] <= 8
    finally:
        server.terminate()
        server.wait(30)
