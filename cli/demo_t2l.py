"""Demo step: a per-prompt text-encoder LoRA for a tiny CLIP (random weights, the real SD tokenizer), saved in
kohya format and read back, with the shuffled-prompt control next to the prompt's own gain."""

from __future__ import annotations

from pathlib import Path

TINY_WIDTH, TINY_LAYERS = 32, 2


def _tiny_config():
    """The sd15 preset cut down to the tiny CLIP's shapes (same targets: q and v of every layer)."""
    from ..engines.text_to_lora.config import config_from_dict, load_config

    raw = load_config("sd15").to_json()
    raw["name"] = "demo_tiny_sd15"
    raw["encoders"][0].update(hidden_size=TINY_WIDTH, num_layers=TINY_LAYERS,
                              layer_dimensions={"self_attn.q_proj": [TINY_WIDTH, TINY_WIDTH],
                                                "self_attn.v_proj": [TINY_WIDTH, TINY_WIDTH]})
    return config_from_dict(raw)


def run(workdir: Path) -> dict:
    import torch

    from ..engines import tiny_models
    from ..engines.lora_format import inspect_file
    from ..engines.text_to_lora import output, pipeline
    from ..engines.text_to_lora.encoders import encoder_from_transformers
    from ..engines.text_to_lora.optimiser import OptimiseConfig
    from ..engines.text_to_lora.tokenizer import wrap_tokenizer
    from ..engines.tokenizers import clip_tokenizer

    torch.set_num_threads(min(2, torch.get_num_threads()))
    shape = dict(tiny_models.TINY_CLIP_CONFIG, vocab_size=49408, bos_token_id=49406, eos_token_id=49407,
                 pad_token_id=49407)
    model = tiny_models.clip_text_model(shape, seed=0)
    bundle = pipeline.EncoderBundle("clip_l", encoder_from_transformers("clip", model),
                                    wrap_tokenizer(clip_tokenizer(), "clip"))
    request = pipeline.T2LRequest("a (watercolor:1.2) painting of a lighthouse at dawn", _tiny_config(),
                                  OptimiseConfig(steps=30, learning_rate=1e-2, seed=0), workdir / "t2l" / "store",
                                  calibration_prompts=32, calibration_positions=256, precision="float32")
    result = pipeline.run(request, [bundle])
    path = output.save_result(result, workdir / "t2l" / "loras", "demo_t2l")
    report, summary = result.reports[0], inspect_file(path)
    return {
        "prompt_used": report.text, "warnings": report.warnings,
        "nll": f"{report.nll_base:.3f} -> {report.nll_after:.3f} ({100 * report.nll_drop:.1f}% drop)",
        "pooled_cos": round(report.pooled_cos, 4), "shuffled_control_gap": round(report.control_gap, 3),
        "wrote": str(path), "lora": f"{summary.layout}, {summary.family}, rank {summary.rank}, {summary.modules} modules",
    }
