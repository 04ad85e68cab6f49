"""Text to LoRA on a device vs the CPU: seconds for proposal + ``steps`` steps at CLIP-L shapes (for ``bench gpu``).

The same loop as ``bench t2l --parts speed`` (random CLIP-L weights, a 20-token prompt, the full objective: read
layer, 77 kept positions, one other order of the tokens per step, the conditioning budget), run once cold and
once timed on ``device`` under the device policy (bf16 where supported, fp16 with loss scaling otherwise), and
the same on the CPU as the reference measured in the same call.
"""

from __future__ import annotations

import time

import torch


def t2l_device_figures(device: str, steps: int = 50, tiny: bool = False) -> dict:
    """{"device", "seconds", "cpu_seconds", "speedup_vs_cpu", "plan", ...} for proposal + ``steps`` steps.

    ``tiny`` uses the test-sized CLIP instead of CLIP-L shapes (for a quick check that the path runs).
    """
    from ..engines.text_to_lora.device import plan
    from . import t2l_speed

    chosen = plan(device, None, "auto")
    begin = time.perf_counter()
    setup = _setup(tiny)
    ids = t2l_speed._prompt_ids(20 if not tiny else 8)
    figures = {"device": chosen.device, "steps": steps, "plan": chosen.summary(),
               "shape": "tiny CLIP" if tiny else "CLIP-L random init (12 x 768, vocab 49408)"}
    figures["seconds"], figures["cold_seconds"] = _timed(setup, ids, steps, chosen.matrix_dtype, chosen.device)
    cpu = plan("cpu", None, "auto")
    figures["cpu_seconds"], _ = _timed(setup, ids, steps, cpu.matrix_dtype, "cpu")
    figures["cpu_matrices"] = cpu.summary()["matrices"]
    figures["speedup_vs_cpu"] = round(figures["cpu_seconds"] / figures["seconds"], 2)
    if chosen.device.startswith("cuda"):
        figures["peak_gpu_bytes"] = int(torch.cuda.max_memory_allocated(chosen.device))
    figures["total_seconds"] = round(time.perf_counter() - begin, 1)
    return figures


def _setup(tiny: bool):
    from . import t2l_speed

    return _tiny_setup() if tiny else t2l_speed._setup(4, 0)


def _tiny_setup():
    """The speed bench's setup at the tiny CLIP's shapes (its sd15 config cut down to them)."""
    from ..engines import tiny_models
    from ..engines.text_to_lora.assembler import build_assembly
    from ..engines.text_to_lora.calibration import Calibration
    from ..engines.text_to_lora.encoders import encoder_from_transformers, linear_shapes
    from ..engines.text_to_lora.proposer import Proposer, ProposerSpec

    config = dict(tiny_models.TINY_CLIP_CONFIG, vocab_size=49408, bos_token_id=49406, eos_token_id=49407,
                  pad_token_id=49407)
    model = tiny_models.clip_text_model(config, seed=0)
    encoder = encoder_from_transformers("clip", model)
    shapes = linear_shapes(encoder.weights)
    paths = sorted(p for p in shapes if p.endswith(("q_proj", "v_proj")))
    assembly = build_assembly("clip_l", paths, shapes, 4, 4.0)
    calibration = Calibration(1.0, torch.zeros(encoder.vocab_size), None, "temperature_bias")
    spec = ProposerSpec("clip_l", "sd15", "bench", encoder.hidden_size, 4, 4.0,
                        tuple((s.path, s.in_features, s.out_features) for s in assembly.slots))
    return model, encoder, assembly, calibration, Proposer(spec).eval()


def _timed(setup, ids, steps: int, dtype: torch.dtype, device: str) -> tuple[float, float]:
    """(timed seconds, cold seconds): one cold run first (kernel creation, allocator), then one timed run."""
    from . import t2l_speed

    _, encoder, assembly, calibration, proposer = setup
    runs = [t2l_speed.run_ours(encoder, assembly, calibration, proposer, ids, steps, 3e-3, dtype, device)[0]
            for _ in range(2)]
    return round(runs[1], 3), round(runs[0], 3)
