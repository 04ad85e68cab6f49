"""The functional encoders compute what transformers (and PEFT) compute; causal truncation is exact."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import BertConfig, BertModel, T5Config, T5EncoderModel

from comfyui_lora_lab.engines.text_to_lora.encoders import encoder_from_transformers


def _bert():
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=64)).eval()


def _t5(gated: bool):
    torch.manual_seed(0)
    return T5EncoderModel(T5Config(vocab_size=300, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                   feed_forward_proj="gated-gelu" if gated else "relu")).eval()


@pytest.mark.parametrize("kind, build, length", [("bert", _bert, 12), ("t5", lambda: _t5(True), 140),
                                                 ("t5", lambda: _t5(False), 9)], ids=["bert", "t5-gated", "t5-relu"])
def test_bidirectional_encoders_match_transformers(kind, build, length):
    model = build()
    ids = torch.randint(3, 300, (2, length))
    with torch.no_grad():
        expected = model(input_ids=ids).last_hidden_state
        got = encoder_from_transformers(kind, model).forward(ids).final
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def _random_lora(encoder, paths, rank=4, seed=1):
    generator = torch.Generator().manual_seed(seed)
    width = encoder.hidden_size
    return {p: (torch.randn(rank, width, generator=generator) * 0.3, torch.randn(width, rank, generator=generator) * 0.3,
                0.5) for p in paths}


def test_clip_with_a_lora_matches_transformers_wrapped_by_peft(clip_model, clip_bundle):
    from peft import LoraConfig, get_peft_model

    encoder = clip_bundle.encoder
    paths = [f"text_model.encoder.layers.{i}.self_attn.{m}" for i in range(2) for m in ("q_proj", "v_proj")]
    lora = _random_lora(encoder, paths)
    peft_model = get_peft_model(copy.deepcopy(clip_model), LoraConfig(r=4, lora_alpha=2, target_modules=["q_proj",
                                                                                                       "v_proj"]))
    copied = 0
    with torch.no_grad():
        for name, module in peft_model.named_modules():
            for path, (a, b, _) in lora.items():
                if name.endswith(path.removeprefix("text_model.")) and hasattr(module, "lora_A"):
                    module.lora_A["default"].weight.copy_(a)
                    module.lora_B["default"].weight.copy_(b)
                    copied += 1
    assert copied == len(lora)
    with torch.no_grad():
        ids = torch.randint(0, 49406, (1, 77))
        expected = peft_model(input_ids=ids).last_hidden_state
        got = encoder.forward(ids, lora).final
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_causal_truncation_is_exact_with_a_lora(clip_bundle):
    """[BOS] prompt [EOS] gives the same states as the first positions of the padded 77-token window."""
    encoder, special = clip_bundle.encoder, clip_bundle.tokenizer.special
    content = clip_bundle.tokenizer.encode_text("a watercolor painting of a red fox under a cherry tree")
    short = torch.tensor([special.wrap(content)])
    window = torch.tensor([special.wrap(content) + [special.eos] * (77 - short.shape[1])])
    lora = _random_lora(encoder, [f"text_model.encoder.layers.{i}.self_attn.{m}" for i in range(2)
                                  for m in ("q_proj", "v_proj")])
    with torch.no_grad():
        truncated, full = encoder.forward(short, lora), encoder.forward(window, lora, short.shape[1] - 1)
    torch.testing.assert_close(truncated.final[0], full.final[0, : short.shape[1]], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(truncated.pooled, full.pooled, atol=1e-6, rtol=1e-6)
    # The LoRA does reach the padded positions too (the report measures them once, not in the loop).
    assert not torch.allclose(full.final[0, -1], encoder.forward(window).final[0, -1])


def test_penultimate_conditioning_is_the_input_of_the_last_block(clip_model, clip_bundle):
    """SDXL reads the penultimate block un-normed; SD1.x with CLIP Set Last Layer -2 reads it through the final
    norm (ComfyUI's ``layer_norm_hidden_state``)."""
    from comfyui_lora_lab.engines.text_to_lora.encoders.clip import from_transformers

    ids = torch.randint(0, 49406, (1, 10))
    with torch.no_grad():
        hidden = clip_model(input_ids=ids, output_hidden_states=True).hidden_states[-2]
        raw = from_transformers(clip_model, conditioning_layer=-2, layer_norm_hidden_state=False).forward(ids)
        normed = from_transformers(clip_model, conditioning_layer=-2).forward(ids, need_pooled=False)
        norm = getattr(clip_model, "text_model", clip_model).final_layer_norm  # transformers 5 drops text_model
        expected_normed = norm(hidden)
    torch.testing.assert_close(raw.conditioning, hidden, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(normed.conditioning, expected_normed, atol=1e-5, rtol=1e-5)
    assert normed.pooled is None  # nothing above the read layer ran


def test_bf16_matrices_stay_close_and_leave_the_fp32_weights_alone(clip_bundle):
    encoder = clip_bundle.encoder
    fast = encoder.with_matrix_dtype(torch.bfloat16)
    assert fast.weights["text_model.encoder.layers.0.mlp.fc1.weight"].dtype == torch.bfloat16
    assert encoder.weights["text_model.encoder.layers.0.mlp.fc1.weight"].dtype == torch.float32
    assert fast.weights["text_model.final_layer_norm.weight"].dtype == torch.float32
    ids = torch.randint(0, 49406, (1, 12))
    with torch.no_grad():
        exact, approx = encoder.forward(ids).final, fast.forward(ids).final
    assert (exact - approx).abs().max() < 0.1 and torch.nn.functional.cosine_similarity(
        exact.flatten(), approx.flatten(), dim=0) > 0.999


def test_private_copies_never_touch_the_source_model(clip_model):
    before = {k: v.clone() for k, v in clip_model.state_dict().items()}
    encoder = encoder_from_transformers("clip", clip_model)
    encoder.weights["text_model.encoder.layers.0.self_attn.q_proj.weight"].add_(1.0)
    for key, value in clip_model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_private_copies_of_inference_tensors_can_be_used_under_autograd():
    from comfyui_lora_lab.engines.text_to_lora.encoders import private_copy

    with torch.inference_mode():
        weight = torch.randn(4, 4)
    copy_ = private_copy({"w": weight})["w"]
    a = torch.zeros(4, requires_grad=True)
    (copy_ @ a).sum().backward()
    assert a.grad is not None


def test_a_packed_bf16_matrix_gives_the_plain_bf16_result_and_gradient():
    from comfyui_lora_lab.engines.text_to_lora.encoders.base import PackedMatrix, frozen_linear, packed

    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(48, 32, generator=generator).to(torch.bfloat16)
    bias = torch.randn(48, generator=generator)
    matrix = packed(weight)
    if not isinstance(matrix, PackedMatrix):
        pytest.skip("this torch build has no oneDNN packed linear")
    results = []
    for w in (weight, matrix):
        x = torch.randn(1, 7, 32, generator=torch.Generator().manual_seed(1), requires_grad=True)
        out = frozen_linear(x, w, bias)
        (grad,) = torch.autograd.grad(out.pow(2).sum(), x)
        results.append((out.detach(), grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert packed(weight.float()) is not None and not isinstance(packed(weight.float()), PackedMatrix)
