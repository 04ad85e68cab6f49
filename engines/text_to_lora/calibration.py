"""Calibrating a tied readout once per model, so scores measure the prompt and not a badly scaled readout.

A text encoder that was never trained as a language model has an uncalibrated tied readout: on
all-MiniLM-L6-v2 the masked-token logits ``h . E^T`` rank the right token *below* chance (NLL above ln|V|).
Before any optimisation we fit, on a corpus of prompts and with the unmodified encoder:

1. optionally a linear map ``M`` (width x width) of the read state, trained by softmax NLL over the corpus's
   tokens plus sampled negatives and kept close to the identity (a closed-form ridge map onto the target
   embeddings was tried and is worse than no map: it predicts the mean embedding);
2. a temperature ``T`` and a per-token bias ``b`` by maximum likelihood on the precomputed logits.

``logits = (M h) . E^T / T + b``. ``mode="auto"`` keeps ``M`` only if it lowers the NLL of a held-out part of the
corpus. The calibration is frozen during optimisation and stored next to the configs, keyed by the model's
fingerprint, so it is fitted once per model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

MODES = ("temperature_bias", "linear", "auto")


@dataclass
class Calibration:
    temperature: float
    bias: torch.Tensor  # (vocab,)
    transform: torch.Tensor | None = None  # (width, width) or None
    mode: str = "temperature_bias"
    fingerprint: str = ""
    positions: int = 0
    nll_raw: float = float("nan")  # held-out NLL of the raw readout (temperature 1, no bias)
    nll_calibrated: float = float("nan")  # held-out NLL after calibration
    corpus: str = ""

    def logits(self, states: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
        if self.transform is not None:
            states = states @ self.transform.T
        return (states.to(readout.dtype) @ readout.T).float() / self.temperature + self.bias

    def to(self, device) -> Calibration:
        """This calibration with its tensors on ``device`` (itself when they already are)."""
        device = torch.device(device)
        if self.bias.device == device:
            return self
        transform = None if self.transform is None else self.transform.to(device)
        return Calibration(self.temperature, self.bias.to(device), transform, self.mode, self.fingerprint,
                           self.positions, self.nll_raw, self.nll_calibrated, self.corpus)

    def summary(self) -> dict:
        return {"mode": self.mode, "temperature": round(self.temperature, 5), "positions": self.positions,
                "heldout_nll_raw": round(self.nll_raw, 4), "heldout_nll_calibrated": round(self.nll_calibrated, 4),
                "fingerprint": self.fingerprint, "corpus": self.corpus}


def fingerprint(encoder) -> str:
    """A short hash of the encoder's read layer, shapes and a sample of its weights (cheap; identifies the model
    as the score sees it: another CLIP Set Last Layer setting is another calibration)."""
    digest = hashlib.sha256(encoder.kind.encode() + encoder.read_layer.describe().encode())
    weights = encoder.source
    for key in sorted(weights)[:: max(1, len(weights) // 16)]:
        tensor = weights[key].reshape(-1)
        digest.update(key.encode() + str(tuple(weights[key].shape)).encode())
        digest.update(tensor[:4096].to(torch.float32).numpy().tobytes())
    return digest.hexdigest()[:16]


def fit_calibration(encoder, states: torch.Tensor, targets: torch.Tensor, mode: str = "auto",
                    map_l2: float = 1e-3, bias_l2: float = 1e-4, map_steps: int = 150, seed: int = 0) -> Calibration:
    """Fit on the first 80% of the positions, compare modes on the last 20% (other prompts)."""
    if mode not in MODES:
        raise ValueError(f"calibration mode must be one of {MODES}, got {mode!r}")
    if states.shape[0] < 10:
        raise ValueError(f"calibration needs at least 10 scored positions, got {states.shape[0]}")
    split = int(states.shape[0] * 0.8)
    readout = encoder.readout.detach().float().cpu()
    fit_h, fit_t, held_h, held_t = states[:split], targets[:split], states[split:], targets[split:]
    with torch.no_grad():
        raw = float(F.cross_entropy(held_h @ readout.T, held_t))
    candidates = []
    if mode in ("temperature_bias", "auto"):
        candidates.append(_fit_scale_bias(fit_h, fit_t, held_h, held_t, readout, None, bias_l2))
    if mode in ("linear", "auto"):
        transform = _fit_map(fit_h, fit_t, readout, map_l2, map_steps, seed)
        candidates.append(_fit_scale_bias(fit_h, fit_t, held_h, held_t, readout, transform, bias_l2))
    best = min(candidates, key=lambda c: c.nll_calibrated)
    best.nll_raw, best.positions = raw, int(states.shape[0])
    best.fingerprint = fingerprint(encoder)
    return best


def _fit_map(states, targets, readout, l2: float, steps: int, seed: int, negatives: int = 1024) -> torch.Tensor:
    """A width x width map M trained by softmax NLL over the corpus tokens plus sampled negatives.

    Regularised towards the identity (``l2 * |M - I|^2``); the full-vocabulary temperature and bias fitted
    afterwards correct what the sampled softmax leaves out.
    """
    generator = torch.Generator().manual_seed(seed)
    sampled = torch.randint(0, readout.shape[0], (negatives,), generator=generator)
    vocabulary = torch.unique(torch.cat([targets, sampled]))
    index = torch.full((readout.shape[0],), -1, dtype=torch.long)
    index[vocabulary] = torch.arange(len(vocabulary))
    embeddings, local = readout[vocabulary], index[targets]
    identity = torch.eye(states.shape[1])
    transform = identity.clone().requires_grad_(True)
    with torch.no_grad():
        log_scale = (-torch.log((states @ embeddings.T).std().clamp(min=1e-6))).requires_grad_(True)
    adam = torch.optim.Adam([transform, log_scale], lr=3e-3)
    with torch.enable_grad():
        for _ in range(steps):
            logits = (states @ transform.T) @ embeddings.T * log_scale.exp()
            loss = F.cross_entropy(logits, local) + l2 * (transform - identity).pow(2).sum()
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
    return transform.detach().clone()


def _fit_scale_bias(fit_h, fit_t, held_h, held_t, readout, transform, bias_l2, iterations: int = 15,
                    rows: int = 768) -> Calibration:
    """Temperature and per-token bias by L-BFGS on (at most ``rows``) precomputed full-vocabulary logits.

    The temperature is capped at the raw logits' standard deviation (calibrated logits keep a spread of at least
    1): an uninformative readout (a random-weights encoder) would otherwise be fitted "infinitely hot", which
    makes the score flat in the states and leaves the optimiser no gradient at all.
    """
    fit_h, fit_t = fit_h[:rows], fit_t[:rows]
    with torch.no_grad():
        mapped = fit_h if transform is None else fit_h @ transform.T
        raw_logits = mapped @ readout.T
        log_cap = torch.log(raw_logits.std().clamp(min=1e-6))
    below_cap = torch.zeros((), requires_grad=True)  # log T = log_cap - softplus(below_cap)
    bias = torch.zeros(readout.shape[0], requires_grad=True)
    optimiser = torch.optim.LBFGS([below_cap, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def temperature():
        return torch.exp(log_cap - F.softplus(below_cap))

    def closure():
        optimiser.zero_grad()
        loss = F.cross_entropy(raw_logits / temperature() + bias, fit_t) + bias_l2 * bias.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    calibration = Calibration(float(temperature().detach()), bias.detach().clone(), transform,
                              "temperature_bias" if transform is None else "linear")
    with torch.no_grad():
        calibration.nll_calibrated = float(F.cross_entropy(calibration.logits(held_h, readout), held_t))
    return calibration


def calibration_path(folder: str | os.PathLike[str], config_name: str, component: str, print_: str) -> Path:
    return Path(folder) / f"{config_name}.{component}.{print_}.calibration.safetensors"


def save_calibration(path: str | os.PathLike[str], calibration: Calibration) -> Path:
    from ..lora_format import save_tensors

    tensors = {"bias": calibration.bias.contiguous()}
    if calibration.transform is not None:
        tensors["transform"] = calibration.transform.contiguous()
    meta = {key: str(value) for key, value in calibration.summary().items()}
    meta.update({"temperature": repr(calibration.temperature), "nll_raw": repr(calibration.nll_raw),
                 "nll_calibrated": repr(calibration.nll_calibrated), "lora_lab.t2l": "calibration"})
    return save_tensors(path, tensors, meta, overwrite=True)


def load_calibration(path: str | os.PathLike[str], encoder) -> Calibration:
    """Load and check it belongs to ``encoder`` (same fingerprint and vocabulary)."""
    from ..lora_format import load_tensors

    tensors, meta = load_tensors(path)
    if meta.get("lora_lab.t2l") != "calibration" or "bias" not in tensors:
        raise ValueError(f"{path} is not a text-to-LoRA calibration file")
    expected = fingerprint(encoder)
    if meta.get("fingerprint") != expected:
        raise ValueError(f"calibration {path} was fitted for model {meta.get('fingerprint')}, this encoder is "
                         f"{expected}; delete it or fit a new one")
    if tensors["bias"].shape != (encoder.vocab_size,):
        raise ValueError(f"calibration {path} has {tensors['bias'].shape[0]} token biases, the encoder "
                         f"{encoder.vocab_size} tokens")
    temperature = float(meta["temperature"])
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"calibration {path} has an invalid temperature {meta['temperature']!r}")
    return Calibration(temperature, tensors["bias"].float(), tensors.get("transform"), meta.get("mode", ""),
                       expected, int(meta.get("positions", 0)), float(meta["nll_raw"]),
                       float(meta["nll_calibrated"]), meta.get("corpus", ""))


def describe(calibration: Calibration) -> str:
    return json.dumps(calibration.summary(), sort_keys=True)
