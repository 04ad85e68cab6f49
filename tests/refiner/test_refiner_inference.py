"""Refining with a loaded model: greedy is byte-identical, seeds are honoured, limits hold, the intent check reports."""

from __future__ import annotations

import time

import pytest
import torch

from comfyui_lora_lab.engines.prompt_refiner.errors import GenerationTimeout
from comfyui_lora_lab.engines.prompt_refiner.generation import DecodeSettings
from comfyui_lora_lab.engines.prompt_refiner.runtime import MAX_PROMPT_CHARS, check_device, check_prompt, load_refiner
from comfyui_lora_lab.engines.prompt_refiner.structure import sections_found


@pytest.fixture(scope="module")
def refiner(tiny_models):
    return load_refiner(tiny_models.base, tiny_models.adapter)


def test_greedy_is_byte_identical_across_calls_and_fresh_loads(refiner, tiny_models):
    settings = DecodeSettings(max_new_tokens=24)
    first = refiner.refine("create function", settings)
    assert refiner.refine("create function", settings).raw == first.raw
    assert load_refiner(tiny_models.base, tiny_models.adapter).refine("create function", settings).raw == first.raw
    assert first.sampled is False and first.seed is None


def test_sampling_repeats_for_a_seed_differs_across_seeds_and_leaves_global_rng_alone(refiner):
    state = torch.random.get_rng_state()
    texts = {seed: refiner.refine("plan trip to japan", DecodeSettings(max_new_tokens=24, sample=True, seed=seed)).raw
             for seed in (1, 2, 3)}
    again = refiner.refine("plan trip to japan", DecodeSettings(max_new_tokens=24, sample=True, seed=1)).raw
    assert again == texts[1]
    assert len(set(texts.values())) == 3
    assert torch.equal(torch.random.get_rng_state(), state)


def test_max_new_tokens_bounds_the_output_and_is_reported(refiner):
    result = refiner.refine("write a story about a brave cat", DecodeSettings(max_new_tokens=5))
    report = result.report()
    assert result.new_tokens <= 5 and report["max_new_tokens"] == 5
    assert report["truncated"] is (result.new_tokens == 5)


def test_intent_check_lists_prompt_words_missing_from_the_output(refiner):
    result = refiner.refine("draw a zebra quokka", DecodeSettings(max_new_tokens=6))
    intent = result.report()["intent"]
    assert intent["content_words"] == ["draw", "zebra", "quokka"]
    assert set(intent["missing"]) == {w for w in ("draw", "zebra", "quokka") if w not in result.raw.lower()}
    assert intent["recall"] == pytest.approx(1 - len(intent["missing"]) / 3)
    assert {"model", "adapter", "device", "ms", "new_tokens", "structured", "sections", "raw"} <= set(result.report())
    assert result.report()["sections"] == sections_found(result.raw)


def test_a_deadline_stops_generation_with_a_timeout(refiner):
    with pytest.raises(GenerationTimeout):
        refiner.refine("create function", DecodeSettings(max_new_tokens=24), deadline=time.monotonic() - 1)
    assert refiner.refine("create function", DecodeSettings(max_new_tokens=4)).new_tokens >= 1


@pytest.mark.parametrize("prompt,message", [
    ("", "prompt is empty"),
    ("   \n\t", "prompt is empty"),
    ("x" * (100 * 1024), f"at most {MAX_PROMPT_CHARS}"),
    ("bad \ud800 surrogate", "not valid UTF-8"),
    (None, "must be text"),
    (["create"], "must be text"),
])
def test_bad_prompts_are_refused_with_the_reason(refiner, prompt, message):
    with pytest.raises(ValueError, match=message):
        check_prompt(prompt)
    with pytest.raises(ValueError, match=message):
        refiner.refine(prompt, DecodeSettings(max_new_tokens=4))


def test_a_prompt_over_the_token_limit_is_refused(refiner):
    with pytest.raises(ValueError, match="tokens; the refiner takes at most"):
        refiner.refine("ab1 " * 490, DecodeSettings(max_new_tokens=4))


@pytest.mark.parametrize("kwargs", [dict(max_new_tokens=0), dict(max_new_tokens=5000), dict(seed=-1),
                                    dict(seed=2**64), dict(temperature=0), dict(top_p=0), dict(max_new_tokens=True)])
def test_decode_settings_validate(kwargs):
    with pytest.raises(ValueError):
        DecodeSettings(**kwargs)


def test_devices_are_checked():
    assert check_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="one of"):
        check_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available on this machine"):
            check_device("cuda")
