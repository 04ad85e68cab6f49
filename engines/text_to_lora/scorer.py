"""The alignment score and the keep measure, both on the states the diffusion model reads.

The score: how probable the prompt's own tokens are given the (LoRA-modified) encoder's **conditioning states**,
the layer the diffusion model reads (``encoder.read_layer``: ComfyUI's CLIP Set Last Layer setting, or the
preset's layer), never a later layer the model ignores. Causal encoders (CLIP) predict token i+1 from the
state at i through the tied readout (the token-embedding matrix). Bidirectional encoders (T5, BERT) get a masked
pseudo-log-likelihood: one copy of the prompt per token with that token replaced by the mask token, read at the
masked position. The raw tied readout of an encoder that was never trained as a language model is uncalibrated,
so every score goes through a frozen :class:`~.calibration.Calibration` fitted once per model and read layer.

The keep measure covers everything the model reads: the conditioning at **every position of the padded window**
(all 77 for CLIP, including those after the end token; the padded length for T5) and the pooled vector when the
model uses it (``pooled_used``). ``change`` is the relative L2 change of the full conditioning
(``|C - C0|_F / |C0|_F``), ``pooled_change`` that of the pooled vector; ``conditioning_change`` is the larger,
the figure the budget bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .calibration import Calibration
from .encoders.base import SpecialTokens


@dataclass
class ScoreTerms:
    """One evaluation (tensors): mean NLL of the prompt tokens and the changes of what the model reads."""

    nll: torch.Tensor
    change: torch.Tensor  # relative L2 change of the conditioning over the whole padded window
    pooled_change: torch.Tensor  # relative L2 change of the pooled vector (0 when the model does not use it)
    pooled_cos: torch.Tensor
    nll_negative: torch.Tensor | None = None  # mean NLL of the negatives (other orders), 0 without them
    read_change: torch.Tensor | None = None  # bidirectional: relative L2 change of the masked copies' states
    negative_gain: torch.Tensor | None = None  # mean NLL drop of the scored negatives against the unmodified encoder

    @property
    def drift(self) -> torch.Tensor:
        """The keep term: squared relative changes of everything the model reads (and the score reads)."""
        extra = 0 if self.read_change is None else self.read_change.pow(2)
        return self.change.pow(2) + self.pooled_change.pow(2) + extra

    @property
    def conditioning_change(self) -> torch.Tensor:
        """The larger relative change of what the diffusion model reads: the padded sequence or the pooled vector."""
        return torch.maximum(self.change, self.pooled_change)

    @property
    def bounded_change(self) -> torch.Tensor:
        """What the budget bounds: the conditioning change, and for a masked score also the masked copies' states,
        which the model never reads but the score does (without this a LoRA could key on the mask token and
        lower the score while the conditioning hardly moves)."""
        if self.read_change is None:
            return self.conditioning_change
        return torch.maximum(self.conditioning_change, self.read_change)


@dataclass(frozen=True)
class ScoreWindow:
    """What the diffusion model reads of one encoder: the padded length (0 = unpadded), the pad id (None = the
    tokenizer's, else its end token) and whether its pooled vector is used."""

    padded_length: int = 0
    pad_token: int | None = None
    pooled_used: bool = False


def padded_sequence(special: SpecialTokens, ids, padded_length: int, pad_token: int | None) -> list[int]:
    """``[BOS] ids [EOS]`` padded to ``padded_length`` with ``pad_token`` (the window the model reads)."""
    sequence = special.wrap(ids)
    if padded_length > len(sequence):
        pad = pad_token if pad_token is not None else (special.pad if special.pad is not None else special.eos)
        if pad is None:
            raise ValueError("padding the window needs a pad token (none configured and the tokenizer has none)")
        sequence += [pad] * (padded_length - len(sequence))
    return sequence


class PromptScorer:
    """Scores one token sequence under one encoder; the unmodified encoder's outputs are the keep reference.

    ``negatives`` are other orders of the same tokens, scored in the same forward pass: the optimiser penalises
    any gain on them, so a LoRA cannot lower the score by raising the prompt's words regardless of their order
    (a bag-of-words shift that the shuffled-prompt control would show). The reported control is another order.
    """

    def __init__(self, encoder, special: SpecialTokens, ids, calibration: Calibration,
                 window: ScoreWindow | None = None, negatives=()):
        window = window or ScoreWindow()
        self.encoder, self.special, self.window = encoder, special, window
        self.calibration = calibration.to(encoder.device)
        self.ids = [int(i) for i in ids]
        if not self.ids:
            raise ValueError("nothing to score: the prompt has no tokens")
        if encoder.causal and special.bos is None:
            raise ValueError("a causal score needs a start token to predict the first prompt token from")
        if not encoder.causal and special.mask is None:
            raise ValueError("a masked pseudo-log-likelihood needs a mask token")
        device = encoder.device
        blocks = [self._rows(list(seq), window) for seq in [self.ids, *negatives]]
        self.negatives = len(blocks) - 1
        clean = [] if encoder.causal else [padded_sequence(special, self.ids, window.padded_length, window.pad_token)]
        self.inputs = torch.tensor([row for block in blocks for row in block[0]] + clean, device=device)
        self.clean_row = 0 if encoder.causal else len(self.inputs) - 1
        self._views = {None: _view(blocks, range(len(blocks)), encoder.causal, device)}
        self._views.update({k: _view(blocks, (0, k + 1), encoder.causal, device) for k in range(self.negatives)})
        full = self._views[None]
        self.read_rows, self.read_positions, self.all_targets = full.read_rows, full.read_positions, full.targets
        self.targets = blocks[0][3].to(device)
        self._read_length = int(self.read_positions.max()) + 1  # positions a causal row is read up to
        self.pooled_index = len(special.wrap(self.ids)) - 1
        self.pooled_used = window.pooled_used
        self.masked_rows = None if encoder.causal else len(blocks[0][0])  # rows 0..n-1: the prompt's masked copies
        with torch.no_grad():
            base = encoder.forward(self.inputs[self.clean_row:self.clean_row + 1], None, self.pooled_index,
                                   need_pooled=True)
            self.base_negative_nlls = None  # each negative order's unmodified NLL: its gain is measured from it
            if self.negatives:
                rows = full.rows if encoder.causal else full.rows[:-1]
                self.base_negative_nlls = _order_nlls(full, self._losses(full, self._forward(rows, None, False)[1]))
            if self.masked_rows:
                self.base_masked = encoder.forward(self.inputs[: self.masked_rows], None, self.pooled_index,
                                                   need_pooled=False).conditioning.detach()
                self._masked_norm = self.base_masked.norm().clamp(min=1e-12)
        self.base_conditioning = base.conditioning[0].detach()
        self.base_pooled = base.pooled[0].detach()
        self._cond_norm = self.base_conditioning.norm().clamp(min=1e-12)
        self._pooled_norm = self.base_pooled.norm().clamp(min=1e-12)

    def _rows(self, ids: list[int], window: ScoreWindow):
        """(input rows, read rows within them, read positions, targets) for one sequence."""
        sequence = padded_sequence(self.special, ids, window.padded_length, window.pad_token)
        start, count = self.special.offset, len(ids)
        if self.encoder.causal:
            return [sequence], torch.zeros(count, dtype=torch.long), torch.arange(start - 1, start - 1 + count), \
                torch.tensor(ids)
        masked = [list(sequence) for _ in range(count)]
        for row, position in enumerate(range(start, start + count)):
            masked[row][position] = self.special.mask
        return masked, torch.arange(count), torch.arange(start, start + count), torch.tensor(ids)

    @property
    def positions(self) -> int:
        """Positions the keep term covers (the whole window the diffusion model reads)."""
        return int(self.inputs.shape[1])

    def terms(self, lora=None, with_keep: bool = True, negative: int | None = None) -> ScoreTerms:
        """NLL (prompt and negatives) and the conditioning changes in one forward pass.

        ``negative``: score only that one of the negative orders (index taken modulo their number; the optimiser
        passes its step, so the steps take the orders in turn at the cost of one), or all of them (None).
        """
        view = self._views[None if negative is None or not self.negatives else negative % self.negatives]
        rows = view.rows if with_keep or self.encoder.causal else view.rows[:-1]
        out, conditioning = self._forward(rows, lora, with_keep and self.pooled_used)
        losses = self._losses(view, conditioning)
        nll = losses[view.owner == 0].mean()
        zero = nll.new_zeros(())
        negative_nll, negative_gain = zero, zero
        if self.negatives:
            per_order = _order_nlls(view, losses)
            negative_nll = per_order.mean()
            if self.base_negative_nlls is not None:
                negative_gain = (self.base_negative_nlls[[k - 1 for k in view.orders]] - per_order).mean()
        if not with_keep:
            return ScoreTerms(nll, zero, zero, zero + 1, negative_nll, None, negative_gain)
        clean = view.clean_row
        change = (out.conditioning[clean] - self.base_conditioning).norm() / self._cond_norm
        read = None
        if self.masked_rows:
            read = (out.conditioning[: self.masked_rows] - self.base_masked).norm() / self._masked_norm
        if not self.pooled_used:
            return ScoreTerms(nll, change, zero, zero + 1, negative_nll, read, negative_gain)
        pooled = out.pooled[clean]
        return ScoreTerms(nll, change, (pooled - self.base_pooled).norm() / self._pooled_norm,
                          F.cosine_similarity(pooled, self.base_pooled, dim=0), negative_nll, read, negative_gain)

    def _losses(self, view: _View, conditioning: torch.Tensor) -> torch.Tensor:
        """Per read position of ``view``: the calibrated NLL of its target token."""
        states = conditioning[view.read_rows, view.read_positions]
        return F.cross_entropy(self.calibration.logits(states, self.encoder.readout), view.targets, reduction="none")

    def _forward(self, rows: torch.Tensor, lora, need_pooled: bool):
        """(output of the prompt's rows, conditioning of every row to read the scores from).

        Causal encoders: the other orders are read only at their token positions, and a causal state never
        depends on a later position, so their rows stop at the last read position (the padding after it, up to
        77 positions, is kept only for the prompt, whose whole window the keep term covers). The same states,
        at about 60% of the cost of two full rows for a 20-token prompt.
        """
        if not self.encoder.causal or len(rows) == 1:
            out = self.encoder.forward(self.inputs[rows], lora, self.pooled_index, need_pooled=need_pooled)
            return out, out.conditioning
        prompt = self.encoder.forward(self.inputs[rows[:1]], lora, self.pooled_index, need_pooled=need_pooled)
        others = self.encoder.forward(self.inputs[rows[1:], : self._read_length], lora, self.pooled_index,
                                      need_pooled=False).conditioning
        padding = prompt.conditioning.shape[1] - others.shape[1]
        return prompt, torch.cat([prompt.conditioning, F.pad(others, (0, 0, 0, padding))])

    def nll(self, lora=None) -> float:
        with torch.no_grad():
            return float(self.terms(lora, with_keep=False).nll)


@dataclass(frozen=True)
class _View:
    """The rows of one evaluation: the prompt's block, the chosen negatives' blocks and (masked) the clean row."""

    rows: torch.Tensor
    read_rows: torch.Tensor
    read_positions: torch.Tensor
    targets: torch.Tensor
    owner: torch.Tensor  # 0 = the prompt, k = negative order k (k >= 1)
    orders: tuple[int, ...]  # the negative orders in this view (1-based)
    clean_row: int  # the unmasked prompt row within ``rows``


def _view(blocks, chosen, causal: bool, device) -> _View:
    rows, read_rows, positions, targets, owner, offset = [], [], [], [], [], 0
    starts = [0]
    for block in blocks:
        starts.append(starts[-1] + len(block[0]))
    for index in chosen:
        block_rows, block_read, block_positions, block_targets = blocks[index]
        rows.append(torch.arange(starts[index], starts[index + 1]))
        read_rows.append(block_read + offset)
        positions.append(block_positions)
        targets.append(block_targets)
        owner.append(torch.full_like(block_targets, index))
        offset += len(block_rows)
    if not causal:  # the clean prompt last, so a score without the keep term can drop it
        rows.append(torch.tensor([starts[-1]]))
    clean = 0 if causal else offset
    return _View(torch.cat(rows).to(device), torch.cat(read_rows).to(device), torch.cat(positions).to(device),
                 torch.cat(targets).to(device), torch.cat(owner).to(device), tuple(k for k in chosen if k), clean)


def _order_nlls(view: _View, losses: torch.Tensor) -> torch.Tensor:
    """Mean NLL of each negative order in ``view`` (in ``view.orders``' order)."""
    return torch.stack([losses[view.owner == k].mean() for k in view.orders])


def negative_orders(ids, seed: int, count: int) -> list[tuple[int, ...]]:
    """``count`` other orders of ``ids`` for the objective, never the order the reported control uses."""
    from .text import shuffled

    control, out = shuffled(ids, seed), []
    for offset in range(1, 50):
        if len(out) >= count:
            break
        order = shuffled(ids, seed + 7919 * offset)
        if order != tuple(ids) and order != control and order not in out:
            out.append(order)
    return out


def collect_states(encoder, special: SpecialTokens, sequences: list[list[int]], max_positions: int = 1536,
                   window: ScoreWindow | None = None):
    """(states N x width, targets N): what the scorer reads, for the unmodified encoder over a corpus.

    The calibration is fitted on exactly these: the read layer's states at the scored positions.
    """
    identity = Calibration(1.0, torch.zeros(encoder.vocab_size))
    states, targets = [], []
    count = 0
    with torch.no_grad():
        for ids in sequences:
            if count >= max_positions:
                break
            scorer = PromptScorer(encoder, special, ids, identity, window)
            rows = scorer.inputs if encoder.causal else scorer.inputs[: scorer.clean_row]
            out = encoder.forward(rows, None, scorer.pooled_index, need_pooled=False)
            states.append(out.conditioning[scorer.read_rows, scorer.read_positions].cpu())
            targets.append(scorer.targets.cpu())
            count += len(ids)
    return torch.cat(states)[:max_positions], torch.cat(targets)[:max_positions]
