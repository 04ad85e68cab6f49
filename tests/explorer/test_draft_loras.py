"""Which LoRAs each draft is recorded with: upstream loaders plus LORA_STACK inputs (stackers, A/B arms)."""

import pytest

from comfyui_lora_lab.engines.explorer.draft_loras import draft_loras, stack_loras
from comfyui_lora_lab.engines.store.generations import LoraUse

UPSTREAM = (LoraUse("base.safetensors", 1.0),)


def test_one_stack_applies_to_every_draft_after_the_upstream_loaders():
    stack = [("brands/acme/style.safetensors", 0.8, 0.8), ("base.safetensors", 0.3, 0.3)]
    assert draft_loras(UPSTREAM, [stack], 2) == [
        (LoraUse("base.safetensors", 1.0), LoraUse("brands/acme/style.safetensors", 0.8))] * 2


def test_one_stack_per_draft_keeps_each_arms_weight():
    arms = [[("brands/acme/style.safetensors", 0.6, 0.6)], [("brands/acme/style.safetensors", 0.9, 0.9)]]
    assert [loras[0].strength for loras in draft_loras((), arms, 2)] == [0.6, 0.9]


def test_no_stack_means_upstream_only_and_mismatched_lists_are_refused():
    assert draft_loras(UPSTREAM, None, 3) == [UPSTREAM] * 3
    with pytest.raises(ValueError, match="2 LORA_STACK list items for 3 drafts"):
        draft_loras((), [[], []], 3)
    with pytest.raises(ValueError, match="name, model strength"):
        stack_loras([("x.safetensors",)])
