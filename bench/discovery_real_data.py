"""Real (prompt -> chosen LoRAs) records and a pool of real LoRA names: loading, ranking metrics, baselines.

The records are read in place (``../shared/data/`` from the repository root by default, any file of the
same schema otherwise) and never copied into the repository. Everything here works on names only: the
pool is what a user's ``LoraLoader`` list would show, with no headers and no sidecars.

Metrics, per record, on the first three names a ranker returns (fewer when it abstains):
``recall_at_3`` = chosen names among them / chosen names, ``hit_at_3`` = at least one chosen name among
them; both averaged over records. Names compare by :func:`lora_key` (no extension, case or separator).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..engines.discovery.feedback import lora_key
from ..engines.discovery.text import name_words, words

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT_RECORDS = DATA_DIR / "lora_choices_dev.jsonl"
DEFAULT_POOL = DATA_DIR / "lora_pool_dev.txt"
MAX_FILE_BYTES = 64 * 1024 * 1024
FAMILIES = {"sd15": "sd15", "sdxl": "sdxl", "flux": "flux"}
TOP_K = 3


@dataclass(frozen=True)
class Record:
    """One real prompt and the LoRAs its author chose (as pool keys)."""

    line: int
    source: str
    prompt: str
    family: str
    chosen: tuple[str, ...]


Ranker = Callable[[Record], list[str]]


def _read_text(path: Path, what: str) -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file '{path}' does not exist")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{what} file '{path}' is larger than {MAX_FILE_BYTES:,} bytes")
    return path.read_text(encoding="utf-8")


def _record(line_number: int, raw: object, path: Path) -> Record:
    where = f"{path}:{line_number}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a record must be a JSON object")
    prompt, loras, source = raw.get("prompt"), raw.get("loras"), raw.get("source")
    if not isinstance(prompt, str) or not isinstance(source, str):
        raise ValueError(f"{where}: 'prompt' and 'source' must be strings")
    if not isinstance(loras, list) or not loras:
        raise ValueError(f"{where}: 'loras' must be a non-empty list")
    names = [item.get("name") if isinstance(item, dict) else None for item in loras]
    if not all(isinstance(name, str) and name.strip() for name in names):
        raise ValueError(f"{where}: every entry of 'loras' needs a non-empty 'name'")
    family = FAMILIES.get(str(raw.get("base_hint") or "").lower(), "unknown")
    return Record(line_number, source, prompt, family, tuple(dict.fromkeys(lora_key(n) for n in names)))


def load_records(path: Path) -> list[Record]:
    """Records of a JSONL file; a malformed line is an error naming the file and line."""
    records = []
    for number, line in enumerate(_read_text(path, "records").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
        records.append(_record(number, raw, Path(path)))
    if not records:
        raise ValueError(f"records file '{path}' holds no records")
    return records


def load_pool(path: Path) -> list[str]:
    """LoRA names, one a line (blank lines skipped, duplicates kept once)."""
    names = list(dict.fromkeys(line.strip() for line in _read_text(path, "pool").splitlines() if line.strip()))
    if not names:
        raise ValueError(f"pool file '{path}' lists no names")
    return names


def by_source(records: list[Record]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record.source, []).append(record)
    return groups


@dataclass
class Scores:
    recall_at_3: float
    hit_at_3: float
    abstain_rate: float
    records: int

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}recall_at_3": self.recall_at_3, f"{prefix}hit_at_3": self.hit_at_3,
                f"{prefix}abstain_rate": self.abstain_rate, f"{prefix}records": self.records}


def record_recall(ranked: list[str], record: Record) -> float:
    top = {lora_key(name) for name in ranked[:TOP_K]}
    return len(top & set(record.chosen)) / len(record.chosen)


def evaluate(ranker: Ranker, records: list[Record]) -> Scores:
    recalls, hits, abstains = [], [], 0
    for record in records:
        ranked = ranker(record)
        abstains += 0 if ranked else 1
        recall = record_recall(ranked, record)
        recalls.append(recall)
        hits.append(1.0 if recall > 0 else 0.0)
    count = max(1, len(records))
    return Scores(round(sum(recalls) / count, 4), round(sum(hits) / count, 4), round(abstains / count, 4), len(records))


def _top(scores: dict[str, float]) -> list[str]:
    ranked = sorted((name for name, score in scores.items() if score > 0), key=lambda n: (-scores[n], n))
    return ranked[:TOP_K]


def token_overlap_baseline(pool: list[str]) -> Ranker:
    """The 20-line baseline: how many of a name's words the prompt contains."""
    name_sets = {name: set(name_words(name.replace("\\", "/").rsplit("/", 1)[-1])) for name in pool}

    def rank(record: Record) -> list[str]:
        prompt = set(words(record.prompt))
        return _top({name: len(tokens & prompt) for name, tokens in name_sets.items()})

    return rank


