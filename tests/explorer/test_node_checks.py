"""The parts of the explorer nodes that need no ComfyUI: input checks (the rest runs in tests/integration)."""

from __future__ import annotations

import pytest
import torch

from comfyui_lora_lab.engines.explorer import save_flow as save_drafts
from comfyui_lora_lab.nodes import checkpoint_explorer


@pytest.mark.parametrize("count,ok", [(0, False), (-3, False), (257, False), (True, False), (1, True), (None, True)])
def test_explorer_count_is_checked_at_queue_time(count, ok):
    result = checkpoint_explorer.validate_inputs(count=count)
    assert (result is True) == ok
    if not ok:
        assert "count must be from 1 to 256" in result


def test_explorer_mode_is_checked_and_reruns_every_queue():
    assert "mode must be one of" in checkpoint_explorer.validate_inputs(mode="sideways", count=2)
    value = checkpoint_explorer.fingerprint_inputs(tier="t")
    assert value != value  # NaN: ComfyUI never reuses a cached plan


def test_save_drafts_pairs_each_image_with_one_checkpoint():
    images = [torch.zeros(1, 8, 8, 3)] * 3
    assert save_drafts._checkpoints_for(["a", "b", "b"], images) == ["a", "b", "b"]
    assert save_drafts._checkpoints_for(["a"], images) == ["a", "a", "a"]
    with pytest.raises(ValueError, match="3 image list item"):
        save_drafts._checkpoints_for(["a", "b"], images)
    with pytest.raises(ValueError, match="checkpoint_name is empty"):
        save_drafts._checkpoints_for([""], images)


def test_save_drafts_wants_one_image_per_draft_and_single_settings():
    with pytest.raises(ValueError, match="batch_size to 1"):
        save_drafts._one_image_each([torch.zeros(1, 8, 8, 3), torch.zeros(2, 8, 8, 3)])
    with pytest.raises(ValueError, match="single value"):
        save_drafts._one(["a", "b"], "batch_id")
