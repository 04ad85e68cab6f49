"""Each sidecar format read into one shape; bad sidecars are warnings, never failures."""

from __future__ import annotations

import json

import pytest

from comfyui_lora_lab.engines.discovery.sidecars import MAX_SIDECAR_BYTES, read_sidecars, sidecar_names

FILE = "style.safetensors"


def read(tmp_path, files: dict[str, object]):
    for name, content in files.items():
        data = content if isinstance(content, bytes) else json.dumps(content).encode()
        (tmp_path / name).write_bytes(data)
    return read_sidecars(str(tmp_path), FILE, set(files))


def test_sidecar_names_follow_each_tool():
    assert sidecar_names(FILE) == ["style.metadata.json", "style.civitai.info", "style.safetensors.rgthree-info.json",
                                   "style.json"]


def test_civitai_info(tmp_path):
    info = read(tmp_path, {"style.civitai.info": {
        "baseModel": "SDXL 1.0", "trainedWords": ["arcane style, 1girl", "vi"], "description": "<p>Fan &amp; art</p>",
        "model": {"name": "Arcane Style", "tags": ["style", "arcane"]},
        "images": [{"meta": {"prompt": "arcane style, portrait"}}, {"meta": None}, {}]}})
    assert info.names == ["Arcane Style"] and info.base_models == ["SDXL 1.0"]
    assert info.triggers == ["arcane style", "1girl", "vi"] and info.tags == ["style", "arcane"]
    assert info.examples == ["arcane style, portrait"] and info.descriptions == ["Fan & art"]
    assert info.sources == ["civitai"] and info.warnings == []


def test_lora_manager_metadata_with_usage_tips_and_exclude(tmp_path):
    info = read(tmp_path, {"style.metadata.json": {
        "model_name": "My Style", "base_model": "Pony", "tags": ["style"], "exclude": True,
        "usage_tips": json.dumps({"strength_min": 0.3, "strength_max": 0.7}),
        "civitai": {"trainedWords": ["mystyle"], "model": {"name": "My Style (civitai)"}}}})
    assert info.names == ["My Style", "My Style (civitai)"] and info.triggers == ["mystyle"]
    assert (info.strength.low, info.strength.high) == (0.3, 0.7) and info.excluded


def test_rgthree_info_separates_user_and_caption_words(tmp_path):
    info = read(tmp_path, {"style.safetensors.rgthree-info.json": {
        "name": "Style", "baseModel": "Flux.1 D", "strengthMin": 0.8, "strengthMax": 1.0, "userTags": ["ink"],
        "trainedWords": [{"word": "inkstyle", "civitai": True}, {"word": "1girl", "count": 30, "metadata": True},
                         {"word": "mine", "user": True, "count": 2}], "images": [{"positive": "inkstyle cat"}]}})
    assert info.triggers == ["inkstyle", "mine"] and info.weak_triggers == ["1girl"]
    assert info.tags == ["ink"] and info.examples == ["inkstyle cat"] and info.strength.high == 1.0


def test_a1111_user_metadata(tmp_path):
    info = read(tmp_path, {"style.json": {"activation text": "papercut, paper", "preferred weight": 0.7,
                                          "sd version": "SD1", "description": "paper craft", "notes": ""}})
    assert info.triggers == ["papercut", "paper"] and info.base_models == ["SD1"]
    assert info.strength.low == pytest.approx(0.6) and info.strength.high == pytest.approx(0.8)


def test_a_json_of_another_tool_is_ignored(tmp_path):
    info = read(tmp_path, {"style.json": {"learning_rate": 1e-4, "network_dim": 16}})
    assert info.triggers == [] and info.warnings == [] and info.sources == []


@pytest.mark.parametrize("content,warning", [
    (b"{not json", "not valid UTF-8 JSON"),
    (b"\xff\xfe\x00", "not valid UTF-8 JSON"),
    (b"[1, 2, 3]", "expected a JSON object"),
    (json.dumps({"trainedWords": "one, two", "model": "not a dict", "images": 5}).encode(), None),
    (json.dumps({"model": {"tags": [1, None, "ok"]}, "images": [{"meta": {"prompt": 7}}]}).encode(), None),
])
def test_bad_civitai_files_warn_or_degrade(tmp_path, content, warning):
    info = read(tmp_path, {"style.civitai.info": content})
    if warning:
        assert warning in info.warnings[0] and info.sources == []
    else:
        assert info.warnings == []


@pytest.mark.parametrize("tips,expected", [
    ('{"strength": 0.6}', (0.6, 0.6)),
    ('{"strength_min": 0.9, "strength_max": 0.5}', None),
    ('{"strength_min": "abc"}', None),
    ('{"strength_min": 1e308, "strength_max": 1e309}', None),
    ("not json", None),
])
def test_strength_hints_are_validated(tmp_path, tips, expected):
    info = read(tmp_path, {"style.metadata.json": {"usage_tips": tips}})
    assert (None if info.strength is None else (info.strength.low, info.strength.high)) == expected


def test_oversized_sidecar_is_skipped(tmp_path):
    info = read(tmp_path, {"style.civitai.info": b" " * (MAX_SIDECAR_BYTES + 1)})
    assert "larger than" in info.warnings[0]


def test_a_listed_sidecar_that_vanished_is_a_warning(tmp_path):
    info = read_sidecars(str(tmp_path), FILE, {"style.civitai.info"})
    assert "cannot read" in info.warnings[0]
