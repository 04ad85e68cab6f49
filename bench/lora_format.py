"""Header-only reads vs full loads: what a library scan costs per file with our reader.

Writes N kohya LoRAs of real SD1.5 shapes (with a realistic ``ss_tag_frequency``), then times
``read_header`` (ours: 8 + header bytes), ``safetensors.safe_open(...).metadata()`` and a full
``load_file``, all in the same run.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from .timing import median, time_calls


def add_arguments(parser) -> None:
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)


def _write_library(folder: Path, files: int, rank: int) -> list[Path]:
    import torch
    from safetensors.torch import save_file

    rng = random.Random(0)
    tensors = {}
    for layer in range(12):
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            stem = f"lora_te_text_model_encoder_layers_{layer}_self_attn_{proj}"
            tensors[f"{stem}.lora_down.weight"] = torch.zeros(rank, 768, dtype=torch.float16)
            tensors[f"{stem}.lora_up.weight"] = torch.zeros(768, rank, dtype=torch.float16)
            tensors[f"{stem}.alpha"] = torch.tensor(float(rank))
    paths = []
    for index in range(files):
        tags = {f"tag{rng.randrange(5000)}": rng.randrange(1, 50) for _ in range(400)}
        metadata = {"ss_tag_frequency": json.dumps({"10_style": tags}), "ss_output_name": f"style {index}"}
        path = folder / f"style_{index}.safetensors"
        save_file(tensors, str(path), metadata=metadata)
        paths.append(path)
    return paths


def run(args) -> dict:
    from safetensors import safe_open
    from safetensors.torch import load_file

    from ..engines.lora_format import inspect_file, read_header

    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_library(Path(tmp), args.files, args.rank)
        ours = median(time_calls(lambda: [read_header(p) for p in paths], args.repeats)) / len(paths)
        summary = median(time_calls(lambda: [inspect_file(p) for p in paths], args.repeats)) / len(paths)

        def safe_open_metadata():
            for path in paths:
                with safe_open(str(path), framework="pt") as handle:
                    handle.metadata()

        reference = median(time_calls(safe_open_metadata, args.repeats)) / len(paths)
        full = median(time_calls(lambda: [load_file(str(p)) for p in paths], args.repeats)) / len(paths)
        header = read_header(paths[0])
    return {
        "files": len(paths),
        "file_bytes": header.file_size,
        "header_bytes": header.header_size,
        "read_header_ms": round(ours * 1000, 3),
        "inspect_ms": round(summary * 1000, 3),
        "safe_open_metadata_ms": round(reference * 1000, 3),
        "full_load_ms": round(full * 1000, 3),
        "full_load_vs_header_ratio": round(full / ours, 1),
    }
