"""A T5-style tokenizer trained locally on a corpus (no hub): BPE, Metaspace, ``</s>`` appended, T5's special ids.

Ids 0/1/2 are ``<pad>``/``</s>``/``<unk>`` as in T5 (so ``T5Config(pad_token_id=0, eos_token_id=1,
decoder_start_token_id=0)`` holds), followed by ``<extra_id_N>`` sentinels for denoising pre-training. Whitespace,
newlines included, collapses to single spaces, as T5's SentencePiece normaliser does, so a model trained with
this tokenizer sees text exactly as a real Flan-T5 would. BPE, not Unigram: on a corpus of a few hundred
sentences Unigram learns an almost character-level vocabulary (measured in feasibility.md 2d).
"""

from __future__ import annotations

import string
from collections.abc import Iterable

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")
SENTINELS = tuple(f"<extra_id_{index}>" for index in range(8))
# Letters every tokenizer knows even if the corpus never used them (accents of Western European languages).
INITIAL_ALPHABET = sorted(set(string.printable.strip()) | set("àáâäãåçèéêëìíîïñòóôöõùúûüýÿßæøœ€£°–—’“”…"))


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000):
    """A ``PreTrainedTokenizerFast`` with a BPE vocabulary of at most ``vocab_size`` learnt from ``texts``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300:
        raise ValueError(f"vocab_size must be at least 300 (the alphabet and special tokens), got {vocab_size}")
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()])
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, initial_alphabet=INITIAL_ALPHABET,
                                  special_tokens=[*SPECIAL_TOKENS, *SENTINELS], show_progress=False)
    backend.train_from_iterator(list(texts), trainer)
    eos_id = backend.token_to_id("</s>")
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                           special_tokens=[("</s>", eos_id)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   additional_special_tokens=list(SENTINELS), model_max_length=512)
