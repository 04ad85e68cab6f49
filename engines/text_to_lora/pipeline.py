"""One prompt -> one text-encoder LoRA: the engine call the node and the CLI share.

Per encoder of the target config: tokenise the prompt with the encoder's own tokenizer, validate the config
against the loaded encoder, load (or fit once and store) the readout calibration, propose a start (trained
proposer, or the standard B = 0 init), optimise, then score the shuffled-token control with the same LoRA.
The result holds the canonical LoRA weights and a report; writing the file is :mod:`.output`'s job.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..lora_format import LoraModule, LoraWeights, ModuleKey, render
from ..lora_format.errors import LayoutError
from ..progress import Progress, no_progress
from . import calibration as calib
from . import device as device_policy
from .assembler import LoraAssembly, build_assembly, delta_cosine
from .config import ConfigError, LoadedEncoderFacts, TargetConfig, validate_against
from .corpus import generate
from .encoders.base import linear_shapes
from .optimiser import OptimiseConfig, OptimiseResult, optimise, project_into_budget
from .proposer import load_proposer
from .scorer import PromptScorer, ScoreWindow, collect_states, negative_orders
from .text import PromptTokens, shuffled, tokenize_prompt
from .tokenizer import EncoderTokenizer

_BLOCK = re.compile(r"\.(?:layers|block|layer)\.(\d+)\.")


def matrix_dtype(precision: str) -> torch.dtype:
    """The CPU hot loop's matrix dtype for ``precision`` (bf16 on ``auto`` where oneDNN has native bf16)."""
    return device_policy.plan("cpu", None, precision).matrix_dtype


@dataclass
class EncoderBundle:
    """A loaded encoder (private functional copy) and its tokenizer, under the config's component name.

    ``device``, ``pad_token`` and ``padded_length`` are what the host says (ComfyUI: where it put the encoder,
    its tokenizer's pad id and window); None means the config's values.
    """

    component: str
    encoder: object
    tokenizer: EncoderTokenizer
    device: str | None = None
    pad_token: int | None = None
    padded_length: int | None = None


@dataclass(frozen=True)
class T2LRequest:
    prompt: str
    config: TargetConfig
    optimise: OptimiseConfig = field(default_factory=OptimiseConfig)
    store: Path | None = None  # where calibrations live (and proposers are looked up); None = do not store
    proposers: dict[str, str] = field(default_factory=dict)  # component -> proposer file
    calibration_prompts: int = 128
    calibration_positions: int = 1536
    precision: str = "auto"  # matrices of the hot loop: float32, bfloat16, float16 (GPU), or auto (see .device)
    device: str | None = None  # None/"auto": where the host put the encoder, else the CPU
    layout: str = "kohya"  # the file layout the result will be written in (checked before any step)

    def __post_init__(self) -> None:
        if self.precision not in device_policy.PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(device_policy.PRECISIONS)}, "
                             f"got {self.precision!r}")


@dataclass
class EncoderReport:
    component: str
    tokens: int
    text: str
    nll_base: float  # calibrated unmodified encoder
    nll_start: float  # after the proposal (== nll_base from B = 0)
    nll_after: float
    nll_drop: float  # (base - after) / base
    drift: float  # conditioning change (the larger of sequence and pooled), <= budget
    pooled_cos: float
    control_nll_base: float
    control_nll_after: float
    control_gap: float  # prompt gain minus shuffled-prompt gain
    shuffle_specificity: float  # prompt gain / shuffled-prompt gain
    steps_run: int
    stopped: str
    seconds: float
    proposer: str
    conditioning_change: float = 0.0  # relative L2 over every position the model reads (and the pooled vector)
    sequence_change: float = 0.0
    pooled_change: float = 0.0
    masked_change: float | None = None  # masked score: change of the masked copies' states (also bounded)
    budget: float = 0.0
    control_gain_ratio: float = 0.0  # shuffled-prompt gain / prompt gain
    control_flagged: bool = False  # the shuffled control gained at least half as much as the prompt
    read_layer: str = "last"
    positions_kept: int = 0
    layers: int = 0  # adapted modules (at or below the read layer)
    learning_rate: float = 0.0  # after any back-off
    projections: int = 0
    device: dict = field(default_factory=dict)
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
    """Validate the config against the loaded encoder; the LoRA layout for it, on layers at or below the read layer.

    A LoRA on a block above the layer the diffusion model reads cannot change what the model sees (nor the score,
    which reads the same layer), only the pooled vector the keep term holds still: those modules are left out.
    """
    target = config.encoder(bundle.component)
    encoder = bundle.encoder
    shapes = linear_shapes(encoder.weights)
    facts = LoadedEncoderFacts(encoder.hidden_size, encoder.num_layers, encoder.vocab_size, shapes)
    paths = [p for p in validate_against(target, facts) if block_of(p) <= encoder.read_block]
    if not paths:
        raise ConfigError(f"encoder '{bundle.component}': no target layer is at or below the read layer "
                          f"{encoder.read_layer.describe()} (block {encoder.read_block}); target lower layers")
    return build_assembly(bundle.component, paths, shapes, config.lora_rank, config.lora_alpha), target


