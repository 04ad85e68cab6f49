"""A loaded refiner (base + merged adapter on a device) and one refinement with its intent check.

There is no fallback: every word of a refined prompt is decoded by the model. A prompt is checked first
(text, not empty, bounded, valid UTF-8, within the model's input length); the result carries the timing and
the content words of the prompt that the output lost, so drift is reported, never silently "fixed".
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..progress import Progress, no_progress
from .adapter_files import read_adapter, apply_adapter
from .base_model import load_base
from .generation import DecodeSettings, decode
from .precision import convert, resolve_precision
from .queueing import GenerationQueue
from .structure import content_words, layout_sections, missing_content_words, parse_structured, sections_found
from .training import DEFAULT_PREFIX

MAX_PROMPT_CHARS = 2000
MAX_PROMPT_TOKENS = 512
DEVICES = ("cpu", "cuda", "mps")


def check_prompt(prompt: object) -> str:
    """The prompt, stripped, or a ValueError that says what is wrong with it."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be text, got {type(prompt).__name__}")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("prompt contains characters that are not valid UTF-8 (unpaired surrogates)") from None
    text = prompt.strip()
    if not text:
        raise ValueError("prompt is empty; write the idea to refine, e.g. 'create function'")
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(f"prompt is {len(text)} characters; the refiner takes at most {MAX_PROMPT_CHARS}")
    return text


def check_device(device: str) -> str:
    import torch

    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}
    if not available[device]:
        raise ValueError(f"device '{device}' is not available on this machine; use 'cpu'")
    return device


@dataclass
class RefineResult:
    refined: str
    raw: str
    model: str
    adapter: str
    device: str
    precision: str
    ms: float
    new_tokens: int
    max_new_tokens: int
    sampled: bool
    seed: int | None
    structured: bool
    sections: list[str] = field(default_factory=list)
    content_words: list[str] = field(default_factory=list)
    missing_words: list[str] = field(default_factory=list)

    def report(self) -> dict:
        """The node's JSON report: model, adapter, timings, decoding and the intent check."""
        body = asdict(self)
        body.pop("refined")
        body["truncated"] = self.new_tokens >= self.max_new_tokens
        wanted = len(self.content_words)
        body["intent"] = {"content_words": body.pop("content_words"), "missing": body.pop("missing_words"),
                          "recall": round(1 - len(self.missing_words) / wanted, 4) if wanted else 1.0}
        return body


@dataclass
class LoadedRefiner:
    model: object
    tokenizer: object
    base_name: str
    adapter_name: str
    device: str
    precision: str = "fp32"
    prefix: str = DEFAULT_PREFIX
    queue: GenerationQueue = field(default_factory=GenerationQueue)

    def refine(self, prompt: str, settings: DecodeSettings, deadline: float | None = None,
               progress: Progress = no_progress, cancel: threading.Event | None = None) -> RefineResult:
        """Rewrite one checked prompt (the caller holds this model's queue place)."""
        text = check_prompt(prompt)
        source = self.prefix + text
        tokens = len(self.tokenizer(source)["input_ids"])
        if tokens > MAX_PROMPT_TOKENS:
            raise ValueError(f"prompt is {tokens} tokens; the refiner takes at most {MAX_PROMPT_TOKENS}")
        start = time.perf_counter()
        decoded = decode(self.model, self.tokenizer, [source], settings, self.device, deadline, cancel, progress)
        raw = decoded.texts[0].strip()
        return RefineResult(
            refined=layout_sections(raw), raw=raw, model=self.base_name, adapter=self.adapter_name,
            device=self.device, precision=self.precision, ms=round((time.perf_counter() - start) * 1000, 1), new_tokens=decoded.new_tokens[0],
            max_new_tokens=settings.max_new_tokens, sampled=settings.sample, seed=settings.seed if settings.sample else None,
            structured=parse_structured(raw) is not None, sections=sections_found(raw), content_words=content_words(text),
            missing_words=missing_content_words(text, raw))


def load_refiner(base_dir: Path, adapter_dir: Path, device: str = "cpu", base_name: str | None = None,
                 adapter_name: str | None = None, precision: str = "auto") -> LoadedRefiner:
    """Load a base, check and merge an adapter into it, ready to refine (eval mode, frozen, on ``device``, in
    ``precision``: the adapter is merged in float32 first, so it is quantised together with the base)."""
    import torch

    check_device(device)
    concrete = resolve_precision(precision, device)
    adapter = read_adapter(adapter_dir)
    with torch.no_grad():
        base = load_base(base_dir, "cpu")
        model = convert(apply_adapter(base, adapter).eval(), concrete).to(device)
    prefix = (adapter.training or {}).get("input_prefix", DEFAULT_PREFIX)
    return LoadedRefiner(model, base.tokenizer, base_name or Path(base_dir).name, adapter_name or Path(adapter_dir).name,
                         device, concrete, prefix if isinstance(prefix, str) else DEFAULT_PREFIX)
