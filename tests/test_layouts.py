"""Key layouts as data: detection, parsing, rendering and conversion between kohya, PEFT and ComfyUI."""

from __future__ import annotations

import pytest
import torch

from comfyui_lora_lab.engines.lora_format import LayoutError, detect_layout, parse_lora, render
from comfyui_lora_lab.engines.lora_format.layouts import CLIP_G, CLIP_L, T5XXL, UNET, ModuleKey
from comfyui_lora_lab.engines.lora_format.module_names import diffusers_to_native, native_to_diffusers, unflatten

from lora_fixtures import kohya_sd15_tensors

UNFLATTEN = [
    ("text_model_encoder_layers_11_self_attn_out_proj", "text_model.encoder.layers.11.self_attn.out_proj"),
    ("text_model_encoder_layers_0_mlp_fc1", "text_model.encoder.layers.0.mlp.fc1"),
    ("down_blocks_1_attentions_0_transformer_blocks_0_ff_net_0_proj",
     "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj"),
    ("up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_out_0",
     "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_out.0"),
    ("input_blocks_4_1_transformer_blocks_1_attn1_to_k", "input_blocks.4.1.transformer_blocks.1.attn1.to_k"),
    ("middle_block_1_proj_in", "middle_block.1.proj_in"),
    ("encoder_block_3_layer_1_DenseReluDense_wi_1", "encoder.block.3.layer.1.DenseReluDense.wi_1"),
    ("double_blocks_0_img_attn_qkv", "double_blocks.0.img_attn.qkv"),
    ("single_blocks_7_linear1", "single_blocks.7.linear1"),
    ("joint_blocks_2_context_block_mlp_fc2", "joint_blocks.2.context_block.mlp.fc2"),
]


@pytest.mark.parametrize("flat,dotted", UNFLATTEN)
def test_kohya_names_unflatten(flat, dotted):
    assert unflatten(flat) == dotted


UNET_PAIRS = [  # (family, native/LDM path, diffusers path), checked against ComfyUI's unet_to_diffusers table
    ("sd15", "input_blocks.1.1.transformer_blocks.0.attn1.to_q", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"),
    ("sd15", "input_blocks.3.0.op", "down_blocks.0.downsamplers.0.conv"),
    ("sd15", "input_blocks.11.0.out_layers.3", "down_blocks.3.resnets.1.conv2"),
    ("sd15", "middle_block.1.proj_out", "mid_block.attentions.0.proj_out"),
    ("sd15", "output_blocks.2.1.conv", "up_blocks.0.upsamplers.0.conv"),
    ("sd15", "output_blocks.5.2.conv", "up_blocks.1.upsamplers.0.conv"),
    ("sd15", "output_blocks.11.1.proj_in", "up_blocks.3.attentions.2.proj_in"),
    ("sd15", "time_embed.2", "time_embedding.linear_2"),
    ("sdxl", "input_blocks.4.1.transformer_blocks.1.attn2.to_k", "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k"),
    ("sdxl", "output_blocks.2.2.conv", "up_blocks.0.upsamplers.0.conv"),
    ("sdxl", "output_blocks.8.0.skip_connection", "up_blocks.2.resnets.2.conv_shortcut"),
    ("sdxl", "label_emb.0.0", "add_embedding.linear_1"),
]


@pytest.mark.parametrize("family,native,diffusers", UNET_PAIRS)
def test_unet_native_and_diffusers_names_map_both_ways(family, native, diffusers):
    assert native_to_diffusers(native, family) == diffusers
    assert diffusers_to_native(diffusers, family) == native


def _keys(layout: str) -> list[str]:
    return {
        "kohya": ["lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
                  "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight",
                  "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha"],
        "peft": ["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight",
                 "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight"],
        "comfy": ["text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.lora_up.weight",
                  "text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.lora_down.weight"],
    }[layout]


@pytest.mark.parametrize("layout", ["kohya", "peft", "comfy"])
def test_layout_is_detected(layout):
    assert detect_layout(_keys(layout)) == layout


def test_unknown_and_other_adapters_are_named():
    with pytest.raises(LayoutError, match="loha"):
        detect_layout(["lora_unet_x.hada_w1_a", "lora_unet_x.hada_w1_b"])
    with pytest.raises(LayoutError, match="no known LoRA key layout"):
        detect_layout(["model.weight"])


def test_kohya_text_encoder_slots_resolve_to_encoders():
    tensors = {}
    for prefix, path in (("lora_te1_", "text_model_encoder_layers_0_self_attn_q_proj"),
                         ("lora_te2_", "text_model_encoder_layers_0_self_attn_q_proj"),
                         ("lora_te3_", "encoder_block_0_layer_0_SelfAttention_q")):
        tensors[f"{prefix}{path}.lora_down.weight"] = torch.zeros(2, 4)
        tensors[f"{prefix}{path}.lora_up.weight"] = torch.zeros(4, 2)
    components = {module.component for module in parse_lora(tensors).modules}
    assert components == {CLIP_L, CLIP_G, T5XXL}


def _diffusers_key(module: ModuleKey) -> tuple[str, str]:
    if module.component == UNET and module.scheme == "native":
        return module.component, native_to_diffusers(module.path, "sd15")
    return module.component, module.path


@pytest.mark.parametrize("target", ["kohya", "peft", "comfy"])
def test_conversion_preserves_every_delta_weight(target):
    source = parse_lora(kohya_sd15_tensors())
    converted = parse_lora(render(source, target, "sd15"))
    assert converted.layout == target
    back = parse_lora(render(converted, "kohya", "sd15"))
    before = {_diffusers_key(m): (l.up @ l.down) * l.scale for m, l in source.modules.items()}
    after = {_diffusers_key(m): (l.up @ l.down) * l.scale for m, l in back.modules.items()}
    assert before.keys() == after.keys()
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=1e-6, atol=1e-6)


def test_comfy_layout_uses_native_unet_names_and_always_writes_alpha():
    out = render(parse_lora(kohya_sd15_tensors()), "comfy", "sd15")
    assert "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.lora_down.weight" in out
    assert "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.alpha" in out
    missing_alpha = {k: v for k, v in kohya_sd15_tensors().items() if not k.endswith(".alpha")}
    kohya = render(parse_lora(missing_alpha), "kohya", "sd15")
    alphas = [v.item() for k, v in kohya.items() if k.endswith(".alpha")]
    assert alphas and all(a == 4.0 for a in alphas), "no alpha means scale 1, i.e. alpha = rank"


def test_module_missing_its_up_weight_is_an_error():
    tensors = {"lora_unet_a_b.lora_down.weight": torch.zeros(2, 2)}
    with pytest.raises(LayoutError, match="no 'up' weight"):
        parse_lora(tensors)


def test_unet_rename_for_unsupported_family_is_a_clear_error():
    weights = parse_lora({"diffusion_model.double_blocks.0.img_attn.qkv.lora_down.weight": torch.zeros(2, 4),
                          "diffusion_model.double_blocks.0.img_attn.qkv.lora_up.weight": torch.zeros(12, 2)})
    assert next(iter(weights.modules)) == ModuleKey(UNET, "double_blocks.0.img_attn.qkv", "native")
    assert "lora_unet_double_blocks_0_img_attn_qkv.alpha" in render(weights, "kohya", "flux")
    with pytest.raises(LayoutError, match="cannot rename UNet module"):
        render(weights, "peft", "flux")
