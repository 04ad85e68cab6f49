"""Entry point of one training process: ``python -m <pack>.engines.training.worker job.json``.

``accelerate launch`` starts it once per process (``WORLD_SIZE``/``RANK`` set); it also runs alone.
Rank 0 prints one ``step N/M loss X`` line per step and writes ``result.json`` into the run folder.
User errors (bad dataset, bad settings) print one line to stderr and exit 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m <pack>.engines.training.worker JOB.json", file=sys.stderr)
        return 2
    import torch

    from ..progress import no_progress
    from .config import write_json_atomic
    from .distributed import context_from_env
    from .inprocess import RESULT_FILE, print_progress
    from .job import TrainingJob
    from .policy import resolve_device
    from .trainer import Trainer

    threads = os.environ.get("LORA_LAB_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    job = TrainingJob.from_dict(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    context = context_from_env(resolve_device(job.config.device, job.host_device)[0])
    quiet = lambda message: None  # noqa: E731 - only rank 0 speaks
    try:
        result = Trainer(job, print_progress if context.is_main else no_progress, context,
                         log=print if context.is_main else quiet).run()
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if context.is_main:
        write_json_atomic(job.run_dir / RESULT_FILE, result.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
