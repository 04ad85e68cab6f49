"""Names only: the LoraLoader list of /object_info in both shapes, ranked by name words and name-hinted family."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.discovery import DiscoverOptions, loraloader_names, names_only_index, run_discovery

NAMES = ["ghibli_style_v2.safetensors", "StudioGhibliXL.safetensors", "styles/pixel-art-flux.safetensors",
         "makimaChainsawMan_v10.safetensors", "lora_final.safetensors", "old/model.ckpt"]


@pytest.mark.parametrize("object_info", [
    {"LoraLoader": {"input": {"required": {"lora_name": [NAMES, {"tooltip": "x"}]}}}},
    {"LoraLoader": {"input": {"required": {"lora_name": ["COMBO", {"options": NAMES}]}}}},
    {"LoraLoaderModelOnly": {"input": {"optional": {"lora_name": ["COMBO", {"options": NAMES, "default": "a"}]}}}},
])
def test_both_object_info_shapes(object_info):
    assert loraloader_names(object_info) == NAMES


@pytest.mark.parametrize("object_info", [[], {}, {"LoraLoader": {"input": {"required": {"lora_name": "x"}}}},
                                         {"LoraLoader": {"input": {"required": {"lora_name": ["COMBO", {}]}}}}])
def test_answers_without_a_list_are_errors(object_info):
    with pytest.raises(ValueError, match="LoraLoader|JSON object"):
        loraloader_names(object_info)


def test_names_only_ranking_uses_name_words_and_family_hints():
    index = names_only_index(NAMES)

    def picks(prompt, family):
        options = DiscoverOptions(family=family, allow_unknown_family=True, use_learning=False)
        return [p.name for p in run_discovery(index, prompt, options).picks]

    assert picks("a castle, studio ghibli", "sdxl")[0] == "StudioGhibliXL.safetensors"  # the name hints SDXL
    # the XL file is excluded; "ghibli" names the other one (issue 14: "studio ghibli" -> a ghibli style LoRA)
    assert picks("a castle, studio ghibli", "sd15") == ["ghibli_style_v2.safetensors"]
    assert picks("a castle, ghibli style", "sd15") == ["ghibli_style_v2.safetensors"]
    assert picks("pixel art", "sd15") == []
    assert picks("pixel art", "flux") == ["styles/pixel-art-flux.safetensors"]
    assert picks("makima \\(chainsaw man\\)", "sd15") == ["makimaChainsawMan_v10.safetensors"]
    assert picks("model", "sd15") == []  # a pickle is never picked
