"""Module-path arithmetic: kohya's flattened names, and SD UNet native <-> diffusers paths.

kohya writes ``text_model.encoder.layers.0.self_attn.q_proj`` as ``text_model_encoder_layers_0_self_attn_q_proj``,
which loses the dots. We restore them with a table of identifiers that themselves contain underscores
(``self_attn``, ``q_proj``, ``down_blocks``...), longest match first: the same idea diffusers uses,
but kept as data so a new architecture is a new table row, not new code.

SD1.5 and SDXL UNets have two naming schemes: the original (LDM/SGM, "native", what ComfyUI calls
``diffusion_model.*`` and what kohya writes for SDXL) and diffusers' (what kohya writes for SD1.5 and
what PEFT uses). :func:`native_to_diffusers` and :func:`diffusers_to_native` map block paths between
them from the block layout of each family.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMPOUND_IDENTIFIERS = frozenset({
    # CLIP text encoders (transformers naming, also ComfyUI's clip_l/clip_g .transformer.*)
    "text_model", "self_attn", "q_proj", "k_proj", "v_proj", "out_proj", "layer_norm1", "layer_norm2",
    "final_layer_norm", "token_embedding", "position_embedding", "text_projection",
    # T5 encoders
    "relative_attention_bias", "wi_0", "wi_1", "layer_norm",
    # UNet, diffusers naming
    "down_blocks", "up_blocks", "mid_block", "transformer_blocks", "to_q", "to_k", "to_v", "to_out",
    "proj_in", "proj_out", "time_emb_proj", "conv_shortcut", "conv_in", "conv_out", "conv_norm_out",
    "time_embedding", "linear_1", "linear_2", "add_embedding", "add_k_proj", "add_q_proj", "add_v_proj",
    "to_add_out", "norm_out", "single_transformer_blocks", "proj_mlp", "context_embedder", "x_embedder",
    # UNet, LDM/SGM naming
    "input_blocks", "middle_block", "output_blocks", "in_layers", "out_layers", "emb_layers",
    "skip_connection", "time_embed", "label_emb",
    # Flux (BFL) and SD3 (MMDiT) native naming
    "double_blocks", "single_blocks", "img_attn", "txt_attn", "img_mlp", "txt_mlp", "img_mod", "txt_mod",
    "final_layer", "adaLN_modulation", "time_in", "vector_in", "guidance_in", "txt_in", "img_in",
    "in_layer", "out_layer", "query_norm", "key_norm", "joint_blocks", "context_block", "x_block",
    "t_embedder", "y_embedder", "pos_embed",
})
_MAX_COMPOUND_PARTS = max(name.count("_") + 1 for name in COMPOUND_IDENTIFIERS)


def flatten(path: str) -> str:
    """``a.b_c.0`` -> ``a_b_c_0`` (kohya's module-name spelling)."""
    return path.replace(".", "_")


def unflatten(flat: str) -> str:
    """Restore dots in a kohya module name, keeping known identifiers that contain underscores whole."""
    parts = flat.split("_")
    out: list[str] = []
    index = 0
    while index < len(parts):
        for width in range(min(_MAX_COMPOUND_PARTS, len(parts) - index), 0, -1):
            candidate = "_".join(parts[index:index + width])
            if width == 1 or candidate in COMPOUND_IDENTIFIERS:
                out.append(candidate)
                index += width
                break
    return ".".join(out)


@dataclass(frozen=True)
class UNetBlocks:
    """Block layout of an SD-style UNet: number of levels and which levels have attention."""

    levels: int
    attention_levels: frozenset[int]
    layers_per_block: int = 2


UNET_BLOCKS = {
    "sd15": UNetBlocks(levels=4, attention_levels=frozenset({0, 1, 2})),
    "sdxl": UNetBlocks(levels=3, attention_levels=frozenset({1, 2})),
}

_RESNET_INNER = {
    "in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut",
}
_TOP_LEVEL = {
    "input_blocks.0.0": "conv_in", "time_embed.0": "time_embedding.linear_1",
    "time_embed.2": "time_embedding.linear_2", "out.0": "conv_norm_out", "out.2": "conv_out",
    "label_emb.0.0": "add_embedding.linear_1", "label_emb.0.2": "add_embedding.linear_2",
}


def _block_prefix_pairs(blocks: UNetBlocks) -> list[tuple[str, str, str]]:
    """(native prefix, diffusers prefix, kind) for every block; kind is resnet/attention/sampler."""
    pairs: list[tuple[str, str, str]] = []
    per = blocks.layers_per_block
    for level in range(blocks.levels):
        for j in range(per):
            native = f"input_blocks.{level * (per + 1) + j + 1}"
            pairs.append((f"{native}.0", f"down_blocks.{level}.resnets.{j}", "resnet"))
            if level in blocks.attention_levels:
                pairs.append((f"{native}.1", f"down_blocks.{level}.attentions.{j}", "attention"))
        if level < blocks.levels - 1:
            pairs.append((f"input_blocks.{(level + 1) * (per + 1)}.0.op", f"down_blocks.{level}.downsamplers.0.conv", "sampler"))
    pairs += [("middle_block.0", "mid_block.resnets.0", "resnet"),
              ("middle_block.1", "mid_block.attentions.0", "attention"),
              ("middle_block.2", "mid_block.resnets.1", "resnet")]
    for up in range(blocks.levels):
        level = blocks.levels - 1 - up
        has_attention = level in blocks.attention_levels
        for j in range(per + 1):
            native = f"output_blocks.{up * (per + 1) + j}"
            pairs.append((f"{native}.0", f"up_blocks.{up}.resnets.{j}", "resnet"))
            if has_attention:
                pairs.append((f"{native}.1", f"up_blocks.{up}.attentions.{j}", "attention"))
        if up < blocks.levels - 1:
            sampler_index = 2 if has_attention else 1
            native = f"output_blocks.{up * (per + 1) + per}.{sampler_index}.conv"
            pairs.append((native, f"up_blocks.{up}.upsamplers.0.conv", "sampler"))
    return pairs


def _translate(path: str, pairs: list[tuple[str, str, str]], inner: dict[str, str]) -> str | None:
    for source, target, kind in pairs:
        if path == source or path.startswith(source + "."):
            rest = path[len(source):].lstrip(".")
            if kind == "resnet" and rest:
                rest = _replace_prefix(rest, inner)
            return f"{target}.{rest}" if rest else target
    return None


def _replace_prefix(path: str, table: dict[str, str]) -> str:
    for source, target in table.items():
        if path == source or path.startswith(source + "."):
            return target + path[len(source):]
    return path


def native_to_diffusers(path: str, family: str) -> str | None:
    """``input_blocks.1.1.proj_in`` -> ``down_blocks.0.attentions.0.proj_in`` (None if not a UNet path)."""
    blocks = UNET_BLOCKS.get(family)
    if blocks is None:
        return None
    top = _replace_prefix(path, _TOP_LEVEL)
    if top != path:
        return top
    return _translate(path, [(n, d, k) for n, d, k in _block_prefix_pairs(blocks)], _RESNET_INNER)


def diffusers_to_native(path: str, family: str) -> str | None:
    """The inverse of :func:`native_to_diffusers`."""
    blocks = UNET_BLOCKS.get(family)
    if blocks is None:
        return None
    inverse_top = {d: n for n, d in _TOP_LEVEL.items()}
    top = _replace_prefix(path, inverse_top)
    if top != path:
        return top
    inverse_inner = {d: n for n, d in _RESNET_INNER.items()}
    pairs = [(d, n, k) for n, d, k in _block_prefix_pairs(blocks)]
    return _translate(path, pairs, inverse_inner)


_DIFFUSERS_UNET_START = re.compile(r"^(down_blocks|up_blocks|mid_block|conv_in|conv_out|conv_norm_out|time_embedding|add_embedding)\b")


def is_diffusers_unet_path(path: str) -> bool:
    """True for SD UNet paths in diffusers naming (``down_blocks.0...``)."""
    return bool(_DIFFUSERS_UNET_START.match(path))