def block_of(path: str) -> int:
    """The transformer block a module path belongs to (``...layers.3...`` / ``...block.3...`` -> 3; else -1)."""
    match = _BLOCK.search(path)
    return int(match.group(1)) if match else -1


def score_window(bundle: EncoderBundle, target) -> ScoreWindow:
    """The window the model reads for this encoder: the host's padding when it said, else the config's."""
    length = bundle.padded_length if bundle.padded_length is not None else target.window_length
    pad = bundle.pad_token if bundle.pad_token is not None else target.pad_token
    return ScoreWindow(length, pad, target.pooled_used)


def calibration_for(bundle: EncoderBundle, config: TargetConfig, store: Path | None, prompts: int,
                    positions: int = 1536, progress: Progress = no_progress) -> calib.Calibration:
    """The stored calibration of this encoder and read layer, or a new fit (stored when ``store`` is given)."""
    print_ = calib.fingerprint(bundle.encoder)
    path = calib.calibration_path(store, config.name, bundle.component, print_) if store else None
    if path is not None and path.is_file():
        return calib.load_calibration(path, bundle.encoder)
    progress(0, 1, f"{bundle.component}: fitting the readout calibration (once per model and read layer)")
    target = config.encoder(bundle.component)
    window = bundle.tokenizer.window(target.max_tokens)
    sequences = [bundle.tokenizer.encode_text(p)[:window] for p in generate(prompts, "calibration")]
    states, targets = collect_states(bundle.encoder, bundle.tokenizer.special, [s for s in sequences if s],
                                     positions, score_window(bundle, target))
    fitted = calib.fit_calibration(bundle.encoder, states, targets)
    fitted.corpus = f"corpus.generate({prompts}, 'calibration')"
    if path is not None:
        os.makedirs(path.parent, exist_ok=True)
        calib.save_calibration(path, fitted)
    return fitted


def run(request: T2LRequest, bundles: list[EncoderBundle], progress: Progress = no_progress) -> T2LResult:
    """Optimise one LoRA per encoder of the config. Raises ValueError/ConfigError/NonFiniteError/BudgetError.

    Every setting is checked (:func:`preflight`) before the first calibration or optimiser step.
    """
    plans = preflight(request, bundles)
    by_component = {b.component: b for b in bundles}
    modules, reports = {}, []
    total = request.optimise.steps * len(request.config.encoders)
    for index, target in enumerate(request.config.encoders):
        bundle = by_component[target.component]
        offset = index * request.optimise.steps

        def step_progress(done, _total, message="", offset=offset):
            progress(done, total, message)

        report, flat, assembly = optimise_encoder(request, bundle, step_progress, offset, total,
                                                  plans[target.component])
        modules.update(assembly.to_weights(flat))
        reports.append(report)
    weights = LoraWeights(modules, "canonical")
    return T2LResult(weights, reports, request.config, request.prompt, request.optimise.seed)


def preflight(request: T2LRequest, bundles: list[EncoderBundle]) -> dict[str, device_policy.DevicePlan]:
    """Every check that needs no optimisation, so bad settings fail before step 1: encoders present, config against
    each encoder (layers, read layer), the output layout for the family, devices, and the memory estimate."""
    missing = {e.component for e in request.config.encoders} - {b.component for b in bundles}
    if missing:
        raise ConfigError(f"config '{request.config.name}' needs encoder(s) {sorted(missing)} that are not loaded "
                          f"(loaded: {sorted(b.component for b in bundles)}); this config is for another model")
    check_layout(request.config, request.layout)
    plans = {}
    for bundle in bundles:
        if bundle.component not in {e.component for e in request.config.encoders}:
            continue
        _, target = prepare(bundle, request.config)
        tokens = tokenize_prompt(request.prompt, bundle.tokenizer, bundle.tokenizer.window(target.max_tokens))
        plan = device_policy.plan(request.device, bundle.device, request.precision)
        needed = device_policy.estimate_bytes(target, len(tokens.ids), plan, checkpointing=target.kind == "t5",
                                              source_on_cpu=False)
        device_policy.check_fits(needed, device_policy.available_bytes(needed), f"encoder '{bundle.component}'")
        plans[bundle.component] = plan
    return plans


def check_layout(config: TargetConfig, layout: str) -> None:
    """ConfigError when the result could not be written in ``layout`` for the config's family (e.g. a BERT
    encoder in kohya naming), found before the run instead of after it."""
    probe = {ModuleKey(e.component, "probe"): LoraModule(torch.zeros(1, 1), torch.zeros(1, 1), 1.0)
             for e in config.encoders}
    try:
        render(LoraWeights(probe, "canonical"), layout, config.family)
    except LayoutError as exc:
        raise ConfigError(f"config '{config.name}' (family '{config.family}'): its LoRA cannot be written: {exc}; "
                          "use a diffusion-model preset (sd15, sdxl, sd3, flux)") from None


