"""The refiner's number format per device: bf16 on a CUDA GPU that supports it, fp16 offered on GPUs only
(T5 overflows fp16, so ``auto`` never takes it), and what each format loads."""

from __future__ import annotations

import pytest
import torch

from comfyui_lora_lab.engines.prompt_refiner import precision
from comfyui_lora_lab.engines.prompt_refiner.precision import convert, resolve_precision


@pytest.mark.parametrize("bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_takes_bf16_where_the_gpu_has_it(monkeypatch, bf16, expected):
    monkeypatch.setattr(precision, "cuda_bf16", lambda: bf16)
    assert resolve_precision("auto", "cuda") == expected
    assert resolve_precision("fp16", "cuda") == "fp16"
    assert resolve_precision("auto", "mps") == "fp32"


def test_fp16_is_refused_on_the_cpu_and_int8_off_it():
    with pytest.raises(ValueError, match="precision 'fp16' runs on a GPU only"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision 'int8' runs on the cpu only"):
        resolve_precision("int8", "cuda")


@pytest.mark.parametrize("name, dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_convert_loads_the_format(name, dtype):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4)).eval()
    assert {p.dtype for p in convert(model, name).parameters()} == {dtype}