def bm25_baseline(pool: list[str], k1: float = 1.2, b: float = 0.75) -> Ranker:
    """Okapi BM25 with each name's words as its document and the prompt's words as the query."""
    docs = {name: Counter(name_words(name.replace("\\", "/").rsplit("/", 1)[-1])) for name in pool}
    mean_length = sum(sum(d.values()) for d in docs.values()) / max(1, len(docs))
    df = Counter(word for doc in docs.values() for word in doc)
    idf = {w: math.log(1 + (len(docs) - n + 0.5) / (n + 0.5)) for w, n in df.items()}

    def rank(record: Record) -> list[str]:
        query = set(words(record.prompt))
        scores = {}
        for name, doc in docs.items():
            length = sum(doc.values()) or 1
            scores[name] = sum(idf[w] * doc[w] * (k1 + 1) / (doc[w] + k1 * (1 - b + b * length / mean_length))
                               for w in query if w in doc)
        return _top(scores)

    return rank


# Prompts written for this benchmark (not from any record): everyday subjects and quality boilerplate. Only
# those sharing no word with a pool name count (a prompt "with no LoRA-specific words against the pool").
GENERIC_PROMPTS = (
    "a cat sitting on a sofa", "portrait of an old man with a beard", "masterpiece, best quality, 1girl, smile",
    "a bowl of fruit on a kitchen table", "a dog running on the beach at sunset", "a red apple", "two people talking",
    "a man walking in the rain with an umbrella", "a woman reading a book in a cafe", "a bicycle leaning on a wall",
    "best quality, highres, a girl standing in a field of flowers", "a mountain lake in the morning, calm water",
    "a cup of coffee and a croissant", "a child playing with a ball in a park", "close-up of a horse, brown fur",
    "a wooden chair in an empty room", "a boat on a river, trees on both sides", "a family having dinner",
    "an old car parked on the street", "a teenager with headphones, looking at viewer", "a bird on a branch",
    "a plate of pasta with tomato sauce", "a house with a garden and a fence", "a man in a suit, standing, office",
    "a girl with long hair, smiling, white shirt", "snow falling on a quiet village street", "a glass of water",
    "a farmer in a wheat field", "a clock on a wall", "a bridge over a river at dusk", "an elephant drinking water",
    "a girl riding a bicycle, summer", "a basket of bread", "a lighthouse by the sea", "a cat sleeping in the sun",
    "a woman in a red dress dancing", "a boy flying a kite", "a table with candles", "a train station, people waiting",
    "a pair of shoes on the floor",
)


def generic_prompts(pool: list[str]) -> list[str]:
    """The prompts of :data:`GENERIC_PROMPTS` that share no word with any pool name."""
    name_vocabulary = {w for name in pool for w in name_words(name.replace("\\", "/").rsplit("/", 1)[-1])}
    return [prompt for prompt in GENERIC_PROMPTS if not set(words(prompt)) & name_vocabulary]
