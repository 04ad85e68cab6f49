"""Train a PEFT LoRA on a frozen seq2seq base from vague -> structured pairs, evaluate it, save only the adapter.

Steps, each its own function: load the frozen base; wrap it with PEFT (only the LoRA matrices train); run the
epochs (AdamW, progress after every step); take the adapter weights; merge and score the held-out pairs with
the same decoding the node uses; write the adapter folder with its config and training metadata.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..progress import Progress, no_progress
from .adapter_files import write_adapter
from .base_model import LoadedBase, base_identity, load_base
from .batches import batch_count, collate, encode_pairs, shuffled_batches
from .data import PairSet
from .evaluation import evaluate
from .generation import DecodeSettings
from .metrics import QualityScores

DEFAULT_PREFIX = "Refine this prompt: "


@dataclass(frozen=True)
class TrainConfig:
    """LoRA and optimiser settings; the defaults are the seed's (r 16, alpha 32, q and v, 5 epochs, 1e-3, batch 8)."""

    rank: int = 16
    alpha: float = 32.0
    target_modules: tuple[str, ...] = ("q", "v")
    dropout: float = 0.05
    epochs: int = 5
    learning_rate: float = 1e-3
    batch_size: int = 8
    seed: int = 0
    max_source_tokens: int = 128
    max_target_tokens: int = 384
    input_prefix: str = DEFAULT_PREFIX
    eval_limit: int | None = None  # score only the first N held-out pairs (None: all)
    eval_max_new_tokens: int = 384

    def __post_init__(self) -> None:
        checks = (("rank", 1 <= self.rank <= 256), ("alpha", self.alpha > 0), ("epochs", 1 <= self.epochs <= 1000),
                  ("learning_rate", 0 < self.learning_rate < 1), ("batch_size", 1 <= self.batch_size <= 1024),
                  ("dropout", 0 <= self.dropout < 1), ("target_modules", bool(self.target_modules)),
                  ("max_source_tokens", self.max_source_tokens >= 8), ("max_target_tokens", self.max_target_tokens >= 8),
                  ("eval_limit", self.eval_limit is None or self.eval_limit >= 0))
        bad = [name for name, ok in checks if not ok]
        if bad:
            raise ValueError(f"invalid training setting(s) {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")


@dataclass
class TrainResult:
    adapter_dir: Path
    epoch_losses: list[float]
    step_losses: list[float]
    trainable_parameters: int
    seconds: float
    epoch_seconds: list[float]
    scores: QualityScores | None = None
    metadata: dict = field(default_factory=dict)


def wrap_with_lora(model, config: TrainConfig):
    """The PEFT model (base frozen, only ``lora_A``/``lora_B`` trainable) and its trainable parameter count."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=list(config.target_modules),
                      lora_dropout=config.dropout, task_type="SEQ_2_SEQ_LM")
    wrapped = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    return wrapped, trainable


def lora_optimizer(wrapped, config: TrainConfig):
    import torch

    return torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=config.learning_rate)


def train_step(wrapped, optimizer, batch: dict, device: str = "cpu") -> float:
    """One optimiser step on one padded batch; returns its loss."""
    loss = wrapped(**{key: value.to(device) for key, value in batch.items()}).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def run_epochs(wrapped, examples, config: TrainConfig, progress: Progress, pad_id: int,
               device: str = "cpu") -> tuple[list[float], list[float], list[float]]:
    """AdamW over the trainable parameters; returns (step losses, epoch mean losses, epoch seconds)."""
    import torch

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    optimizer = lora_optimizer(wrapped, config)
    per_epoch = batch_count(len(examples), config.batch_size)
    total, step_losses, epoch_losses, epoch_seconds = per_epoch * config.epochs, [], [], []
    wrapped.train()
    for epoch in range(config.epochs):
        start, losses = time.perf_counter(), []
        for batch in shuffled_batches(examples, config.batch_size, rng):
            losses.append(train_step(wrapped, optimizer, collate(batch, pad_id), device))
            progress(len(step_losses) + len(losses), total,
                     f"epoch {epoch + 1}/{config.epochs} step {len(losses)}/{per_epoch} loss {losses[-1]:.4f}")
        step_losses += losses
        epoch_losses.append(sum(losses) / len(losses))
        epoch_seconds.append(time.perf_counter() - start)
    wrapped.eval()
    return step_losses, epoch_losses, epoch_seconds


def adapter_state(wrapped, config: TrainConfig, base: LoadedBase) -> tuple[dict, dict]:
    """(adapter tensors as PEFT saves them, adapter_config.json body)."""
    from peft import get_peft_model_state_dict

    tensors = {key: value.detach().cpu().contiguous() for key, value in get_peft_model_state_dict(wrapped).items()}
    peft_config = wrapped.peft_config["default"].to_dict()
    peft_config.update(base_model_name_or_path=base.folder.name, inference_mode=True,
                       target_modules=sorted(peft_config["target_modules"]), peft_type="LORA",
                       task_type="SEQ_2_SEQ_LM")
    return tensors, {key: (sorted(v) if isinstance(v, set) else v) for key, v in peft_config.items()}


def train_adapter(base_dir: str | Path, pairs: PairSet, out_dir: str | Path, config: TrainConfig = TrainConfig(),
                  progress: Progress = no_progress, device: str = "cpu", overwrite: bool = False) -> TrainResult:
    """Train, evaluate on ``pairs.held_out`` and write the adapter folder ``out_dir``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"adapter folder {out_dir} already exists; choose another --out or pass --overwrite")
    if not pairs.train:
        raise ValueError("the training data has no training pairs")
    started = time.perf_counter()
    base = load_base(base_dir, device)
    identity = base_identity(base)
    wrapped, trainable = wrap_with_lora(base.model, config)
    examples = encode_pairs(base.tokenizer, [config.input_prefix + p.vague for p in pairs.train],
                            [p.structured for p in pairs.train], config.max_source_tokens, config.max_target_tokens)
    step_losses, epoch_losses, epoch_seconds = run_epochs(wrapped, examples, config, progress,
                                                          base.tokenizer.pad_token_id, device)
    tensors, peft_config = adapter_state(wrapped, config, base)
    merged = wrapped.merge_and_unload()
    held_out = pairs.held_out[:config.eval_limit] if config.eval_limit is not None else pairs.held_out
    scores = evaluate(merged, base.tokenizer, held_out, config.input_prefix,
                      DecodeSettings(max_new_tokens=config.eval_max_new_tokens), device) if held_out else None
    metadata = {
        "format": "lora_lab.refiner_adapter", "version": 1, "base": identity, "input_prefix": config.input_prefix,
        "config": asdict(config), "data": {"sha256": pairs.sha256(), "train_pairs": len(pairs.train),
                                           "held_out_pairs": len(pairs.held_out), "seed": pairs.seed},
        "epochs": config.epochs, "epoch_losses": [round(x, 5) for x in epoch_losses],
        "step_losses": [round(x, 5) for x in step_losses], "epoch_seconds": [round(x, 2) for x in epoch_seconds],
        "trainable_parameters": trainable, "eval": scores.to_dict() if scores else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_adapter(out_dir, tensors, peft_config, metadata, overwrite=overwrite)
    return TrainResult(out_dir, epoch_losses, step_losses, trainable, metadata["seconds"], epoch_seconds, scores, metadata)
