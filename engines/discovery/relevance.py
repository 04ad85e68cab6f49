"""Calibrated relevance: the probability that a user wants a candidate LoRA for a prompt.

A small logistic model over a handful of features replaces hand-tuned vetoes (a generic word never
counting as evidence, a fixed score scale): the threshold then means "probability the user wants it".

Features of a candidate (names-only and with metadata alike):

- ``lexical``: log(1 + the field- and idf-weighted keyword score of :mod:`scoring`);
- ``coverage``: how much of its best name or trigger phrase the prompt covers (idf-weighted, generic
  words included: "anime" covers most of ``anime_style_v2``);
- ``specific``: 1 when a specific (not generic) word of the prompt is in its name, trigger or tag;
- ``semantic``: the best cosine similarity of a prompt phrase to the entry's words (0 without a model);
- ``semantic_gap``: that similarity minus the best similarity of any entry for this prompt (<= 0);
- ``semantic_generic``: the similarity again when that phrase is made of generic words only ("ultra
  detailed"), else 0, so the model can weigh such matches on their own;
- ``family``: 1 when the entry's name hints the model's family ("..._xl" for SDXL); a family declared
  in a header is enforced by the family filter instead.

The weights are fitted by ``lora-lab bench discovery-fit`` (``bench/discovery_fit.py``) on real
(prompt -> chosen LoRAs) records, and checked by leave-sources-out cross validation; two weight sets are
kept, with and without the semantic features (the fallback when no sentence model is installed).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = ("lexical", "coverage", "specific", "semantic", "semantic_gap", "semantic_generic", "family")
SEMANTIC_FEATURES = ("semantic", "semantic_gap", "semantic_generic")
WEIGHTS_FILE = Path(__file__).with_name("relevance_weights.json")
L2 = 1.0
NEWTON_STEPS = 50


@dataclass(frozen=True)
class RelevanceModel:
    """Logistic weights over :data:`FEATURES` (semantic ones are 0 in the lexical-only model)."""

    weights: tuple[float, ...]
    bias: float
    semantic: bool

    def probability(self, values: np.ndarray | list[float]) -> float:
        z = self.bias + float(np.dot(self.weights, values))
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_dict(self) -> dict:
        return {"weights": [round(w, 6) for w in self.weights], "bias": round(self.bias, 6)}


def fit_logistic(rows: np.ndarray, labels: np.ndarray, semantic: bool, l2: float = L2) -> RelevanceModel:
    """L2-regularised logistic regression by Newton's method (a thousand rows, seven features).

    The lexical-only model never sees the semantic columns (they are zeroed), so its weights stay 0.
    """
    x = np.asarray(rows, dtype=np.float64).copy()
    if not semantic:
        for name in SEMANTIC_FEATURES:
            x[:, FEATURES.index(name)] = 0.0
    x = np.hstack([x, np.ones((len(x), 1))])
    y = np.asarray(labels, dtype=np.float64)
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 1e-6  # the bias is not shrunk
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -40, 40)))
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return RelevanceModel(tuple(float(v) for v in w[:-1]), float(w[-1]), semantic)


def save_models(path: Path, models: dict[str, RelevanceModel], threshold: float, provenance: dict) -> None:
    data = {"features": list(FEATURES), "threshold": threshold, "provenance": provenance,
            **{key: model.to_dict() for key, model in models.items()}}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("features") != list(FEATURES):
        raise ValueError(f"{path}: fitted for features {data.get('features')}, this code has {list(FEATURES)}")
    return data


def shipped_model(semantic: bool, path: Path = WEIGHTS_FILE) -> RelevanceModel:
    """The fitted model shipped with the pack (``relevance_weights.json``)."""
    raw = _load(str(path))["with_semantic" if semantic else "lexical_only"]
    return RelevanceModel(tuple(raw["weights"]), raw["bias"], semantic)


def shipped_threshold(path: Path = WEIGHTS_FILE) -> float:
    return float(_load(str(path))["threshold"])
