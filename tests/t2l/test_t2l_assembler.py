"""Flat parameters <-> per-module A/B: exact round trips, ComfyUI key names, Gram-matrix norms."""

from __future__ import annotations

import pytest
import torch

from comfyui_lora_lab.engines.lora_format import LoraDescription, load_lora, save_lora
from comfyui_lora_lab.engines.lora_format.layouts import LoraWeights
from comfyui_lora_lab.engines.text_to_lora.assembler import build_assembly, delta_cosine, gram_inner

PATHS = [f"text_model.encoder.layers.{i}.self_attn.{m}" for i in range(2) for m in ("q_proj", "v_proj")]


def _assembly(component="clip_l", rank=4, alpha=2.0, width=32):
    return build_assembly(component, PATHS, {p: (width, width) for p in PATHS}, rank, alpha)


def test_split_and_join_round_trip_exactly_and_split_returns_views():
    assembly = _assembly()
    flat = torch.randn(assembly.size)
    assert assembly.size == 4 * 4 * (32 + 32)
    assert torch.equal(assembly.join(assembly.split(flat)), flat)
    a, _ = assembly.split(flat)[PATHS[0]]
    a[0, 0] = 123.0
    assert flat[0] == 123.0


def test_standard_init_has_zero_b_and_a_seeded_kaiming_a():
    assembly = _assembly()
    first, again, other = assembly.initial(0), assembly.initial(0), assembly.initial(1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    for a, b in assembly.split(first).values():
        assert torch.count_nonzero(b) == 0 and a.abs().max() <= 1 / 32 ** 0.5


@pytest.mark.parametrize("family, component, prefix", [("sd15", "clip_l", "lora_te_"), ("sdxl", "clip_l", "lora_te1_"),
                                                         ("sdxl", "clip_g", "lora_te2_"), ("sd3", "clip_g", "lora_te2_")])
def test_saved_keys_follow_comfyui_names_and_load_back_exactly(tmp_path, family, component, prefix):
    assembly = _assembly(component)
    flat = torch.randn(assembly.size)
    path = save_lora(tmp_path / "x.safetensors", LoraWeights(assembly.to_weights(flat), "canonical"),
                     LoraDescription("t", family, rank=4, alpha=2.0))
    loaded = load_lora(path)
    assert sorted(loaded.tensors) == sorted(
        f"{prefix}text_model_encoder_layers_{i}_self_attn_{m}.{s}" for i in range(2) for m in ("q_proj", "v_proj")
        for s in ("lora_down.weight", "lora_up.weight", "alpha"))
    assert torch.equal(assembly.from_weights(loaded.weights), flat)


def test_t5_keys_use_the_slot_comfyui_expects(tmp_path):
    paths = [f"encoder.block.{i}.layer.0.SelfAttention.{m}" for i in range(2) for m in "qv"]
    assembly = build_assembly("t5xxl", paths, {p: (16, 16) for p in paths}, 2, 2.0)
    weights = LoraWeights(assembly.to_weights(torch.randn(assembly.size)), "canonical")
    for family, prefix in (("sd3", "lora_te3_"), ("flux", "lora_te2_")):
        path = save_lora(tmp_path / f"{family}.safetensors", weights, LoraDescription("t", family, rank=2, alpha=2.0))
        assert all(key.startswith(prefix + "encoder_block_") for key in load_lora(path).tensors)


def test_gram_inner_equals_the_frobenius_inner_product_of_the_deltas():
    generator = torch.Generator().manual_seed(0)
    a1, b1, a2, b2 = (torch.randn(*shape, generator=generator) for shape in ((3, 7), (5, 3), (3, 7), (5, 3)))
    torch.testing.assert_close(gram_inner(a1, b1, a2, b2), ((b1 @ a1) * (b2 @ a2)).sum())


def test_delta_cosine_of_a_lora_with_itself_and_with_a_rescaled_factorisation():
    assembly = _assembly()
    flat = torch.randn(assembly.size)
    modules = assembly.split(flat.clone())
    rescaled = assembly.join({p: (a * 2, b / 2) for p, (a, b) in modules.items()})
    norm, other_norm, cosine = delta_cosine(assembly, flat, rescaled)
    assert cosine == pytest.approx(1.0, abs=1e-5) and norm == pytest.approx(other_norm, rel=1e-5)
    assert delta_cosine(assembly, assembly.initial(0), flat)[0] == 0.0


def test_wrong_shapes_and_ranks_are_refused():
    assembly = _assembly()
    with pytest.raises(ValueError, match="flat vector of 1024"):
        assembly.split(torch.zeros(10))
    with pytest.raises(ValueError, match="do not match rank 4"):
        assembly.join({p: (torch.zeros(2, 32), torch.zeros(32, 2)) for p in PATHS})
    with pytest.raises(ValueError, match="rank 40 is larger than layer"):
        _assembly(rank=40)
