"""A/B weights: arms (named weight settings for stack entries), deterministic assignment, per-arm results.

Arms are written as (node widget, or ``ab_arms`` in a brand's ``metadata.json``):

- a grid of weights for the primary brand: ``0.4, 0.6, 0.8`` or ``[0.4, 0.6, 0.8]``;
- a grid over several entries (every combination): ``{"acme": [0.4, 0.8], "acme/product": [0.3, 0.6]}``;
- named arms: ``{"subtle": 0.5, "bold": {"acme": 0.9, "acme/product": 0.7}}`` (a number sets the primary).

An arm sets the model and clip weight of the entries it names; other entries keep theirs. Assignment
hashes (experiment, key), so the same key (a seed, a batch id) always gets the same arm, with no state.
Results come from the generation store the learning capabilities share: a draft counts for an arm when
its LoRAs include every LoRA of the arm's stack at the arm's strength; its pick (if any) is the outcome.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..store import Database
from ..store import generations
from .entries import StackConfigError, StackEntry, check_weight
from .ids import BrandRef
from .library import BrandLibrary

MAX_ARMS = 16
MAX_ARM_NAME = 64
STRENGTH_TOLERANCE = 1e-3
MAX_DRAFTS_SCANNED = 100_000


@dataclass(frozen=True)
class Arm:
    name: str
    weights: tuple[tuple[str, float], ...]  # (entry label, weight)


def _weight_label(value: float) -> str:
    return f"{value:g}"


def _grid(axes: Mapping[str, Sequence[object]], where: str) -> list[Arm]:
    labels = list(axes)
    values = [[check_weight(v, f"{where}['{label}']") for v in axes[label]] for label in labels]
    arms = []
    for combo in itertools.product(*values):
        name = ",".join(f"{label}={_weight_label(w)}" for label, w in zip(labels, combo))
        arms.append(Arm(name, tuple(zip(labels, combo))))
    return arms


def _named(spec: Mapping[str, object], primary: str | None, where: str) -> list[Arm]:
    arms = []
    for name, value in spec.items():
        if not name or len(name) > MAX_ARM_NAME:
            raise StackConfigError(f"{where}: arm names must be 1 to {MAX_ARM_NAME} characters, got {name!r}")
        if isinstance(value, dict):
            weights = tuple((str(label), check_weight(w, f"{where}['{name}']['{label}']")) for label, w in value.items())
        else:
            weights = ((_need_primary(primary, where), check_weight(value, f"{where}['{name}']")),)
        arms.append(Arm(name, weights))
    return arms


def _need_primary(primary: str | None, where: str) -> str:
    if primary is None:
        raise StackConfigError(f"{where}: a bare weight sets the primary brand's weight, but no brand is selected; "
                               "name the entry, e.g. {\"arm\": {\"acme\": 0.5}}")
    return primary


def _document(spec: object, where: str) -> object:
    if not isinstance(spec, str):
        return spec
    text = spec.strip()
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise StackConfigError(f"{where} is not valid JSON ({exc.msg} at column {exc.colno})") from None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise StackConfigError(f"{where} must be weights like '0.4, 0.6, 0.8' or a JSON object of arms, "
                               f"got {text[:80]!r}") from None


def parse_arms(spec: object, primary: str | None, where: str = "ab_arms") -> list[Arm]:
    """Arms from widget text or a sidecar value (see the module docstring); [] when ``spec`` is empty."""
    document = _document(spec, where)
    if document in (None, "", [], {}):
        return []
    if isinstance(document, list):
        arms = _grid({_need_primary(primary, where): document}, where)
    elif isinstance(document, dict) and document and all(isinstance(v, list) for v in document.values()):
        arms = _grid(document, where)
    elif isinstance(document, dict) and not any(isinstance(v, list) for v in document.values()):
        arms = _named(document, primary, where)
    else:
        raise StackConfigError(f"{where} must be a list of weights, an object of arm name -> weight, or an object "
                               f"of entry -> list of weights (not a mix), got {json.dumps(document)[:80]}")
    if len(arms) > MAX_ARMS:
        raise StackConfigError(f"{where} makes {len(arms)} arms; the limit is {MAX_ARMS}")
    return arms


def apply_arm(entries: Sequence[StackEntry], arm: Arm) -> list[StackEntry]:
    """The entries with the arm's weights (model and clip) put in; every label must name an entry."""
    by_label = dict(arm.weights)
    labels = [entry.label for entry in entries]
    unknown = sorted(set(by_label) - set(labels))
    if unknown:
        raise StackConfigError(f"arm '{arm.name}' sets {unknown}, which the stack does not hold "
                               f"(entries: {', '.join(labels) or 'none'})")
    return [replace(e, weight=by_label[e.label], clip_weight=None) if e.label in by_label else e for e in entries]


