"""One prompt -> one text-encoder LoRA: the engine call the node and the CLI share.

Per encoder of the target config: tokenise the prompt with the encoder's own tokenizer, validate the config
against the loaded encoder, load (or fit once and store) the readout calibration, propose a start (trained
proposer, or the standard B = 0 init), optimise, then score the shuffled-token control with the same LoRA.
The result holds the canonical LoRA weights and a report; writing the file is :mod:`.output`'s job.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..lora_format import LoraWeights
from ..progress import Progress, no_progress
from . import calibration as calib
from .assembler import LoraAssembly, build_assembly, delta_cosine
from .config import LoadedEncoderFacts, TargetConfig, validate_against
from .corpus import generate
from .encoders.base import linear_shapes
from .optimiser import OptimiseConfig, OptimiseResult, optimise
from .proposer import load_proposer
from .scorer import PromptScorer
from .text import PromptTokens, shuffled, tokenize_prompt
from .tokenizer import EncoderTokenizer


PRECISIONS = ("auto", "float32", "bfloat16")


def matrix_dtype(precision: str) -> torch.dtype:
    """bf16 for the frozen matmuls when asked, or on ``auto`` when oneDNN has native bf16 on this CPU."""
    if precision == "auto":
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
        return torch.bfloat16 if native else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


@dataclass
class EncoderBundle:
    """A loaded encoder (private functional copy) and its tokenizer, under the config's component name."""

    component: str
    encoder: object
    tokenizer: EncoderTokenizer


@dataclass(frozen=True)
class T2LRequest:
    prompt: str
    config: TargetConfig
    optimise: OptimiseConfig = field(default_factory=OptimiseConfig)
    store: Path | None = None  # where calibrations live (and proposers are looked up); None = do not store
    proposers: dict[str, str] = field(default_factory=dict)  # component -> proposer file
    calibration_prompts: int = 128
    calibration_positions: int = 1536
    precision: str = "auto"  # matrices of the hot loop: float32, bfloat16, or auto (bf16 where the CPU has it)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass
class EncoderReport:
    component: str
    tokens: int
    text: str
    nll_base: float  # calibrated unmodified encoder
    nll_start: float  # after the proposal (== nll_base from B = 0)
    nll_after: float
    nll_drop: float  # (base - after) / base
    drift: float
    pooled_cos: float
    control_nll_base: float
    control_nll_after: float
    control_gap: float  # prompt gain minus shuffled-prompt gain
    shuffle_specificity: float  # prompt gain / shuffled-prompt gain
    steps_run: int
    stopped: str
    seconds: float
    proposer: str
    proposal_norm: float = 0.0
    final_norm: float = 0.0
    proposal_cosine: float = 0.0
    calibration: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    curve: list[float] = field(default_factory=list)
    precision: str = "float32"


@dataclass
class T2LResult:
    weights: LoraWeights
    reports: list[EncoderReport]
    config: TargetConfig
    prompt: str
    seed: int

    def summary(self) -> dict:
        return {"prompt": self.prompt, "config": self.config.name, "family": self.config.family,
                "rank": self.config.lora_rank, "alpha": self.config.lora_alpha, "seed": self.seed,
                "encoders": [{k: v for k, v in asdict(r).items() if k != "curve"} for r in self.reports]}


def prepare(bundle: EncoderBundle, config: TargetConfig) -> tuple[LoraAssembly, object]:
    """Validate the config against the loaded encoder; the LoRA layout for it."""
    target = config.encoder(bundle.component)
    encoder = bundle.encoder
    shapes = linear_shapes(encoder.weights)
    facts = LoadedEncoderFacts(encoder.hidden_size, encoder.num_layers, encoder.vocab_size, shapes)
    paths = validate_against(target, facts)
    return build_assembly(bundle.component, paths, shapes, config.lora_rank, config.lora_alpha), target


def calibration_for(bundle: EncoderBundle, config: TargetConfig, store: Path | None, prompts: int,
                    positions: int = 1536, progress: Progress = no_progress) -> calib.Calibration:
    """The stored calibration of this encoder, or a new fit (stored when ``store`` is given)."""
    print_ = calib.fingerprint(bundle.encoder)
    path = calib.calibration_path(store, config.name, bundle.component, print_) if store else None
    if path is not None and path.is_file():
        return calib.load_calibration(path, bundle.encoder)
    progress(0, 1, f"{bundle.component}: fitting the readout calibration (once per model)")
    target = config.encoder(bundle.component)
    window = bundle.tokenizer.window(target.max_tokens)
    sequences = [bundle.tokenizer.encode_text(p)[:window] for p in generate(prompts, "calibration")]
    states, targets = calib.collect_states(bundle.encoder, bundle.tokenizer.special, [s for s in sequences if s],
                                           positions)
    fitted = calib.fit_calibration(bundle.encoder, states, targets)
    fitted.corpus = f"corpus.generate({prompts}, 'calibration')"
    if path is not None:
        os.makedirs(path.parent, exist_ok=True)
        calib.save_calibration(path, fitted)
    return fitted


