"""Run a training script (or ``-m module``) and record when each optimizer step ends and every MSE loss.

Used by ``bench/trainer.py`` on both trainers alike, so neither needs changing to be measured:
``python -m <pack>.bench.step_clock OUT.json [-m MODULE | SCRIPT.py] ARGS...``. Torch's global optimizer
step hook gives the step times; ``torch.nn.functional.mse_loss`` is wrapped to record the loss values.
``LORA_LAB_THREADS`` sets torch's thread count before the script starts.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import sys
import time
from pathlib import Path


def main() -> None:
    out, rest = Path(sys.argv[1]), sys.argv[2:]
    import torch
    import torch.nn.functional as functional
    from torch.optim.optimizer import register_optimizer_step_post_hook

    if os.environ.get("LORA_LAB_THREADS"):
        torch.set_num_threads(int(os.environ["LORA_LAB_THREADS"]))
    record: dict[str, list[float]] = {"steps": [], "losses": []}
    register_optimizer_step_post_hook(lambda *_: record["steps"].append(time.time()))
    original = functional.mse_loss

    def recorded_mse(*args, **kwargs):
        value = original(*args, **kwargs)
        record["losses"].append(float(value.detach()))
        return value

    functional.mse_loss = recorded_mse
    atexit.register(lambda: out.write_text(json.dumps(record)))
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()