def optimise_encoder(request: T2LRequest, bundle: EncoderBundle, progress: Progress, offset: int = 0,
                     total: int | None = None, plan: device_policy.DevicePlan | None = None
                     ) -> tuple[EncoderReport, torch.Tensor, LoraAssembly]:
    assembly, target = prepare(bundle, request.config)
    tokens = tokenize_prompt(request.prompt, bundle.tokenizer, bundle.tokenizer.window(target.max_tokens),
                             bundle.tokenizer.decode)
    calibration = calibration_for(bundle, request.config, request.store, request.calibration_prompts,
                                  request.calibration_positions, progress)
    window = score_window(bundle, target)
    exact = PromptScorer(bundle.encoder, bundle.tokenizer.special, tokens.ids, calibration, window)
    plan = plan or device_policy.plan(request.device, bundle.device, request.precision)
    hot_encoder = bundle.encoder if plan.device == "cpu" and plan.matrix_dtype == torch.float32 else \
        bundle.encoder.with_matrix_dtype(plan.matrix_dtype, plan.device)
    hot = PromptScorer(hot_encoder, bundle.tokenizer.special, tokens.ids, calibration, window,
                       negative_orders(tokens.ids, request.optimise.seed, request.optimise.negatives))
    start = propose(request, bundle, assembly, exact, calibration)
    result = optimise(hot, assembly, start.to(plan.device), request.optimise, progress, offset, total)
    flat = project_into_budget(exact, assembly, result.flat.cpu(), request.optimise.budget)[0]
    report = _report(bundle, tokens, exact, assembly, start, result, flat, calibration,
                     request.proposers.get(bundle.component), request.optimise)
    report.device = plan.summary()
    report.precision = str(plan.matrix_dtype).replace("torch.", "")
    return report, flat, assembly


def propose(request: T2LRequest, bundle: EncoderBundle, assembly: LoraAssembly, scorer: PromptScorer,
            calibration) -> torch.Tensor:
    """The trained proposer's LoRA for this prompt, or the standard init (B = 0) without one."""
    proposer_file = request.proposers.get(bundle.component)
    if not proposer_file:
        return assembly.initial(request.optimise.seed)
    proposer = load_proposer(proposer_file, assembly, calibration.fingerprint)
    return proposer.propose(scorer.base_pooled.cpu())


def _report(bundle, tokens: PromptTokens, scorer: PromptScorer, assembly: LoraAssembly, start: torch.Tensor,
            result: OptimiseResult, flat: torch.Tensor, calibration, proposer_file, settings: OptimiseConfig
            ) -> EncoderReport:
    """Every number in the report is measured with the fp32 CPU encoder (whatever precision the loop used)."""
    control = PromptScorer(bundle.encoder, bundle.tokenizer.special, shuffled(tokens.ids, settings.seed),
                           calibration, scorer.window)
    lora = assembly.lora_params(flat)
    with torch.no_grad():
        base, final = scorer.terms(None), scorer.terms(lora)
        start_nll = float(scorer.terms(assembly.lora_params(start), with_keep=False).nll)
    nll_base, nll_after = float(base.nll), float(final.nll)
    control_base, control_after = control.nll(), control.nll(lora)
    gain, control_gain = nll_base - nll_after, control_base - control_after
    ratio = control_gain / gain if gain > 1e-9 else float("inf")
    proposal_norm, final_norm, cosine = delta_cosine(assembly, start, flat)
    return EncoderReport(
        component=bundle.component, tokens=len(tokens.ids), text=tokens.text, nll_base=nll_base,
        nll_start=start_nll, nll_after=nll_after,
        nll_drop=gain / nll_base if nll_base > 0 else 0.0, drift=float(final.conditioning_change),
        pooled_cos=float(final.pooled_cos), control_nll_base=control_base, control_nll_after=control_after,
        control_gap=gain - control_gain, shuffle_specificity=_ratio(gain, control_gain),
        conditioning_change=float(final.conditioning_change), sequence_change=float(final.change),
        pooled_change=float(final.pooled_change), budget=settings.budget,
        masked_change=None if final.read_change is None else float(final.read_change), control_gain_ratio=ratio,
        control_flagged=ratio >= 0.5, read_layer=bundle.encoder.read_layer.describe(),
        positions_kept=scorer.positions, layers=len(assembly.slots), learning_rate=result.learning_rate,
        projections=result.projections,
        steps_run=result.steps_run, stopped=result.stopped, seconds=round(result.seconds, 3),
        proposer=Path(proposer_file).name if proposer_file else "none", proposal_norm=proposal_norm,
        final_norm=final_norm, proposal_cosine=cosine, calibration=calibration.summary(),
        warnings=list(tokens.warnings) + list(result.warnings) + (
            [f"removed prompt syntax: {', '.join(tokens.removed_syntax)}"] if tokens.removed_syntax else []) + (
            [f"the shuffled prompt gained {ratio:.2f}x as much as the prompt: the LoRA is not specific to the "
             "word order"] if ratio >= 0.5 else []),
        curve=list(result.nll) + [result.final_nll])


def _ratio(gain: float, control_gain: float) -> float:
    """gain / control gain; a control that got worse (or did not move) counts as infinitely specific."""
    if control_gain <= 1e-9:
        return float("inf") if gain > 0 else 0.0
    return gain / control_gain
