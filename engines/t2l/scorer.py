"""The alignment score: how probable the prompt's own tokens are given the (LoRA-modified) encoder states.

Causal encoders (CLIP) predict token i+1 from the state at i through the tied readout (the token-embedding
matrix) after the final norm. Bidirectional encoders (T5, BERT) get a masked pseudo-log-likelihood: one copy of
the prompt per token with that token replaced by the mask token, read at the masked position. Never a
same-position readout on unmasked input: the residual stream makes that trivially maximal.

The raw tied readout of an encoder that was never trained as a language model is uncalibrated, so every score
goes through a :class:`~.calibration.Calibration` fitted once per model on a corpus (temperature, per-token bias,
and for encoders whose readout is anti-aligned, a fitted linear map of the state). It is frozen here, so any
gain comes from the LoRA's effect on the states of this prompt.

Inputs are exactly the positions the objective needs: ``[BOS] prompt [EOS]`` (no padding). For CLIP, causality
makes those states identical to the padded window's; bidirectional encoders see the same unpadded sequence as
ComfyUI gives them when attention masks are on, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .calibration import Calibration
from .encoders.base import SpecialTokens


@dataclass
class ScoreTerms:
    """One evaluation: mean NLL of the prompt tokens, state drift, pooled cosine (all tensors)."""

    nll: torch.Tensor
    drift: torch.Tensor
    pooled_cos: torch.Tensor


class PromptScorer:
    """Scores one token sequence under one encoder; the unmodified encoder's states are the keep reference."""

    def __init__(self, encoder, special: SpecialTokens, ids, calibration: Calibration):
        self.encoder, self.special, self.calibration = encoder, special, calibration
        self.ids = [int(i) for i in ids]
        if not self.ids:
            raise ValueError("nothing to score: the prompt has no tokens")
        sequence = torch.tensor([special.wrap(self.ids)])
        self.targets = torch.tensor(self.ids)
        start = special.offset
        if encoder.causal:
            if special.bos is None:
                raise ValueError("a causal score needs a start token to predict the first prompt token from")
            self.inputs = sequence
            self.read_rows = torch.zeros(len(self.ids), dtype=torch.long)
            self.read_positions = torch.arange(start - 1, start - 1 + len(self.ids))
            self.clean_row = 0
        else:
            if special.mask is None:
                raise ValueError("a masked pseudo-log-likelihood needs a mask token")
            count = len(self.ids)
            masked = sequence.repeat(count + 1, 1)
            positions = torch.arange(start, start + count)
            masked[torch.arange(count), positions] = special.mask
            self.inputs = masked  # rows 0..n-1 masked copies, row n the clean prompt
            self.read_rows, self.read_positions = torch.arange(count), positions
            self.clean_row = count
        self.pooled_index = sequence.shape[1] - 1
        with torch.no_grad():
            base = encoder.forward(self.inputs[self.clean_row:self.clean_row + 1], None, self.pooled_index)
        self.base_conditioning = base.conditioning[0].detach()
        self.base_pooled = base.pooled[0].detach()
        self._cond_scale = self.base_conditioning.pow(2).sum(-1).mean().clamp(min=1e-12)
        self._pooled_scale = self.base_pooled.pow(2).sum().clamp(min=1e-12)

    def terms(self, lora=None, with_keep: bool = True) -> ScoreTerms:
        """NLL, drift and pooled cosine in one forward pass."""
        rows = self.inputs if with_keep or self.encoder.causal else self.inputs[: self.clean_row]
        out = self.encoder.forward(rows, lora, self.pooled_index)
        states = out.final[self.read_rows, self.read_positions]
        nll = F.cross_entropy(self.calibration.logits(states, self.encoder.readout), self.targets)
        if not with_keep:
            zero = nll.new_zeros(())
            return ScoreTerms(nll, zero, zero + 1)
        conditioning, pooled = out.conditioning[self.clean_row], out.pooled[self.clean_row]
        drift = ((conditioning - self.base_conditioning).pow(2).sum(-1).mean() / self._cond_scale
                 + (pooled - self.base_pooled).pow(2).sum() / self._pooled_scale)
        cos = F.cosine_similarity(pooled, self.base_pooled, dim=0)
        return ScoreTerms(nll, drift, cos)

    def nll(self, lora=None) -> float:
        with torch.no_grad():
            return float(self.terms(lora, with_keep=False).nll)
