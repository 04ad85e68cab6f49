"""What a caller asks of discovery (validated) and what it gets back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .relevance import shipped_threshold

MAX_LORAS_LIMIT = 10
MAX_VARIATIONS = 64


@dataclass
class DiscoverOptions:
    """Options of one discovery query; every field is checked, errors name the field and the rule."""

    family: str = field(default="unknown", metadata={"help": "base family of the model (sd15, sdxl, ...); "
                                                             "unknown turns the family filter off"})
    max_loras: int = field(default=3, metadata={"help": "most LoRAs to pick (one per concept)"})
    min_strength: float = field(default=0.5, metadata={"help": "strength at the abstain threshold"})
    max_strength: float = field(default=0.8, metadata={"help": "strength at relevance 1.0"})
    threshold: float = field(default_factory=lambda: shipped_threshold(), metadata={
        "help": "calibrated relevance (probability that you want the LoRA) below which it is not picked (0..1)"})
    add_trigger_words: bool = field(default=True, metadata={"help": "append each pick's trigger word"})
    variations: int = field(default=1, metadata={"help": "number of seeded combinations to return"})
    seed: int = field(default=0, metadata={"help": "seed of the variations"})
    allow_unknown_family: bool = field(default=False, metadata={"help": "also pick LoRAs whose family is unknown"})
    use_learning: bool = field(default=True, metadata={"help": "re-rank with what was learned from picks"})

    def __post_init__(self) -> None:
        if not isinstance(self.family, str) or not self.family.strip():
            raise ValueError(f"family must be a family name such as 'sd15' or 'unknown', got {self.family!r}")
        self.family = self.family.strip().lower()
        _check_int("max_loras", self.max_loras, 0, MAX_LORAS_LIMIT)
        _check_int("variations", self.variations, 1, MAX_VARIATIONS)
        _check_int("seed", self.seed, -(2 ** 63), 2 ** 64 - 1)
        for name in ("min_strength", "max_strength", "threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")
        if not 0.0 <= self.min_strength <= self.max_strength <= 2.0:
            raise ValueError(f"strengths must satisfy 0 <= min_strength <= max_strength <= 2, got "
                             f"{self.min_strength}..{self.max_strength}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


@dataclass
class Pick:
    """One chosen LoRA with the evidence for it."""

    name: str
    display_name: str
    strength: float
    clip_strength: float
    relevance: float
    score: float
    family: str
    concept: list[str]
    reasons: list[str]
    trigger_added: str = ""
    alternatives: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Variant:
    """One combination for one image of a batch."""

    picks: list[Pick]
    prompt: str
    lora_text: str

    @property
    def stack(self) -> list[tuple[str, float, float]]:
        """The ecosystem's ``LORA_STACK``: (name as LoraLoader lists it, model strength, clip strength)."""
        return [(p.name, p.strength, p.clip_strength) for p in self.picks]


@dataclass
class DiscoveryResult:
    prompt: str
    family: str
    variants: list[Variant]
    keywords: list[dict] = field(default_factory=list)
    abstained_reason: str = ""
    warnings: list[str] = field(default_factory=list)
    library: dict = field(default_factory=dict)
    elapsed_ms: float = 0.0

    @property
    def picks(self) -> list[Pick]:
        return self.variants[0].picks if self.variants else []

    def to_dict(self) -> dict:
        data = asdict(self)
        for variant, raw in zip(self.variants, data["variants"]):
            raw["stack"] = [list(item) for item in variant.stack]
        data["picks"] = data["variants"][0]["picks"] if data["variants"] else []
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=True)
