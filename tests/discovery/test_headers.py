"""The scan's fast header path: exact byte counts, the foundation's family on every layout, bad headers."""

from __future__ import annotations

import json
import struct

import pytest

from comfyui_lora_lab.bench.discovery_library import ARCHITECTURES, write_header_file
from comfyui_lora_lab.engines.discovery.headers import HeaderReadError, header_facts, read_raw_header
from comfyui_lora_lab.engines.lora_format import family_of, read_header

from discovery_fixtures import raw_file


def header_file(path, shapes: dict[str, list[int]], metadata: dict | None = None):
    """A valid sparse safetensors file with exactly these tensors."""
    document, offset = ({"__metadata__": metadata} if metadata else {}), 0
    for name, shape in shapes.items():
        size = 2
        for dim in shape:
            size *= dim
        document[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(document).encode()
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        handle.truncate(8 + len(raw) + offset)
    return path


def pair(stem: str, width_in: int, down=".lora_down.weight", up=".lora_up.weight") -> dict:
    return {stem + down: [4, width_in], stem + up: [320, 4]}


LAYOUTS = {
    "peft_sd15": {**pair("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k", 768, ".lora_A.weight", ".lora_B.weight"),
                  **pair("text_encoder.text_model.encoder.layers.0.self_attn.q_proj", 768, ".lora_A.weight", ".lora_B.weight")},
    "peft_sdxl": pair("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", 2048, ".lora_A.weight", ".lora_B.weight"),
    "comfy_sd15": pair("diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k", 768),
    "comfy_flux": pair("diffusion_model.double_blocks.0.img_attn.qkv", 3072),
    "comfy_clip_g": pair("text_encoders.clip_g.transformer.text_model.encoder.layers.0.self_attn.q_proj", 1280),
    "te_only_sd15": pair("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768),
    "t5_and_clip_g": {**pair("lora_te2_text_model_encoder_layers_0_self_attn_q_proj", 1280),
                      **pair("lora_te3_encoder_block_0_layer_0_SelfAttention_q", 4096)},
    "t5_only": {**pair("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768),
                **pair("lora_te2_encoder_block_0_layer_0_SelfAttention_q", 4096)},
    "loha": {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.hada_w1_a": [320, 4]},
    "not_a_lora": {"model.embed.weight": [10, 10]},
}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_family_matches_the_foundation_on_real_key_layouts(tmp_path, arch):
    path = tmp_path / "x.safetensors"
    length = write_header_file(path, arch, 8, {})
    facts = header_facts(read_raw_header(path))
    header = read_header(path)
    expected = family_of(header.metadata, header.shapes)
    assert (facts.family.family, facts.family.source) == (expected.family, expected.source)
    assert facts.family.family == ARCHITECTURES[arch][0]
    assert facts.bytes_read == 8 + length == 8 + header.header_size
    assert facts.rank == 8


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_family_matches_the_foundation_on_other_layouts(tmp_path, name):
    path = header_file(tmp_path / "x.safetensors", LAYOUTS[name])
    header = read_header(path)
    fast, slow = header_facts(read_raw_header(path)).family, family_of(header.metadata, header.shapes)
    assert (fast.family, fast.source) == (slow.family, slow.source)


def test_declared_family_and_metadata_come_first(tmp_path):
    path = header_file(tmp_path / "x.safetensors", LAYOUTS["peft_sd15"],
                       {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_dim": "32", "note": "x"})
    facts = header_facts(read_raw_header(path))
    assert (facts.family.family, facts.family.source, facts.rank) == ("sdxl", "declared", 32)
    assert facts.metadata["note"] == "x" and facts.warnings == []


def test_metadata_after_the_tensors_and_odd_values_are_read_with_warnings(tmp_path):
    body = ('{"a.lora_down.weight": {"dtype": "F16", "shape": [1, 1], "data_offsets": [0, 2]}, '
            '"__metadata__": {"title": "x \\"__metadata__\\" y", "epochs": 10}}').encode()
    facts = header_facts(read_raw_header(raw_file(tmp_path / "x.safetensors", body, b"\0\0")))
    assert facts.metadata == {"title": 'x "__metadata__" y', "epochs": "10"}
    assert any("epochs" in w for w in facts.warnings)


@pytest.mark.parametrize("header,data,declared,reason", [
    (b"", b"", None, "too short"),
    (b"{}", b"", 10_000, "runs past the end"),
    (b"\xff\xfe{}", b"", None, "not UTF-8"),
    (b"[1, 2]", b"", None, "not a JSON object"),
])
def test_bad_headers_give_a_reason(tmp_path, header, data, declared, reason):
    path = raw_file(tmp_path / "x.safetensors", header, data, declared)
    if reason == "too short":
        path.write_bytes(b"\x01\x02")
    with pytest.raises(HeaderReadError, match=reason) as caught:
        read_raw_header(path)
    assert caught.value.bytes_read <= 8 + len(header)


def test_enormous_header_is_not_read(tmp_path):
    path = raw_file(tmp_path / "x.safetensors", b"{}" + b" " * 2000)
    with pytest.raises(HeaderReadError, match="over the scan's 1,000-byte limit") as caught:
        read_raw_header(path, max_header_bytes=1000)
    assert caught.value.bytes_read == 8


def test_broken_metadata_json_is_a_warning(tmp_path):
    facts = header_facts(read_raw_header(raw_file(tmp_path / "x.safetensors", b'{"__metadata__": {"a": }')))
    assert facts.metadata == {} and "not valid JSON" in facts.warnings[0]


def test_missing_file_is_a_reason(tmp_path):
    with pytest.raises(HeaderReadError, match="disappeared"):
        read_raw_header(tmp_path / "gone.safetensors")
