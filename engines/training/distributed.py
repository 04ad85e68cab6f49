"""Data parallelism across processes started by ``accelerate launch`` (gloo on CPU, NCCL on CUDA).

Every process holds the frozen model and the same LoRA; each trains on its slice of the global batch
(``schedule.Layout``) and the LoRA gradients are averaged across processes before every optimizer step,
so N processes with batch b follow one process with batch N*b. Only the LoRA gradients travel (a few
MB), which is why plain data parallelism is the right choice for LoRA (research/anchors-training.md 3).
Rank 0 alone writes files: states, the LoRA, samples, the loss log.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    """This process's rank in the launch, and the device its process group's collectives take tensors on
    (NCCL takes CUDA tensors only; gloo takes CPU tensors)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def collective_device(backend: str, training_device: str, local_rank: int = 0) -> str:
    """Where tensors handed to ``backend``'s collectives must live: this process's GPU for NCCL, else the CPU."""
    if backend == "nccl":
        return training_device if ":" in training_device else f"cuda:{local_rank}"
    return "cpu"


def context_from_env(device: str) -> Context:
    """The process's place in a launch (``WORLD_SIZE``/``RANK`` set by accelerate/torchrun); starts the group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    from accelerate import PartialState

    import torch.distributed as dist

    state = PartialState(cpu=device == "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", state.local_process_index))
    return Context(state.process_index, state.num_processes,
                   collective_device(str(dist.get_backend()), str(state.device), local_rank))


def average_gradients(params: list, context: Context) -> None:
    """All-reduce the LoRA gradients as one flat tensor on the group's device and divide by the process count."""
    if not context.distributed:
        return
    import torch
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads]).to(context.device)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= context.world
    offset = 0
    for param, grad in zip(params, grads):
        count = grad.numel()
        param.grad = flat[offset:offset + count].view_as(grad).to(param.device, copy=True)
        offset += count


def mean_across(value: float, context: Context) -> float:
    """The mean of a per-process number (the loss) over all processes, reduced on the group's device."""
    if not context.distributed:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item() / context.world)


def barrier(context: Context) -> None:
    if context.distributed:
        import torch.distributed as dist

        dist.barrier()


def launch_command(processes: int, module: str, job_file: str, port: int | None = None) -> list[str]:
    """``accelerate launch`` for ``processes`` data-parallel workers running ``python -m module job_file``."""
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    launcher = [accelerate] if accelerate else [sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate:
        launcher.append("launch")
    # --multi_gpu selects accelerate's torchrun launcher (N local processes, WORLD_SIZE/RANK set); on CPU
    # the workers then join a gloo group (accelerate's --cpu alone would start one process without MPI).
    args = ["--multi_gpu", "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no"]
    if port is not None:
        args += ["--main_process_port", str(port)]
    return [*launcher, *args, "--module", module, job_file]
