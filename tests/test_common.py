"""engines/common: atomic writes that never leave half a file or replace one unasked, errors, prompt syntax."""

from __future__ import annotations

import json
import subprocess
import sys

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


CHURN = """
import sys
import torch
from comfyui_lora_lab.engines.common.process_memory import large_blocks_returned
from comfyui_lora_lab.engines.training.memory import resident_bytes

torch.ones(4 << 20)  # made and freed at once, 16 MiB: glibc's threshold rises, as after a host freed a model
if sys.argv[1] == "scoped":
    with large_blocks_returned():
        weights = [torch.ones(512 * 1024) for _ in range(150)]  # a model's worth of 2 MiB tensors
else:
    weights = [torch.ones(512 * 1024) for _ in range(150)]
held = resident_bytes()
del weights[::2]  # the host frees part of a run's leftovers later, with nothing trimming then
print((held - resident_bytes()) / 2**20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc are Linux's")
def test_what_a_run_allocated_goes_back_when_the_host_frees_it_later():
    def given_back_mb(mode: str) -> float:
        done = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return float(done.stdout.split()[-1])

    assert given_back_mb("scoped") > 120, "inside the scope each 2 MiB tensor has an mmap of its own"
    assert given_back_mb("unscoped") < 20, "outside it they are holes in the heap between tensors still alive"
