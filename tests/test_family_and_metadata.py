"""Base family (declared or inferred from header shapes), metadata writing, and header-only summaries."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import torch
from safetensors.torch import save_file

from comfyui_lora_lab.engines.lora_format import (
    LoraDescription, build_metadata, compatibility_warning, family_of, infer_family, inspect_file, parse_lora,
    read_header, save_lora,
)

from lora_fixtures import kohya_sd15_tensors


def shapes(tensors):
    return {k: tuple(v.shape) for k, v in tensors.items()}


def pair(stem: str, rows: int, cols: int, rank: int = 2) -> dict[str, tuple[int, ...]]:
    return {f"{stem}.lora_down.weight": (rank, cols), f"{stem}.lora_up.weight": (rows, rank)}


INFERRED = [
    ("sd15 cross-attention 768", shapes(kohya_sd15_tensors()), "sd15"),
    ("sdxl cross-attention 2048", pair("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", 640, 2048), "sdxl"),
    ("sdxl second CLIP", {**pair("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768, 768),
                          **pair("lora_te2_text_model_encoder_layers_0_self_attn_q_proj", 1280, 1280)}, "sdxl"),
    ("flux double blocks", pair("lora_unet_double_blocks_0_img_attn_qkv", 9216, 3072), "flux"),
    ("flux diffusers", {"transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight": (2, 3072),
                        "transformer.single_transformer_blocks.0.attn.to_q.lora_B.weight": (3072, 2)}, "flux"),
    ("sd3 joint blocks", pair("lora_unet_joint_blocks_0_x_block_attn_qkv", 4608, 1536), "sd3"),
    ("T5 alone means flux", pair("lora_te2_encoder_block_0_layer_0_SelfAttention_q", 4096, 4096), "flux"),
    ("CLIP-L only", pair("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768), "sd15"),
    ("not a LoRA", {"model.weight": (3, 3)}, "unknown"),
]


@pytest.mark.parametrize("keys,family", [c[1:] for c in INFERRED], ids=[c[0] for c in INFERRED])
def test_family_is_inferred_from_names_and_shapes(keys, family):
    assert infer_family(keys).family == family


@pytest.mark.parametrize("metadata,family", [
    ({"modelspec.architecture": "stable-diffusion-xl-v1-base/lora"}, "sdxl"),
    ({"modelspec.architecture": "flux-1-dev/lora"}, "flux"),
    ({"ss_base_model_version": "sd_v1"}, "sd15"),
    ({"ss_base_model_version": "sdxl_base_v1-0"}, "sdxl"),
    ({"ss_base_model_version": "sd3"}, "sd3"),
])
def test_declared_family_wins_over_shapes(metadata, family):
    info = family_of(metadata, shapes(kohya_sd15_tensors()))
    assert (info.family, info.source) == (family, "declared")


def test_compatibility_warning_names_both_families():
    info = infer_family(shapes(kohya_sd15_tensors()))
    assert compatibility_warning(info, "sd15") is None
    assert compatibility_warning(info, "unknown") is None
    warning = compatibility_warning(info, "sdxl")
    assert "sd15" in warning and "sdxl" in warning


def test_written_metadata_is_complete_strings_with_a_tensor_hash(tmp_path):
    weights = parse_lora(kohya_sd15_tensors())
    description = LoraDescription("Neon Style", "sd15", rank=4, alpha=2.0, trigger_phrase="neonstyle, glow",
                                  lab={"prompt": "neon city", "steps": 50})
    path = save_lora(tmp_path / "neon.safetensors", weights, description)
    header = read_header(path)
    meta = header.metadata
    assert all(isinstance(v, str) for v in meta.values())
    for key in ("ss_network_module", "ss_network_dim", "ss_network_alpha", "ss_base_model_version", "ss_output_name",
                "modelspec.sai_model_spec", "modelspec.architecture", "modelspec.implementation", "modelspec.title",
                "modelspec.date", "modelspec.trigger_phrase", "modelspec.hash_sha256", "lora_lab.version"):
        assert key in meta, key
    assert meta["ss_network_dim"] == "4" and meta["ss_base_model_version"] == "sd_v1"
    assert meta["lora_lab.steps"] == "50"
    data = path.read_bytes()[header.data_start:]
    assert meta["modelspec.hash_sha256"] == "0x" + hashlib.sha256(data).hexdigest()


def test_build_metadata_is_deterministic_given_a_time():
    info = LoraDescription("t", "sdxl", 8, 8.0)
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert build_metadata(info, now=stamp) == build_metadata(info, now=stamp)
    assert build_metadata(info, now=stamp)["modelspec.architecture"] == "stable-diffusion-xl-v1-base/lora"


def test_summary_reads_rank_alpha_family_and_triggers_from_the_header(tmp_path):
    path = tmp_path / "neon.safetensors"
    save_file(kohya_sd15_tensors(rank=8, alpha=4.0), str(path), metadata={
        "modelspec.trigger_phrase": "neonstyle", "ss_tag_frequency": '{"1_neon": {"neonstyle": 9, "city": 4}}'})
    summary = inspect_file(path)
    assert (summary.layout, summary.family, summary.family_source) == ("kohya", "sd15", "inferred")
    assert (summary.rank, summary.alpha) == (8, 4.0)
    assert summary.modules == {"clip_l": 4, "unet": 2}
    assert summary.trigger_words == ["neonstyle"] and summary.tag_hints[0] == "neonstyle"


def test_summary_of_a_file_that_is_not_a_lora(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"model.weight": torch.zeros(2, 2)}, str(path))
    summary = inspect_file(path)
    assert (summary.layout, summary.family, summary.unparsed_keys) == ("unknown", "unknown", 1)
