"""No growth across runs: a real ComfyUI server's resident memory over repeated example workflows.

Queues one of the pack's example workflows (the LoRA Trainer by default; Text to LoRA, the Prompt Refiner)
``--runs`` times on a running ComfyUI, each followed by ComfyUI's own ``POST /free`` (unload models, free
memory), and reads the server process's resident set (``/proc/PID/status`` VmRSS, so the server must run
on this machine) at the start and after each run once it has settled. The goal: every run ends within 10%
of the first run's figure (what a leak of kept references or never-returned allocator arenas breaks).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

GOALS = {"max_growth_vs_first": ("<=", 0.10)}
WORKFLOWS = {"trainer": ("lora_trainer.json", "LoRALabTrainer"), "t2l": ("text_to_lora.json", "LoRALabTextToLoRAOptimize"),
             "refiner": ("prompt_refiner.json", "LoRALabPromptRefiner")}
EXAMPLES = Path(__file__).resolve().parents[1] / "example_workflows"


def add_arguments(parser) -> None:
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="the ComfyUI server's URL")
    parser.add_argument("--pid", type=int, help="the server's process id (default: read --pid-file)")
    parser.add_argument("--pid-file", help="file holding the server's process id (comfy-host's COMFY_STATE/server.pid)")
    parser.add_argument("--workflow", choices=sorted(WORKFLOWS), default="trainer")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checkpoint", default="random_sd15.safetensors")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds one run may take")


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"process {pid} has no VmRSS (is it running on this machine?)")


def settled_mb(pid: int, seconds: float = 60.0) -> float:
    """The resident set once three readings a second apart agree within 1% (frees finish asynchronously)."""
    readings = [resident_mb(pid)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1.0)
        readings.append(resident_mb(pid))
        last = readings[-3:]
        if len(last) == 3 and max(last) - min(last) <= 0.01 * max(last):
            break
    return readings[-1]


def build_prompt(client, workflow: str, checkpoint: str, dataset: Path, run: int) -> dict:
    from ..engines.comfy_workflow import ui_to_api

    file_name, node_type = WORKFLOWS[workflow]
    object_info = client.get("/object_info")
    prompt = ui_to_api(json.loads((EXAMPLES / file_name).read_text()), object_info)
    for node in prompt.values():
        inputs = node["inputs"]
        if "ckpt_name" in inputs:
            inputs["ckpt_name"] = checkpoint
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        if node["class_type"] == "KSampler":
            inputs.update(steps=2)
        if node["class_type"] == node_type == "LoRALabTrainer":
            inputs.update(dataset_dir=str(dataset), lora_name=f"memory_{uuid.uuid4().hex[:8]}", trigger_word="lorasks",
                          rank=4, epochs=1, batch_size=2, resolution=64, sample_steps=4, overwrite=True)
        if node["class_type"] == node_type == "LoRALabPromptRefiner":  # the models this server has
            required = object_info[node_type]["input"]["required"]
            inputs.update(base_model=_first_option(required["base_model"]), adapter=_first_option(required["adapter"]))
        if "seed" in inputs and isinstance(inputs["seed"], int):
            inputs["seed"] = run
    return prompt


def _first_option(spec: list) -> str:
    """The first choice of a combo input as /object_info lists it: ``["COMBO", {"options": [...]}]`` or, in the
    older form, ``[[...choices], {...}]``."""
    options = spec[0] if isinstance(spec[0], list) else (spec[1] if len(spec) > 1 else {}).get("options", [])
    if not options:
        raise ValueError("the server lists no Prompt Refiner base or adapter: put a base + adapter made by "
                         "`lora-lab refiner base/train` in its models/prompt_refiner")
    return options[0]


def run_once(client, prompt: dict, timeout: float) -> float:
    from ..cli.comfyui_http import ServerError

    started = time.monotonic()
    prompt_id = client.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
    while time.monotonic() - started < timeout:
        try:
            entry = client.get(f"/history/{prompt_id}").get(prompt_id)
        except ServerError:  # a server busy training may answer late; the run's own timeout still applies
            continue
        if entry and entry.get("status", {}).get("completed") is not None:
            status = entry["status"]
            if status.get("status_str") != "success":
                raise RuntimeError(f"the workflow failed: {json.dumps(status.get('messages', []))[-2000:]}")
            return time.monotonic() - started
        time.sleep(1.0)
    raise TimeoutError(f"the workflow did not finish in {timeout:.0f} s")


def run(args) -> dict:
    from ..cli.comfyui_http import ComfyClient
    from ..engines.training.tiny import make_dataset

    pid = args.pid or (int(Path(args.pid_file).read_text().split()[0]) if args.pid_file else None)
    if pid is None:
        raise ValueError("give the server's --pid or --pid-file (its resident memory is read from /proc)")
    client = ComfyClient(args.server, timeout=120)
    with tempfile.TemporaryDirectory() as temp:
        dataset = make_dataset(Path(temp) / "data", count=4, size=64, trigger="lorasks")
        start = settled_mb(pid)
        after, seconds = [], []
        for index in range(args.runs):
            seconds.append(round(run_once(client, build_prompt(client, args.workflow, args.checkpoint, dataset, index),
                                          args.timeout), 1))
            client.post("/free", {"unload_models": True, "free_memory": True})
            after.append(round(settled_mb(pid), 1))
            print(f"run {index + 1}: {seconds[-1]} s, resident {after[-1]} MB after POST /free (start {start:.0f} MB)",
                  file=sys.stderr, flush=True)
    first = after[0]
    return {"workflow": args.workflow, "runs": args.runs, "rss_start_mb": round(start, 1), "rss_after_runs_mb": after,
            "run_seconds": seconds, "max_growth_vs_first": round(max(a / first - 1 for a in after), 3)}
