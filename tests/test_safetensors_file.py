"""Bounded header reads, pickle refusal and atomic writes of ``engines.lora_format.safetensors_file``."""

from __future__ import annotations

import json
import os
import struct
import tracemalloc

import pytest
import torch
from safetensors.torch import save_file

from comfyui_lora_lab.engines.lora_format import (
    HeaderError, LoraFileError, OutputExistsError, TruncatedFileError, UnsafeFileError, read_header, save_tensors,
)
from comfyui_lora_lab.engines.lora_format.safetensors_file import load_tensors, read_scalars


def write_raw(path, header: bytes, declared_len: int | None = None, data: bytes = b"") -> str:
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(header) if declared_len is None else declared_len) + header + data)
    return str(path)


def test_header_read_gives_shapes_metadata_and_reads_only_the_header(sd15_lora):
    header = read_header(sd15_lora)
    assert header.metadata == {"ss_output_name": "sd15 style"}
    assert header.tensors["lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"].shape == (4, 768)
    assert header.data_start + sum(i.end - i.start for i in header.tensors.values()) <= header.file_size
    name = "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha"
    assert read_scalars(header, [name]) == {name: 2.0}


def write_raw_bytes(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


BAD_FILES = [
    ("header past end", lambda d: write_raw(d / "a.safetensors", b"{}", declared_len=10_000), HeaderError, "past the end"),
    ("claims 200 MB", lambda d: write_raw(d / "b.safetensors", b"{}", declared_len=200 * 1024 * 1024), HeaderError, "limit"),
    ("not JSON", lambda d: write_raw(d / "c.safetensors", b"{not json!}"), HeaderError, "not valid JSON"),
    ("JSON list", lambda d: write_raw(d / "d.safetensors", b"[1, 2]"), HeaderError, "JSON object"),
    ("too short", lambda d: write_raw_bytes(d / "e.safetensors", b"\x01\x02"), TruncatedFileError, "too short"),
    ("non-string metadata", lambda d: write_raw(d / "f.safetensors", json.dumps({"__metadata__": {"x": 1}}).encode()),
     HeaderError, "expected a string"),
    ("tensor past end", lambda d: write_raw(d / "g.safetensors", json.dumps(
        {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode(), data=b"\0" * 8),
     TruncatedFileError, "truncated"),
    ("pickle .ckpt", lambda d: write_raw_bytes(d / "h.ckpt", b"\x80\x04"), UnsafeFileError, "pickle"),
    ("pickle .pt", lambda d: write_raw_bytes(d / "i.pt", b"\x80\x04"), UnsafeFileError, "arbitrary code"),
    ("pickle .bin", lambda d: write_raw_bytes(d / "j.bin", b"\x80\x04"), UnsafeFileError, "pickle"),
    ("missing", lambda d: str(d / "missing.safetensors"), LoraFileError, "not found"),
]


@pytest.mark.parametrize("make,error,words", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_bad_files_give_errors_naming_the_file_in_bounded_memory(tmp_path, make, error, words):
    path = make(tmp_path)
    tracemalloc.start()
    with pytest.raises(error) as info:
        read_header(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert os.path.basename(path) in str(info.value)
    assert words in str(info.value)
    assert peak < 1_000_000, f"reading a bad header allocated {peak} bytes"


def test_truncated_lora_is_reported_as_truncated(tmp_path, sd15_lora):
    data = sd15_lora.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(TruncatedFileError, match="truncated"):
        load_tensors(cut)


def test_save_is_atomic_and_never_overwrites_unless_asked(tmp_path):
    path = tmp_path / "out.safetensors"
    save_tensors(path, {"w": torch.ones(2)}, {"k": "v"})
    with pytest.raises(OutputExistsError, match="already exists"):
        save_tensors(path, {"w": torch.zeros(2)})
    assert load_tensors(path)[0]["w"].tolist() == [1.0, 1.0]
    save_tensors(path, {"w": torch.zeros(2)}, overwrite=True)
    assert load_tensors(path)[0]["w"].tolist() == [0.0, 0.0]
    assert sorted(os.listdir(tmp_path)) == ["out.safetensors"]


def test_failed_save_leaves_no_file(tmp_path):
    path = tmp_path / "broken.safetensors"
    with pytest.raises(LoraFileError, match="must be a string"):
        save_tensors(path, {"w": torch.ones(2)}, {"k": 3})
    with pytest.raises(Exception):
        save_tensors(path, {"w": "not a tensor"})
    assert os.listdir(tmp_path) == []


def test_pickle_output_names_are_refused(tmp_path):
    with pytest.raises(UnsafeFileError):
        save_tensors(tmp_path / "x.ckpt", {"w": torch.ones(1)})


def test_real_safetensors_files_round_trip(tmp_path):
    path = tmp_path / "lib.safetensors"
    save_file({"a": torch.arange(6, dtype=torch.float16).reshape(2, 3)}, str(path), metadata={"m": "1"})
    tensors, metadata = load_tensors(path)
    assert metadata == {"m": "1"} and tensors["a"].dtype == torch.float16