def run(request: T2LRequest, bundles: list[EncoderBundle], progress: Progress = no_progress) -> T2LResult:
    """Optimise one LoRA per encoder of the config. Raises ValueError/ConfigError/NonFiniteError."""
    missing = {e.component for e in request.config.encoders} - {b.component for b in bundles}
    if missing:
        raise ValueError(f"config '{request.config.name}' needs encoder(s) {sorted(missing)} that are not loaded "
                         f"(loaded: {sorted(b.component for b in bundles)}); this config is for another model")
    by_component = {b.component: b for b in bundles}
    modules, reports = {}, []
    total = request.optimise.steps * len(request.config.encoders)
    for index, target in enumerate(request.config.encoders):
        bundle = by_component[target.component]
        offset = index * request.optimise.steps

        def step_progress(done, _total, message="", offset=offset):
            progress(done, total, message)

        report, flat, assembly = optimise_encoder(request, bundle, step_progress, offset, total)
        modules.update(assembly.to_weights(flat))
        reports.append(report)
    weights = LoraWeights(modules, "canonical")
    return T2LResult(weights, reports, request.config, request.prompt, request.optimise.seed)


def optimise_encoder(request: T2LRequest, bundle: EncoderBundle, progress: Progress, offset: int = 0,
                     total: int | None = None) -> tuple[EncoderReport, torch.Tensor, LoraAssembly]:
    assembly, target = prepare(bundle, request.config)
    tokens = tokenize_prompt(request.prompt, bundle.tokenizer, bundle.tokenizer.window(target.max_tokens),
                             bundle.tokenizer.decode)
    calibration = calibration_for(bundle, request.config, request.store, request.calibration_prompts,
                                  request.calibration_positions, progress)
    exact = PromptScorer(bundle.encoder, bundle.tokenizer.special, tokens.ids, calibration)
    dtype = matrix_dtype(request.precision)
    hot = exact if dtype == torch.float32 else PromptScorer(
        bundle.encoder.with_matrix_dtype(dtype), bundle.tokenizer.special, tokens.ids, calibration)
    start = propose(request, bundle, assembly, exact, calibration)
    result = optimise(hot, assembly, start, request.optimise, progress, offset, total)
    report = _report(bundle, tokens, exact, assembly, start, result, calibration,
                     request.proposers.get(bundle.component), request.optimise.seed)
    report.precision = str(dtype).replace("torch.", "")
    return report, result.flat, assembly


def propose(request: T2LRequest, bundle: EncoderBundle, assembly: LoraAssembly, scorer: PromptScorer,
            calibration) -> torch.Tensor:
    """The trained proposer's LoRA for this prompt, or the standard init (B = 0) without one."""
    proposer_file = request.proposers.get(bundle.component)
    if not proposer_file:
        return assembly.initial(request.optimise.seed)
    proposer = load_proposer(proposer_file, assembly, calibration.fingerprint)
    return proposer.propose(scorer.base_pooled)


def _report(bundle, tokens: PromptTokens, scorer: PromptScorer, assembly: LoraAssembly, start: torch.Tensor,
            result: OptimiseResult, calibration, proposer_file, seed: int) -> EncoderReport:
    """Every number in the report is measured with the fp32 encoder (whatever precision the loop used)."""
    control = PromptScorer(bundle.encoder, bundle.tokenizer.special, shuffled(tokens.ids, seed), calibration)
    lora = assembly.lora_params(result.flat)
    with torch.no_grad():
        base, final = scorer.terms(None), scorer.terms(lora)
        start_nll = float(scorer.terms(assembly.lora_params(start), with_keep=False).nll)
    nll_base, nll_after = float(base.nll), float(final.nll)
    control_base, control_after = control.nll(), control.nll(lora)
    gain, control_gain = nll_base - nll_after, control_base - control_after
    proposal_norm, final_norm, cosine = delta_cosine(assembly, start, result.flat)
    return EncoderReport(
        component=bundle.component, tokens=len(tokens.ids), text=tokens.text, nll_base=nll_base,
        nll_start=start_nll, nll_after=nll_after,
        nll_drop=gain / nll_base if nll_base > 0 else 0.0, drift=float(final.drift),
        pooled_cos=float(final.pooled_cos), control_nll_base=control_base, control_nll_after=control_after,
        control_gap=gain - control_gain, shuffle_specificity=_ratio(gain, control_gain),
        steps_run=result.steps_run, stopped=result.stopped, seconds=round(result.seconds, 3),
        proposer=Path(proposer_file).name if proposer_file else "none", proposal_norm=proposal_norm,
        final_norm=final_norm, proposal_cosine=cosine, calibration=calibration.summary(),
        warnings=list(tokens.warnings) + ([f"removed prompt syntax: {', '.join(tokens.removed_syntax)}"]
                                          if tokens.removed_syntax else []),
        curve=list(result.nll) + [result.final_nll])


def _ratio(gain: float, control_gain: float) -> float:
    """gain / control gain; a control that got worse (or did not move) counts as infinitely specific."""
    if control_gain <= 1e-9:
        return float("inf") if gain > 0 else 0.0
    return gain / control_gain
