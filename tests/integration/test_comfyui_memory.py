"""No growth across runs in a real ComfyUI: the trainer, Text to LoRA and Prompt Refiner example workflows, each
run three times, each run followed by ComfyUI's POST /free, end within 10% of the first run's resident memory
(read from /proc for the server's pid, which ``COMFYUI_PID_FILE`` or the comfy-host state folder next to
``COMFYUI_LOG`` gives)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from comfyui_client import CHECKPOINT, LOG, URL, requires_comfyui
from comfyui_lora_lab.bench import trainer_memory

pytestmark = [pytest.mark.comfyui, requires_comfyui, pytest.mark.slow]
PID_FILE = os.environ.get("COMFYUI_PID_FILE") or (str(Path(LOG).parent / "server.pid") if LOG else "")


@pytest.mark.skipif(not PID_FILE or not Path(PID_FILE).is_file(),
                    reason="set COMFYUI_PID_FILE (or COMFYUI_LOG in comfy-host's state folder) so the server's "
                           "resident memory can be read")
@pytest.mark.parametrize("workflow", ["trainer", "t2l", "refiner"])
def test_three_runs_each_followed_by_free_do_not_grow(workflow):
    args = SimpleNamespace(server=URL, pid=None, pid_file=PID_FILE, workflow=workflow, runs=3, checkpoint=CHECKPOINT,
                           timeout=1800.0)
    result = trainer_memory.run(args)
    print(result)
    assert result["max_growth_vs_first"] <= 0.10, result
