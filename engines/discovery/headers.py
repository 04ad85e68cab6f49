"""What a library scan needs from a safetensors header, read fast and exactly bounded.

``engines.lora_format.read_header`` validates every tensor entry and ``inspect_file`` unflattens every
key name: right for loading, a few ms per file, too slow for 10,000 files on a cold start. A scan needs
much less: the ``__metadata__`` object, the family (declared, else from a handful of key names and one
cross-attention shape), the rank, and the tensor count. :func:`read_raw_header` reads exactly
``8 + header length`` bytes with ``os.pread`` (no read-ahead buffer, so the byte count is what the file
system was asked for) and :func:`header_facts` finds those facts with substring searches and one
``raw_decode`` of the metadata object, never parsing the tensor table as JSON. The family rules are the
foundation's (``lora_format.family``); tests check that both agree on every layout.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field

from ..lora_format import FamilyInfo, declared_family
from ..lora_format.layouts import OTHER_ADAPTER_MARKERS

SCAN_MAX_HEADER_BYTES = 16 * 1024 * 1024
"""Headers larger than this are not read by a scan (the file is indexed by name with a warning)."""

ADAPTER_PROBE_CHARS = 16 * 1024
_DECODER = json.JSONDecoder()
_METADATA_KEY = '"__metadata__"'
_SHAPE = r'"\s*:\s*\{[^{}]*?"shape"\s*:\s*\[\s*(\d+)\s*,\s*(\d+)'
_CROSS_ATTENTION_DOWN = re.compile(r'attn2[._]to_k\.(?:lora_down|lora_A)\.weight' + _SHAPE)
_TEXT_Q_DOWN = re.compile(r'self_attn[._]q_proj\.(?:lora_down|lora_A)\.weight' + _SHAPE)
_ANY_DOWN = re.compile(r'\.(?:lora_down|lora_A)\.weight' + _SHAPE)
_CONTEXT_WIDTH = {768: "sd15", 2048: "sdxl"}
# (substrings of key names, family) in the foundation's order: transformer markers, T5, CLIP-G.
_MARKERS = (("double_blocks", "flux"), ("single_blocks", "flux"), ("single_transformer_blocks", "flux"),
            ("joint_blocks", "sd3"), ("context_block", "sd3"))
_T5_KEYS = ('"lora_te1_encoder_block', '"lora_te2_encoder_block', '"lora_te3_encoder_block',
            '"text_encoder_2.encoder.block', '"text_encoder_3.encoder.block', '"text_encoders.t5xxl.')
_CLIP_G_KEYS = ('"lora_te2_text_model', '"lora_te3_text_model', '"text_encoder_2.text_model',
                '"text_encoder_3.text_model', '"text_encoders.clip_g.')
_UNET_KEYS = ('"lora_unet_', '"unet.', '"transformer.', '"diffusion_model.')


class HeaderReadError(Exception):
    """The file's header could not be read; ``reason`` says why in words a user can act on."""

    def __init__(self, reason: str, bytes_read: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.bytes_read = reason, bytes_read


@dataclass
class RawHeader:
    file_size: int
    header_size: int
    text: str
    bytes_read: int


@dataclass
class HeaderFacts:
    """The header facts the index keeps."""

    file_size: int
    header_size: int
    metadata: dict[str, str]
    family: FamilyInfo
    rank: int | None
    adapter: str
    bytes_read: int
    warnings: list[str] = field(default_factory=list)


def _pread_exact(fd: int, size: int, offset: int) -> bytes:
    parts, done = [], 0
    while done < size:
        chunk = os.pread(fd, size - done, offset + done)
        if not chunk:
            break
        parts.append(chunk)
        done += len(chunk)
    return b"".join(parts)


def read_raw_header(path: str | os.PathLike[str], max_header_bytes: int = SCAN_MAX_HEADER_BYTES) -> RawHeader:
    """Read 8 bytes, check the length against the file size and the cap, then read exactly the header."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise HeaderReadError("the file disappeared before it could be read") from None
    except OSError as exc:
        raise HeaderReadError(f"cannot open the file ({exc.strerror or exc})") from None
    try:
        file_size = os.fstat(fd).st_size
        prefix = _pread_exact(fd, 8, 0)
        if len(prefix) < 8:
            raise HeaderReadError(f"the file is {file_size} bytes, too short for a safetensors header", len(prefix))
        (header_size,) = struct.unpack("<Q", prefix)
        if header_size > file_size - 8:
            raise HeaderReadError(f"the header length {header_size:,} runs past the end of the file "
                                  f"({file_size:,} bytes): truncated or not a safetensors file", 8)
        if header_size > max_header_bytes:
            raise HeaderReadError(f"the header is {header_size:,} bytes, over the scan's {max_header_bytes:,}-byte "
                                  "limit; indexed by its name only", 8)
        raw = _pread_exact(fd, header_size, 8)
    except OSError as exc:
        raise HeaderReadError(f"read error ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(raw) != header_size:
        raise HeaderReadError(f"the header is {header_size:,} bytes but only {len(raw):,} could be read", 8 + len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HeaderReadError("the header is not UTF-8 JSON", 8 + len(raw)) from None
    end = len(text)
    while end and text[end - 1] in " \x00\n\r\t":  # safetensors pads with spaces; no copy of the text
        end -= 1
    if not (text.startswith("{") and end and text[end - 1] == "}"):
        raise HeaderReadError("the header is not a JSON object", 8 + len(raw))
    return RawHeader(file_size, header_size, text, 8 + len(raw))


def _metadata_span(text: str) -> tuple[dict, int, int]:
    """(the ``__metadata__`` object, its start, its end) without parsing the tensor table; ({}, 0, 0) if absent."""
    start = text.find(_METADATA_KEY)
    while start != -1:
        before = start - 1
        while before > 0 and text[before] in " \t\r\n":
            before -= 1
        after = start + len(_METADATA_KEY)
        rest = text[after:after + 64].lstrip()
        if before >= 0 and text[before] in "{," and rest.startswith(":"):
            value_start = text.index(":", after) + 1
            while text[value_start] in " \t\r\n":
                value_start += 1
            value, end = _DECODER.raw_decode(text, value_start)
            return value, start, end
        start = text.find(_METADATA_KEY, start + 1)
    return {}, 0, 0


def _metadata_strings(value: object, warnings: list[str]) -> dict[str, str]:
    if not isinstance(value, dict):
        warnings.append("__metadata__ is not a JSON object; ignored")
        return {}
    out = {}
    for key, item in value.items():
        if isinstance(item, str):
            out[str(key)] = item
        else:
            out[str(key)] = json.dumps(item)
            warnings.append(f"metadata '{key}' is a {type(item).__name__}, not a string")
    return out


def _width(pattern: re.Pattern, text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(2)) if match else None


def infer_family_from_keys(keys: str) -> FamilyInfo:
    """The foundation's ``infer_family`` rules applied to the raw tensor table text.

    The foundation's rules, in an order that costs fewer searches of the ~100-300 KB table (each about
    50 us): an SD cross-attention key (``attn2.to_k``, found near the start) with context width 768 or
    2048 settles the family at once. Only SD1.x/SDXL UNets have that key at those widths, so on every
    real layout this gives the foundation's answer (tests compare both on kohya, PEFT and ComfyUI files
    of every family); the transformer-marker and text-encoder searches run only for the rest.
    """
    width = _width(_CROSS_ATTENTION_DOWN, keys)
    if width in _CONTEXT_WIDTH:
        return FamilyInfo(_CONTEXT_WIDTH[width], "inferred", f"cross-attention to_k input width {width}")
    marker = _marker(keys)
    if marker:
        return FamilyInfo(marker[1], "inferred", f"UNet/transformer module names contain '{marker[0]}'")
    hint = _second_text_encoder_hint(keys)
    has_clip_g = hint and _has_any(keys, _CLIP_G_KEYS)
    if hint and _has_any(keys, _T5_KEYS):
        family = "sd3" if has_clip_g else "flux"
        return FamilyInfo(family, "inferred", "a T5 text-encoder LoRA" + (" beside CLIP-G" if has_clip_g else ""))
    if has_clip_g:
        return FamilyInfo("sdxl", "inferred", "a second CLIP (CLIP-G) text-encoder LoRA")
    if not _has_any(keys, _UNET_KEYS) and _width(_TEXT_Q_DOWN, keys) == 768:
        return FamilyInfo("sd15", "inferred", "only a CLIP-L (width 768) text-encoder LoRA")
    return FamilyInfo("unknown", "unknown", "no family-specific keys or shapes")


def _has_any(text: str, needles: tuple[str, ...]) -> bool:
    return any(needle in text for needle in needles)


def _marker(keys: str) -> tuple[str, str] | None:
    if "single_" not in keys and "double_blocks" not in keys and "joint_blocks" not in keys \
            and "context_block" not in keys:
        return None  # four searches instead of five misses for the common SD files
    return next(((marker, family) for marker, family in _MARKERS if marker in keys), None)


def _second_text_encoder_hint(keys: str) -> bool:
    """Cheap pre-check: could the file hold CLIP-G or T5 keys at all? (three searches instead of eleven)."""
    return '"lora_te2_' in keys or '"lora_te3_' in keys or '"text_encoder' in keys or "encoder_block" in keys


def _rank(metadata: dict[str, str], keys: str) -> int | None:
    try:
        rank = int(float(metadata.get("ss_network_dim", "")))
        if rank > 0:
            return rank
    except ValueError:
        pass
    match = _ANY_DOWN.search(keys)
    return int(match.group(1)) if match else None


def header_facts(raw: RawHeader) -> HeaderFacts:
    """Facts from a raw header; a malformed metadata object gives warnings, never an exception."""
    warnings: list[str] = []
    try:
        value, start, end = _metadata_span(raw.text)
    except (ValueError, IndexError) as exc:
        value, start, end = {}, 0, 0
        warnings.append(f"__metadata__ is not valid JSON ({exc}); ignored")
    metadata = _metadata_strings(value, warnings)
    keys = raw.text[:start] + raw.text[end:] if end else raw.text
    family = declared_family(metadata) or infer_family_from_keys(keys)
    head = keys[:ADAPTER_PROBE_CHARS]  # every module of a file has the same adapter type: the first keys tell
    adapter = next((kind for marker, kind in OTHER_ADAPTER_MARKERS.items() if marker in head), "lora")
    return HeaderFacts(raw.file_size, raw.header_size, metadata, family, _rank(metadata, keys), adapter,
                       raw.bytes_read, warnings)
