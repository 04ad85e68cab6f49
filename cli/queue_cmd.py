"""``lora-lab queue TEMPLATE_API.json --server URL --prompt TEXT --count N [--explore|--quick] [--auto-lora]``

The seed's batch-generation backend, against ComfyUI's own API: the server (ComfyUI with this pack) plans
the batch with the explorer policy and records it; this command builds one prompt per draft from an
API-format template (checkpoint, text, seed, optional LoRA chain, a Save Drafts node) and queues each on
``/prompt``. Prints ``{"batch_id", "total_count", "distribution", ...}`` as JSON. Everything the command
can check (count, template, LoRA names) is checked before the batch is recorded.
"""

from __future__ import annotations

import argparse
import functools
import json
import secrets
import time
import uuid
from pathlib import Path

from ..engines.explorer import api_prompt
from ..engines.explorer.lora_choice import CHOOSERS, LoraRequest, fixed, parse_lora
from ..engines.store.generations import DraftPlan, LoraUse
from .comfyui_http import ComfyClient, ServerError

MAX_TEMPLATE_BYTES = 4 * 1024 * 1024
FAMILIES = ("sd15", "sdxl", "sd3", "flux", "unknown")


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be from 1 to 256, got {value}")
    return value


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("queue", help="queue a batch of drafts on a ComfyUI server (explorer policy)")
    parser.add_argument("template", help="API-format workflow (ComfyUI 'Save (API)') with one checkpoint loader")
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="ComfyUI URL")
    parser.add_argument("--prompt", required=True, help="positive prompt text")
    parser.add_argument("--count", type=_count, default=20, help="number of drafts (1-256)")
    parser.add_argument("--tier", default="sd15_draft", help="checkpoint pool to use")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--explore", dest="mode", action="store_const", const="explore",
                      help="spread over 2-3 checkpoints")
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick", help="use the best checkpoint")
    parser.add_argument("--auto-lora", action=argparse.BooleanOptionalAction, default=None,
                        help="add LoRAs chosen for the prompt (default: the panel's setting)")
    parser.add_argument("--lora-chooser", choices=["server", *sorted(CHOOSERS)], default="server",
                        help="how --auto-lora chooses: the server's discovery route (default; full LoRA index and "
                             "learned picks), or locally from the LoRA names")
    parser.add_argument("--family", default=None, choices=sorted(FAMILIES),
                        help="base family of the tier's checkpoints, so LoRAs for other families are never added "
                             "(default: the tier name's prefix, e.g. sd15_draft -> sd15, else unknown)")
    parser.add_argument("--lora", action="append", default=[], metavar="NAME[:STRENGTH]",
                        help="add this LoRA to every draft (repeatable; replaces --auto-lora's choice)")
    parser.add_argument("--seed", type=int, default=None, help="allocation and draft seeds (default: random)")
    parser.add_argument("--wait", action="store_true", help="wait until every draft has finished")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds --wait waits at most")
    parser.set_defaults(func=run, mode="panel")


def load_template(path: str) -> dict:
    file = Path(path)
    if file.stat().st_size > MAX_TEMPLATE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_TEMPLATE_BYTES} bytes; not a workflow")
    try:
        template = api_prompt.check_template(json.loads(file.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    api_prompt.draft_prompt(template, "check", DraftPlan(0, "check.safetensors"), "check")
    return template


def installed_loras(client: ComfyClient) -> tuple[str, ...]:
    """LoRA names as ComfyUI lists them (V1 combo list or V3 ``["COMBO", {"options"}]``)."""
    spec = client.get("/object_info/LoraLoader")["LoraLoader"]["input"]["required"]["lora_name"]
    return tuple(spec[1]["options"] if spec[0] == "COMBO" else spec[0])


def tier_family(args) -> str:
    if args.family:
        return args.family
    prefix = args.tier.split("_", 1)[0].lower()
    return prefix if prefix in FAMILIES else "unknown"


def server_discovery(client: ComfyClient, family: str):
    """Ask the server's ``/lora_lab/discover`` (its whole index, sidecars and learned picks) for the prompt."""

    def choose(request: LoraRequest) -> list[LoraUse]:
        result = client.post("/lora_lab/discover", {"prompt": request.prompt, "family": family})
        return [LoraUse(pick["name"], pick["strength"]) for pick in result["picks"] if pick["name"] in request.available]

    return choose


def lora_chooser(args, client: ComfyClient):
    """None (no LoRAs), or a function draft checkpoint -> LoRAs; validated before anything is recorded."""
    auto = args.auto_lora
    if auto is None and not args.lora:
        auto = bool(client.get("/lora_lab/settings").get("auto_lora"))
    if not auto and not args.lora:
        return None
    available = installed_loras(client)
    if args.lora:
        choose = fixed([parse_lora(text) for text in args.lora])
    elif args.lora_chooser == "server":
        choose = server_discovery(client, tier_family(args))
    else:
        choose = functools.partial(CHOOSERS[args.lora_chooser], family=tier_family(args)) \
            if args.lora_chooser == "discovery" else CHOOSERS[args.lora_chooser]
    choose(LoraRequest(args.prompt, "", available))
    cache: dict[str, list] = {}

    def for_checkpoint(checkpoint: str) -> list:
        if checkpoint not in cache:
            cache[checkpoint] = choose(LoraRequest(args.prompt, checkpoint, available))
        return cache[checkpoint]

    return for_checkpoint


def queue_drafts(client: ComfyClient, template: dict, plan: dict, text: str, choose) -> list[str]:
    client_id, prompt_ids = uuid.uuid4().hex, []
    for draft in plan["drafts"]:
        loras = choose(draft["checkpoint"]) if choose else []
        prompt = api_prompt.draft_prompt(template, plan["batch_id"],
                                         DraftPlan(draft["index"], draft["checkpoint"], draft["seed"]), text, loras)
        prompt_ids.append(client.post("/prompt", {"prompt": prompt, "client_id": client_id})["prompt_id"])
    return prompt_ids


def wait_for(client: ComfyClient, prompt_ids: list[str], timeout: float) -> dict[str, str]:
    """Poll ``/history`` until every prompt has a final status; {prompt_id: status}."""
    deadline, status = time.monotonic() + timeout, {}
    while len(status) < len(prompt_ids):
        for prompt_id in prompt_ids:
            entry = client.get(f"/history/{prompt_id}").get(prompt_id) if prompt_id not in status else None
            if entry and entry.get("status", {}).get("completed") is not None:
                status[prompt_id] = entry["status"].get("status_str", "unknown")
        if len(status) < len(prompt_ids):
            if time.monotonic() > deadline:
                raise ServerError(f"{len(prompt_ids) - len(status)} draft(s) not finished after {timeout:.0f} s")
            time.sleep(0.5)
    return status


def run(args) -> int:
    template = load_template(args.template)
    client = ComfyClient(args.server)
    choose = lora_chooser(args, client)
    seed = args.seed if args.seed is not None else secrets.randbelow(2 ** 32)
    plan = client.post("/lora_lab/batches", {"tier": args.tier, "count": args.count, "mode": args.mode,
                                             "seed": seed, "prompt": args.prompt})
    prompt_ids = queue_drafts(client, template, plan, args.prompt, choose)
    result = {"batch_id": plan["batch_id"], "total_count": plan["total_count"], "distribution": plan["distribution"],
              "mode": plan["mode"], "tier": plan["tier"], "seed": seed, "prompt_ids": prompt_ids}
    if args.wait:
        result["status"] = wait_for(client, prompt_ids, args.timeout)
    print(json.dumps(result))
    return 0 if all(s == "success" for s in result.get("status", {}).values()) else 1
