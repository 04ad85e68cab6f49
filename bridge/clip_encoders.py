"""Reach the text transformer(s) and tokenizer(s) inside a ComfyUI CLIP object, as private engine copies.

A ComfyUI CLIP holds its encoders as attributes of ``clip.cond_stage_model`` (``clip_l``, ``clip_g``, ``t5xxl``), each
an ``SDClipModel`` whose ``.transformer`` state dict uses the transformers key names (``text_model.*`` for CLIP,
``shared`` / ``encoder.block.*`` for T5), and its tokenizers as attributes of ``clip.tokenizer`` with the same names
(each an ``SDTokenizer`` wrapping a transformers tokenizer). We ask ComfyUI to load the CLIP with its patches
applied (what ComfyUI's own CLIPSave does, so LoRAs applied earlier in the graph count), then copy the weights to
fp32 CPU tensors outside inference mode. Nothing of ComfyUI's model is modified by us.
"""

from __future__ import annotations


def _activation_name(function, table: dict) -> str:
    for name, candidate in table.items():
        if candidate is function:
            return name
    raise ValueError(f"unknown activation function {function!r} in the text encoder")


def _clip_encoder(transformer, conditioning_layer: int):
    import comfy.clip_model

    from ..engines.t2l.encoders import private_copy
    from ..engines.t2l.encoders.clip import ClipEncoder

    first = transformer.text_model.encoder.layers[0]
    activation = _activation_name(first.mlp.activation, comfy.clip_model.ACTIVATIONS)
    weights = private_copy(transformer.state_dict())
    return ClipEncoder(weights, first.self_attn.heads, activation, conditioning_layer,
                       transformer.text_model.final_layer_norm.eps)


def _t5_encoder(transformer):
    import comfy.text_encoders.t5 as t5

    from ..engines.t2l.encoders import private_copy
    from ..engines.t2l.encoders.t5 import T5Encoder

    block = transformer.encoder.block[0]
    attention = block.layer[0].SelfAttention
    activation = _activation_name(block.layer[1].DenseReluDense.act, t5.activations)
    weights = private_copy(transformer.state_dict())
    return T5Encoder(weights, attention.num_heads, activation, attention.relative_attention_num_buckets,
                     attention.relative_attention_max_distance)


def loaded_components(clip) -> list[str]:
    """The encoder names this CLIP object has (clip_l, clip_g, t5xxl, ...)."""
    model = getattr(clip, "cond_stage_model", None)
    return [name for name in ("clip_l", "clip_g", "t5xxl") if getattr(model, name, None) is not None]


def encoder_bundles(clip, config) -> list:
    """One :class:`EncoderBundle` per encoder the config names; ConfigError if the CLIP lacks one."""
    import comfy.model_management

    from ..engines.t2l.config import ConfigError
    from ..engines.t2l.pipeline import EncoderBundle
    from ..engines.t2l.tokenizer import wrap_tokenizer

    present = loaded_components(clip)
    missing = [e.component for e in config.encoders if e.component not in present]
    if missing:
        raise ConfigError(f"config '{config.name}' needs text encoder(s) {missing} but this CLIP has "
                          f"{present or 'none we can read'}; pick the preset of the loaded model")
    comfy.model_management.load_models_gpu([clip.load_model()], force_patch_weights=True)
    bundles = []
    for target in config.encoders:
        transformer = getattr(clip.cond_stage_model, target.component).transformer
        encoder = _t5_encoder(transformer) if target.kind == "t5" else _clip_encoder(transformer,
                                                                                      target.conditioning_layer)
        hf_tokenizer = getattr(clip.tokenizer, target.component).tokenizer
        tokenizer = wrap_tokenizer(hf_tokenizer, target.kind, target.mask_token)
        bundles.append(EncoderBundle(target.component, encoder, tokenizer))
    return bundles
