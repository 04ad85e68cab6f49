"""engines/common: atomic writes that never leave half a file or replace one unasked, errors, prompt syntax."""

from __future__ import annotations

import json

import pytest

from comfyui_lora_lab.engines.common import LORA_TAG, ConfigError, atomic_target, write_json_atomic, write_text_atomic


def test_json_is_written_whole_and_replaces_only_when_allowed(tmp_path):
    path = tmp_path / "sub" / "state.json"
    write_json_atomic(path, {"b": 1, "a": "é"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"b": 1, "a": "é"}
    write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text(encoding="utf-8")) == {"v": 2}
    with pytest.raises(FileExistsError, match="already exists"):
        write_text_atomic(path, "mine", overwrite=False)
    assert json.loads(path.read_text(encoding="utf-8")) == {"v": 2}
    assert [p.name for p in path.parent.iterdir()] == ["state.json"], "no temp file is left behind"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_target(path) as temp:
            temp.write_text("half", encoding="utf-8")
            raise RuntimeError("disk full")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_file_that_appears_during_the_write_is_not_replaced(tmp_path):
    path = tmp_path / "race.txt"
    with pytest.raises(FileExistsError):
        with atomic_target(path, overwrite=False) as temp:
            temp.write_text("ours", encoding="utf-8")
            path.write_text("theirs", encoding="utf-8")
    assert path.read_text(encoding="utf-8") == "theirs"


def test_config_error_names_the_field_the_rule_and_the_value():
    error = ConfigError(field="rank", rule="a whole number from 1 to 256", value=0)
    assert str(error) == "rank must be a whole number from 1 to 256, got 0"
    assert (error.field, error.rule, error.value) == ("rank", "a whole number from 1 to 256", 0)
    assert isinstance(ConfigError("LORA_CACHE_MAX_SIZE='x' is not a number"), ValueError)


@pytest.mark.parametrize("text,groups", [
    ("<lora:ghibli>", ("lora", "ghibli", None, None)),
    ("a castle < LoRA : my style : 0.7 : 0.4 >", ("LoRA", "my style", "0.7", "0.4")),
    ("<lyco:paper:1:0.5:MIDD>", ("lyco", "paper", "1", "0.5")),
])
def test_lora_tags_are_read_the_same_everywhere(text, groups):
    assert LORA_TAG.search(text).groups() == groups
