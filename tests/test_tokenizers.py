"""The bundled CLIP tokenizer gives Stable Diffusion's token ids, offline."""

import pytest

from comfyui_lora_lab.engines.tokenizers import clip_tokenizer


@pytest.mark.parametrize("text,ids", [
    ("a photo of a cat", [49406, 320, 1125, 539, 320, 2368, 49407]),
    ("(masterpiece:1.2), a RED fox, 4k",
     [49406, 263, 12066, 281, 272, 269, 273, 2361, 320, 736, 3240, 267, 275, 330, 49407]),
])
def test_known_sd_token_ids(text, ids):
    assert clip_tokenizer()(text).input_ids == ids


def test_vocabulary_size_and_window():
    tokenizer = clip_tokenizer()
    assert len(tokenizer) == 49408 and tokenizer.model_max_length == 77
    padded = tokenizer("cat", padding="max_length", max_length=77).input_ids
    assert len(padded) == 77 and padded[-1] == 49407
