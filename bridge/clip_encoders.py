"""Reach the text transformer(s) and tokenizer(s) inside a ComfyUI CLIP object, as private engine copies.

A ComfyUI CLIP holds its encoders as attributes of ``clip.cond_stage_model`` (``clip_l``, ``clip_g``, ``t5xxl``), each
an ``SDClipModel`` whose ``.transformer`` state dict uses the transformers key names (``text_model.*`` for CLIP,
``shared`` / ``encoder.block.*`` for T5), and its tokenizers as attributes of ``clip.tokenizer`` with the same names
(each an ``SDTokenizer`` wrapping a transformers tokenizer). We ask ComfyUI to load the CLIP with its patches
applied (what ComfyUI's own CLIPSave does, so LoRAs applied earlier in the graph count), then copy the weights to
fp32 CPU tensors outside inference mode. Nothing of ComfyUI's model is modified by us.

What the diffusion model reads is taken from the CLIP object itself, not from the preset: the layer CLIP Set Last
Layer chose (``clip.layer_idx``, applied to each encoder as ComfyUI's ``SDClipModel.set_clip_options`` does, with
the encoder's own ``layer_norm_hidden_state``), the tokenizer's pad id and padded window, and the device ComfyUI
loads the text encoder on.
"""

from __future__ import annotations


def _activation_name(function, table: dict) -> str:
    for name, candidate in table.items():
        if candidate is function:
            return name
    raise ValueError(f"unknown activation function {function!r} in the text encoder")


def read_layer(clip, component: str) -> tuple[int, bool]:
    """(layer counted from the end, final norm applied) that ComfyUI's encode of this CLIP reads for ``component``.

    Mirrors ``SDClipModel``: with a CLIP Set Last Layer value, ``set_clip_options({"layer": idx})`` makes the layer
    ``"hidden"`` at ``idx`` (``"last"`` when ``|idx|`` exceeds the blocks); without one, the encoder's defaults.
    """
    model = getattr(clip.cond_stage_model, component)
    blocks = int(model.num_layers)
    normed = bool(getattr(model, "layer_norm_hidden_state", True))
    layer, index = getattr(model, "options_default", (model.layer, model.layer_idx, None))[:2]
    chosen = getattr(clip, "layer_idx", None)
    if chosen is not None:
        layer, index = ("last", None) if abs(chosen) > blocks else ("hidden", chosen)
    if layer == "last" or index is None:
        return -1, True
    if layer != "hidden":
        from ..engines.text_to_lora.config import ConfigError

        raise ConfigError(f"text encoder '{component}' reads layer {layer!r}; Text to LoRA supports one read layer")
    index = int(index)
    return (index - blocks if index >= 0 else index), normed


def window_of(clip, component: str) -> tuple[int | None, int]:
    """(pad id, padded length) of ComfyUI's tokenizer for ``component``: what the diffusion model reads."""
    tokenizer = getattr(clip.tokenizer, component)
    pad = getattr(tokenizer, "pad_token", None)
    if getattr(tokenizer, "pad_to_max_length", True):
        return pad, int(tokenizer.max_length)
    return pad, int(getattr(tokenizer, "min_length", None) or 0)


def encoder_device(clip) -> str | None:
    """The device ComfyUI loads this CLIP's text encoders on (``clip.patcher.load_device``)."""
    device = getattr(getattr(clip, "patcher", None), "load_device", None)
    return None if device is None else str(device)


def _clip_encoder(transformer, conditioning_layer: int, normed: bool):
    import comfy.clip_model

    from ..engines.text_to_lora.encoders import private_copy
    from ..engines.text_to_lora.encoders.clip import ClipEncoder

    first = transformer.text_model.encoder.layers[0]
    activation = _activation_name(first.mlp.activation, comfy.clip_model.ACTIVATIONS)
    weights = private_copy(transformer.state_dict())
    return ClipEncoder(weights, first.self_attn.heads, activation, conditioning_layer,
                       transformer.text_model.final_layer_norm.eps, layer_norm_hidden_state=normed)


def _t5_encoder(transformer):
    import comfy.text_encoders.t5 as t5

    from ..engines.text_to_lora.encoders import private_copy
    from ..engines.text_to_lora.encoders.t5 import T5Encoder

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

    from ..engines.text_to_lora.config import ConfigError
    from ..engines.text_to_lora.pipeline import EncoderBundle
    from ..engines.text_to_lora.tokenizer import wrap_tokenizer

    present = loaded_components(clip)
    missing = [e.component for e in config.encoders if e.component not in present]
    if missing:
        raise ConfigError(f"config '{config.name}' needs text encoder(s) {missing} but this CLIP has "
                          f"{present or 'none we can read'}; pick the preset of the loaded model")
    comfy.model_management.load_models_gpu([clip.load_model()], force_patch_weights=True)
    bundles = []
    for target in config.encoders:
        transformer = getattr(clip.cond_stage_model, target.component).transformer
        if target.kind == "t5":
            if read_layer(clip, target.component) != (-1, True):
                from ..engines.text_to_lora.config import ConfigError

                raise ConfigError(f"'{target.component}' is set to read a hidden layer (CLIP Set Last Layer); Text "
                                  "to LoRA reads T5 at its last layer only: remove the node before this one")
            encoder = _t5_encoder(transformer)
        else:
            encoder = _clip_encoder(transformer, *read_layer(clip, target.component))
        hf_tokenizer = getattr(clip.tokenizer, target.component).tokenizer
        tokenizer = wrap_tokenizer(hf_tokenizer, target.kind, target.mask_token)
        pad, length = window_of(clip, target.component)
        bundles.append(EncoderBundle(target.component, encoder, tokenizer, encoder_device(clip), pad, length))
    return bundles
