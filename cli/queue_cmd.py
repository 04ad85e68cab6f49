"""``lora-lab queue TEMPLATE_API.json --server URL --prompt TEXT --count N [--explore|--quick] [--auto-lora]``

The seed's batch-generation backend, against ComfyUI's own API: the server (ComfyUI with this pack) plans
the batch with the explorer policy and records it (with ``--auto-lora``, each checkpoint group gets its own
LoRA combination, chosen and recorded by the server); this command builds one prompt per draft from an
API-format template (checkpoint, text, seed, the draft's LoRA chain, a Save Drafts node) and queues each on
``/prompt``. With several ``--server`` (one ComfyUI per GPU, sharing LoRA Lab's store) the drafts are spread
by checkpoint group and, with ``--wait``, the unfinished drafts of a server that stops answering are queued
on the others; a draft is recorded once (its id is batch + index; the store refuses a second image).
Prints ``{"batch_id", "total_count", "distribution", "gpu_distribution", "groups", ...}`` as JSON. Everything
the command can check (count, template, servers, LoRA names) is checked before the batch is recorded.
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
from ..engines.explorer.server_spread import spread
from ..engines.store.generations import DraftPlan, LoraUse
from .comfyui_http import ComfyClient, ServerError, Unreachable

MAX_TEMPLATE_BYTES = 4 * 1024 * 1024
DEFAULT_SERVER = "http://127.0.0.1:8188"
RECENT_BATCHES = 100
MAX_SLOW_POLLS = 10  # a server that times out this many polls in a row is taken as lost
FAMILIES = ("sd15", "sdxl", "sd3", "flux", "unknown")


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be from 1 to 256, got {value}")
    return value


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("queue", help="queue a batch of drafts on a ComfyUI server (explorer policy)")
    parser.add_argument("template", help="API-format workflow (ComfyUI 'Save (API)') with one checkpoint loader")
    parser.add_argument("--server", action="append", default=None,
                        help=f"ComfyUI URL (default {DEFAULT_SERVER}); repeat it for one server per GPU: the batch is "
                             "spread by checkpoint group, a lost server's drafts go to the others (--wait); the "
                             "servers must share LoRA Lab's store (same --user-directory), the first one plans")
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


def lora_request(args, client: ComfyClient) -> tuple[dict, list[LoraUse] | None]:
    """What the batch request says about LoRAs, and the fixed LoRAs of every draft (``--lora``), checked
    before anything is recorded. Auto-LoRA gives each checkpoint group its own combination (server side)."""
    auto = args.auto_lora
    if auto is None and not args.lora:
        auto = bool(client.get("/lora_lab/settings").get("auto_lora"))
    if not auto and not args.lora:
        return {"auto_lora": False}, None
    available = installed_loras(client)
    if args.lora:
        return {"auto_lora": False}, fixed([parse_lora(text) for text in args.lora])(LoraRequest(args.prompt, "",
                                                                                              available))
    if args.lora_chooser == "server":
        return {"auto_lora": True, "family": tier_family(args)}, None
    choose = functools.partial(CHOOSERS[args.lora_chooser], family=tier_family(args)) \
        if args.lora_chooser == "discovery" else CHOOSERS[args.lora_chooser]
    candidates = choose(LoraRequest(args.prompt, "", available))
    return {"auto_lora": True, "candidates": [lora.to_dict() for lora in candidates]}, None


def draft_prompts(template: dict, plan: dict, text: str, fixed_loras: list[LoraUse] | None) -> dict[int, dict]:
    """One API prompt per draft index: its checkpoint, seed, LoRAs (its group's, or ``--lora``) and Save Drafts."""
    prompts = {}
    for draft in plan["drafts"]:
        loras = fixed_loras if fixed_loras is not None else [LoraUse(l["name"], l["strength"]) for l in draft["loras"]]
        prompts[draft["index"]] = api_prompt.draft_prompt(
            template, plan["batch_id"], DraftPlan(draft["index"], draft["checkpoint"], draft["seed"]), text, loras)
    return prompts


def queue_on(client: ComfyClient, prompts: dict[int, dict], indexes: list[int], client_id: str) -> dict[int, str]:
    return {i: client.post("/prompt", {"prompt": prompts[i], "client_id": client_id})["prompt_id"] for i in indexes}
class Batch:
    """A queued batch over one or more servers: where each draft runs, and moving drafts off a lost server."""

    def __init__(self, clients: dict[str, ComfyClient], plan: dict, prompts: dict[int, dict]) -> None:
        self.clients, self.plan, self.prompts = clients, plan, prompts
        self.client_id, self.dead = uuid.uuid4().hex, set()
        self.running: dict[int, tuple[str, str]] = {}  # draft index -> (server, prompt id)
        self.status: dict[int, str] = {}
        self.requeued: dict[int, dict] = {}
        self.slow: dict[str, int] = {}  # server -> polls in a row that timed out

    def queue(self, assignment: dict[str, list[int]]) -> None:
        """Queue drafts; a server lost while queueing keeps its drafts (no prompt id) for :meth:`recover`."""
        for server, indexes in assignment.items():
            for index in indexes:
                self.running[index] = (server, "")
            try:
                for index, prompt_id in queue_on(self.clients[server], self.prompts, indexes, self.client_id).items():
                    self.running[index] = (server, prompt_id)
            except Unreachable as exc:
                if not exc.gone:  # it may have taken the prompt: queueing it elsewhere could render it twice
                    raise
                self.dead.add(server)

    def distribution(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {server: [] for server in self.clients}
        for index, (server, _) in sorted(self.running.items()):
            out[server].append(index)
        return {server: indexes for server, indexes in out.items() if indexes}

    def poll(self) -> None:
        """Final statuses from each live server's ``/history``; a server that refuses or cuts the connection (or
        times out ``MAX_SLOW_POLLS`` polls in a row: a busy server is not a lost one) is marked lost."""
        for index, (server, prompt_id) in sorted(self.running.items()):
            if index in self.status or server in self.dead:
                continue
            try:
                entry = self.clients[server].get(f"/history/{prompt_id}").get(prompt_id)
            except Unreachable as exc:
                self.slow[server] = self.slow.get(server, 0) + 1
                if exc.gone or self.slow[server] >= MAX_SLOW_POLLS:
                    self.dead.add(server)
                continue
            self.slow[server] = 0
            if entry and entry.get("status", {}).get("completed") is not None:
                self.status[index] = entry["status"].get("status_str", "unknown")

    def recover(self) -> None:
        """Drafts of lost servers: recorded ones (image in the shared store) are done, the rest queued elsewhere."""
        lost = [i for i, (server, _) in self.running.items() if server in self.dead and i not in self.status]
        if not lost:
            return
        live = [s for s in self.clients if s not in self.dead]
        if not live:
            raise ServerError(f"every server stopped answering; drafts {sorted(lost)} are not finished")
        recorded = recorded_drafts(self.clients[live[0]], self.plan["batch_id"])
        for index in [i for i in lost if i in recorded]:
            self.status[index] = "success"
        todo = [(i, self.plan["drafts"][i]["checkpoint"]) for i in lost if i not in recorded]
        load = {s: sum(1 for i, (srv, _) in self.running.items() if srv == s and i not in self.status) for s in live}
        for server, indexes in spread(todo, live, load).items():
            for index in indexes:
                self.requeued[index] = {"from": self.running[index][0], "to": server}
            self.queue({server: indexes})


def recorded_drafts(client: ComfyClient, batch_id: str) -> set[int]:
    """Draft indexes of the batch that have an image in the (shared) store."""
    for batch in client.get(f"/lora_lab/batches?limit={RECENT_BATCHES}")["batches"]:
        if batch["id"] == batch_id:
            return {d["index"] for d in batch["drafts"] if d["image"]}
    raise ServerError(f"batch {batch_id} is not among the server's latest {RECENT_BATCHES} batches")


def wait_for(batch: Batch, timeout: float) -> dict[int, str]:
    """Poll until every draft has a final status, moving the drafts of lost servers; {draft index: status}."""
    deadline = time.monotonic() + timeout
    while len(batch.status) < len(batch.prompts):
        batch.poll()
        batch.recover()
        if len(batch.status) < len(batch.prompts):
            if time.monotonic() > deadline:
                raise ServerError(f"{len(batch.prompts) - len(batch.status)} draft(s) not finished after "
                                  f"{timeout:.0f} s")
            time.sleep(0.5)  # polling ComfyUI's /history, not timing anything
    return batch.status


def check_shared_store(clients: dict[str, ComfyClient], batch_id: str) -> None:
    """Every server must record into the same store (same user directory), or picks would be split."""
    for server, client in list(clients.items())[1:]:
        try:
            recorded_drafts(client, batch_id)
        except ServerError as exc:
            raise ServerError(f"{server} does not see batch {batch_id} planned on {next(iter(clients))} ({exc}); "
                              "start every server with the same --user-directory so they share LoRA Lab's "
                              "store") from None


def run(args) -> int:
    template = load_template(args.template)
    urls = args.server or [DEFAULT_SERVER]
    spread([], urls)  # refuses a server listed twice before anything runs
    clients = {url: ComfyClient(url) for url in urls}
    primary = clients[urls[0]]
    lora_fields, fixed_loras = lora_request(args, primary)
    seed = args.seed if args.seed is not None else secrets.randbelow(2 ** 32)
    plan = primary.post("/lora_lab/batches", {"tier": args.tier, "count": args.count, "mode": args.mode,
                                              "seed": seed, "prompt": args.prompt, **lora_fields})
    check_shared_store(clients, plan["batch_id"])
    batch = Batch(clients, plan, draft_prompts(template, plan, args.prompt, fixed_loras))
    batch.queue(spread([(d["index"], d["checkpoint"]) for d in plan["drafts"]], urls))
    result = {"batch_id": plan["batch_id"], "total_count": plan["total_count"], "distribution": plan["distribution"],
              "mode": plan["mode"], "tier": plan["tier"], "seed": seed, "groups": plan["groups"]}
    if args.wait:
        status = wait_for(batch, args.timeout)
        result["status"] = {str(i): status[i] for i in sorted(status)}
        result["requeued"] = {str(i): moved for i, moved in sorted(batch.requeued.items())}
    result["gpu_distribution"] = batch.distribution()
    result["prompt_ids"] = [batch.running[i][1] for i in sorted(batch.running)]
    print(json.dumps(result))
    return 0 if all(s == "success" for s in result.get("status", {}).values()) else 1
