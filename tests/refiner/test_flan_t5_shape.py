"""The path users take: a folder laid out like a downloaded Flan-T5-base (``config.json`` with Flan-T5-base's
exact configuration, random weights in ``model.safetensors``, a SentencePiece ``spiece.model`` trained here and
no ``tokenizer.json``) goes through load, adapter training, refine, int8 on the CPU and the HTTP route.

Flan-T5-base is ~248M parameters: the test keeps the shape exact and the work small (2 training steps of 4
pairs with short sequences, 4 new tokens). Needs ``sentencepiece`` and ``protobuf`` (test extras): without
them transformers cannot read an ``spiece.model``, which is what this test is here to catch.
"""

from __future__ import annotations

import io
import json

import pytest

from comfyui_lora_lab.engines.prompt_refiner.base_model import load_base
from comfyui_lora_lab.engines.prompt_refiner.data import DataConfig, generate_pairs
from comfyui_lora_lab.engines.prompt_refiner.runtime import load_refiner
from comfyui_lora_lab.engines.prompt_refiner.training import TrainConfig, train_adapter
from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.engines.lab import Lab

spm = pytest.importorskip("sentencepiece", reason="sentencepiece (test extras) trains and reads spiece.model")
pytest.importorskip("google.protobuf", reason="protobuf (test extras): transformers reads spiece.model with it")

# google/flan-t5-base config.json, every architecture field (the values a real download has).
FLAN_T5_BASE = dict(
    architectures=["T5ForConditionalGeneration"], d_ff=2048, d_kv=64, d_model=768, decoder_start_token_id=0,
    dense_act_fn="gelu_new", dropout_rate=0.1, eos_token_id=1, feed_forward_proj="gated-gelu", initializer_factor=1.0,
    is_encoder_decoder=True, is_gated_act=True, layer_norm_epsilon=1e-06, model_type="t5", n_positions=512,
    num_decoder_layers=12, num_heads=12, num_layers=12, output_past=True, pad_token_id=0,
    relative_attention_max_distance=128, relative_attention_num_buckets=32, tie_word_embeddings=False,
    use_cache=True, vocab_size=32128)
SPECIAL_TOKENS = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                  "additional_special_tokens": [f"<extra_id_{i}>" for i in range(100)]}


@pytest.fixture(scope="module")
def pairs():
    return generate_pairs(DataConfig(n=10, seed=3, held_out=2))


@pytest.fixture(scope="module")
def flan_folder(tmp_path_factory, pairs):
    """``models/prompt_refiner/flan-t5-base`` as a download has it, with random weights and a local tokenizer."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    root = tmp_path_factory.mktemp("prompt_refiner")
    folder = root / "flan-t5-base"
    folder.mkdir()
    model_bytes = io.BytesIO()
    corpus = [p.vague for p in pairs.train] + [p.structured for p in pairs.train] * 3
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=model_bytes, vocab_size=300,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   character_coverage=1.0, num_threads=1, minloglevel=2)
    (folder / "spiece.model").write_bytes(model_bytes.getvalue())
    (folder / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "T5Tokenizer", "extra_ids": 100, "model_max_length": 512, **SPECIAL_TOKENS}))
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(**FLAN_T5_BASE))
    # Flan-T5's output projection is its own matrix (tie_word_embeddings false); transformers 5 builds T5 tied and
    # unties on load when the checkpoint's lm_head differs, as a real download's does.
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight) * 0.05)
    model.save_pretrained(folder, safe_serialization=True)
    del model
    assert not (folder / "tokenizer.json").exists()
    return folder


@pytest.fixture(scope="module")
def adapter(flan_folder, pairs):
    config = TrainConfig(epochs=1, batch_size=4, max_source_tokens=16, max_target_tokens=16, eval_limit=0)
    return train_adapter(flan_folder, pairs, flan_folder.parent / "flan-refiner", config)


def test_the_folder_loads_with_flan_t5_base_shape_and_the_sentencepiece_tokenizer(flan_folder):
    base = load_base(flan_folder)
    assert base.signature["d_model"] == 768 and base.signature["num_layers"] == 12
    assert base.signature["vocab_size"] == 32128 and base.signature["feed_forward_proj"] == "gated-gelu"
    assert 240e6 < sum(p.numel() for p in base.model.parameters()) < 260e6
    ids = base.tokenizer("Act as a planner. Task: plan a trip").input_ids
    assert ids[-1] == 1 and 2 not in ids[:-1]  # ends with </s>, every word known to the local tokenizer
    assert base.tokenizer.pad_token_id == 0 and len(base.tokenizer) == 400  # 300 pieces + 100 sentinels


def test_adapter_training_writes_an_adapter_for_this_base(adapter):
    assert (adapter.adapter_dir / "adapter_model.safetensors").is_file()
    meta = json.loads((adapter.adapter_dir / "adapter_config.json").read_text())
    assert meta["r"] == 16 and sorted(meta["target_modules"]) == ["q", "v"]


def test_refine_in_int8_on_the_cpu(flan_folder, adapter):
    from comfyui_lora_lab.engines.prompt_refiner.generation import DecodeSettings

    loaded = load_refiner(flan_folder, adapter.adapter_dir, "cpu", precision="int8")
    assert loaded.precision == "int8"
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in loaded.model.modules())
    result = loaded.refine("plan a trip", DecodeSettings(max_new_tokens=4))
    assert result.new_tokens in range(1, 5) and result.precision == "int8" and result.model == "flan-t5-base"


async def test_the_http_route_refines_with_this_folder(aiohttp_client, flan_folder, adapter, tmp_path):
    (tmp_path / "prompt_refiner.json").write_text(json.dumps(
        {"base": "flan-t5-base", "adapter": "flan-refiner", "precision": "int8", "max_new_tokens": 4}))
    services = Lab(data_dir=tmp_path, refiner_model_dirs=lambda: [flan_folder.parent])
    client = await aiohttp_client(build_app(services))
    response = await client.post("/prompt_refiner/refine", json={"prompt": "plan a trip to rome"})
    body = await response.json()
    assert response.status == 200, body
    assert (body["model"], body["adapter"]) == ("flan-t5-base", "flan-refiner")
    assert body["new_tokens"] in range(1, 5) and isinstance(body["refined"], str)
