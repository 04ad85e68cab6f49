"""Shapes shared by the text-to-LoRA tests (importable: ``tests/`` is on the test path)."""

from __future__ import annotations

from comfyui_lora_lab.engines import tiny_models

TINY_CLIP = dict(tiny_models.TINY_CLIP_CONFIG, vocab_size=49408, bos_token_id=49406, eos_token_id=49407,
                 pad_token_id=49407)


def tiny_sd15_dict(hidden: int = 32, layers: int = 2) -> dict:
    """The sd15 preset cut down to the tiny CLIP's shapes."""
    from comfyui_lora_lab.engines.text_to_lora.config import load_config

    raw = load_config("sd15").to_json()
    raw["name"] = "tiny_sd15"
    raw["encoders"][0].update(hidden_size=hidden, num_layers=layers,
                              layer_dimensions={"self_attn.q_proj": [hidden, hidden],
                                                "self_attn.v_proj": [hidden, hidden]})
    return raw
