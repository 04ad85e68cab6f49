"""Demo step: preflight a dataset (and a broken one), train a LoRA for a few steps on a tiny model, inspect it."""

from __future__ import annotations

from pathlib import Path


def run(workdir: Path) -> dict:
    import torch

    from ..engines.lora_format import inspect_file
    from ..engines.training.config import TrainingConfig
    from ..engines.training.registry import choose_engine
    from ..engines.training.job import TrainingJob
    from ..engines.training.preflight import preflight
    from ..engines.training.tiny import make_dataset, write_tiny_model

    torch.set_num_threads(min(2, torch.get_num_threads()))
    root = workdir / "trainer"
    model = write_tiny_model(root / "tiny_sd15", "sd15")
    data = make_dataset(root / "dataset", count=4, size=64, trigger="lorasks")
    broken = make_dataset(root / "broken_dataset", count=2, size=64, captions=False)
    (broken / "notes.gif").write_bytes(b"GIF89a")
    config = TrainingConfig.for_family("sd15", resolution=64, batch_size=2, max_steps=3, rank=4, sample_steps=2,
                                       save_every=2, trigger_word="lorasks")
    job = TrainingJob(data, model, "demo_trained", config, root / "loras", root / "runs" / "demo_trained",
                      overwrite=True)
    engine = choose_engine("auto", "sd15")
    result = engine.train(job, log=lambda message: None)
    summary = inspect_file(result.lora_path)
    return {
        "preflight_broken_dataset": sorted(preflight(broken, "lorasks", 64).codes()),
        "engine": engine.name, "run": result.summary.text(),
        "losses": [round(loss, 4) for loss in result.losses], "wrote": str(result.lora_path),
        "lora": f"{summary.layout}, {summary.family}, rank {summary.rank}, {summary.modules} modules, "
                f"trigger {summary.trigger_words}",
        "loss_plot": str(result.loss_plot), "samples": [str(path) for path in result.samples],
    }