def experiment_id(arms: Sequence[Arm]) -> str:
    """Stable id of an arm set: changing the arms starts a new experiment (and a new assignment)."""
    text = json.dumps([[arm.name, list(arm.weights)] for arm in arms])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def assign_arm(arms: Sequence[Arm], key: object, experiment: str | None = None) -> Arm:
    """The arm for ``key``: uniform over arms, the same every time for the same (experiment, key)."""
    if not arms:
        raise StackConfigError("there are no arms to assign from")
    digest = hashlib.sha256(f"{experiment or experiment_id(arms)}\x00{key}".encode()).digest()
    return arms[int.from_bytes(digest[:8], "big") % len(arms)]


def _same_name(a: str, b: str) -> bool:
    """Equal LoRA names, or one is a tail of the other with at least its folder (``acme/style.safetensors``
    matches ``brands/acme/style.safetensors``; a bare ``style.safetensors`` matches nothing else)."""
    a, b = a.replace("\\", "/").strip(), b.replace("\\", "/").strip()
    short, long = sorted((a, b), key=len)
    return a == b or ("/" in short and long.endswith("/" + short))


def _matches(draft_loras: list, pairs: Sequence[tuple[str, float]]) -> bool:
    def has(name: str, strength: float) -> bool:
        return any(isinstance(item, dict) and isinstance(item.get("name"), str)
                   and isinstance(item.get("strength"), (int, float))
                   and _same_name(item["name"], name) and abs(item["strength"] - strength) <= STRENGTH_TOLERANCE
                   for item in draft_loras)
    return all(has(name, strength) for name, strength in pairs)


def _drafts(db: Database, pairs: Sequence[tuple[str, float]]) -> list[tuple[list, int | None]]:
    needles = sorted({name.replace("\\", "/").rsplit("/", 1)[-1] for name, _ in pairs})
    where = " OR ".join("instr(d.loras, ?) > 0" for _ in needles) or "1"
    rows = db.read(f"SELECT d.loras AS loras, p.selected AS selected FROM drafts d "  # noqa: S608 - placeholders only
                   f"LEFT JOIN picks p ON p.draft_id = d.id WHERE {where} ORDER BY d.rowid DESC LIMIT ?",
                   (*needles, MAX_DRAFTS_SCANNED))
    out = []
    for row in rows:
        try:
            loras = json.loads(row["loras"])
        except (TypeError, json.JSONDecodeError):
            continue  # a malformed row written by someone else: not ours to judge
        if isinstance(loras, list):
            out.append((loras, row["selected"]))
    return out


def arm_results(db: Database, arms: Sequence[tuple[str, Sequence[tuple[str, float]]]]) -> list[dict]:
    """Per arm (name, [(LoRA name, strength), ...]): drafts made with it, picked, rejected, pick rate."""
    db.migrate(generations.COMPONENT, generations.MIGRATIONS)
    drafts = _drafts(db, [pair for _, pairs in arms for pair in pairs])
    results = []
    for name, pairs in arms:
        outcomes = [selected for loras, selected in drafts if pairs and _matches(loras, pairs)]
        picked, rejected = outcomes.count(1), outcomes.count(0)
        results.append({"arm": name, "drafts": len(outcomes), "picked": picked, "rejected": rejected,
                        "unjudged": len(outcomes) - picked - rejected,
                        "pick_rate": round(picked / (picked + rejected), 4) if picked + rejected else None})
    return results


def brand_experiment(library: BrandLibrary, db: Database, brand_id: str, spec: object = None) -> dict:
    """Arms of one brand (``spec``, else its sidecar's ``ab_arms``) resolved to files, with their results.

    Each arm is matched on the LoRAs it sets (default version of each); other LoRAs of a draft are free.
    """
    brand = library.get(brand_id)
    arms = parse_arms(spec if spec not in (None, "") else library.sidecar(brand).ab_arms, brand.brand_id)
    resolved = []
    for arm in arms:
        pairs = [(library.resolve(BrandRef.parse(label)).file.lora_name, weight) for label, weight in arm.weights]
        resolved.append((arm.name, pairs))
    results = arm_results(db, resolved) if resolved else []
    return {"brand_id": brand.brand_id, "experiment": experiment_id(arms) if arms else None,
            "arms": [{"arm": arm.name, "weights": dict(arm.weights), "loras": [{"name": n, "strength": w}
                      for n, w in pairs], **result}
                     for arm, (_, pairs), result in zip(arms, resolved, results)]}
