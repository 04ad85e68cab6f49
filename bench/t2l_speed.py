"""Speed of text-to-LoRA at real CLIP-L shapes against a plain transformers + PEFT loop, in the same run.

Ours: the functional CLIP over the padded 77-token window the UNet reads, plus one other order of the tokens per
step (a row cut after its last read position: a causal state never sees later positions), LoRA as thin matmuls,
one flat Adam vector, the conditioning budget; timed from the cast of the matrices and the unmodified forward (the
proposer's input) through the proposal and ``steps`` Adam steps. Plain: ``CLIPTextModel`` wrapped by PEFT (r,
alpha, q_proj/v_proj), two full 77-token rows per step (the prompt and one other order), the same objective
(calibrated tied readout on the prompt positions, the penalised gain of the other order, the keep term over all
77 states) and steps.
Both use the same random CLIP-L weights and the same 20-token prompt. Each loop runs once cold first (reported
separately: the first loop in a process also pays oneDNN's kernel creation), then ``repeats`` times (median).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from .timing import median


def _prompt_ids(tokens: int) -> list[int]:
    from ..engines.tokenizers import clip_tokenizer

    words = ("a watercolor painting of a red fox sleeping under a blooming cherry tree at dusk, soft light, "
             "highly detailed, calm mood, pastel colors, wide shot, gentle breeze, petals falling")
    ids = clip_tokenizer()(words, add_special_tokens=False)["input_ids"]
    if len(ids) < tokens:
        raise ValueError(f"the benchmark prompt has only {len(ids)} tokens")
    return ids[:tokens]


def _setup(rank: int, seed: int):
    from ..engines import tiny_models
    from ..engines.text_to_lora.assembler import build_assembly
    from ..engines.text_to_lora.calibration import Calibration
    from ..engines.text_to_lora.config import LoadedEncoderFacts, load_config, validate_against
    from ..engines.text_to_lora.encoders import encoder_from_transformers, linear_shapes
    from ..engines.text_to_lora.proposer import Proposer, ProposerSpec

    model = tiny_models.clip_text_model(tiny_models.CLIP_L_CONFIG, seed=seed)
    encoder = encoder_from_transformers("clip", model)
    target = load_config("sd15").encoders[0]
    shapes = linear_shapes(encoder.weights)
    paths = validate_against(target, LoadedEncoderFacts(encoder.hidden_size, encoder.num_layers,
                                                        encoder.vocab_size, shapes))
    assembly = build_assembly("clip_l", paths, shapes, rank, float(rank))
    # Worst-case calibration cost: a full linear map + temperature + bias (values do not change the timing).
    calibration = Calibration(1.0, torch.zeros(encoder.vocab_size), torch.eye(encoder.hidden_size), "linear")
    spec = ProposerSpec("clip_l", "sd15", "bench", encoder.hidden_size, rank, float(rank),
                        tuple((s.path, s.in_features, s.out_features) for s in assembly.slots))
    return model, encoder, assembly, calibration, Proposer(spec).eval()


def run_ours(encoder, assembly, calibration, proposer, ids, steps: int, lr: float,
             dtype: torch.dtype = torch.float32, device: str = "cpu", budget: float = 0.05, negatives: int = 6
             ) -> tuple[float, list[float]]:
    """Proposal + ``steps`` steps of the real objective: read layer, 77 kept positions, one of ``negatives``
    other orders per step, the conditioning budget. Timed from the cast of the matrices (part of every run)."""
    from ..engines.text_to_lora.encoders.base import SpecialTokens
    from ..engines.text_to_lora.optimiser import OptimiseConfig, optimise
    from ..engines.text_to_lora.scorer import PromptScorer, ScoreWindow, negative_orders
    from ..engines.tokenizers import clip_tokenizer

    tokenizer = clip_tokenizer()
    special = SpecialTokens(tokenizer.bos_token_id, tokenizer.eos_token_id, None, tokenizer.eos_token_id)
    _sync(device)
    start = time.perf_counter()
    if dtype != torch.float32 or device != "cpu":
        encoder = encoder.with_matrix_dtype(dtype, device)
    scorer = PromptScorer(encoder, special, ids, calibration, ScoreWindow(77), negative_orders(ids, 0, negatives))
    proposal = proposer.propose(scorer.base_pooled.cpu()).to(device)
    config = OptimiseConfig(steps=steps, learning_rate=lr, budget=budget, negatives=negatives, probe_steps=0)
    result = optimise(scorer, assembly, proposal, config)
    _sync(device)
    return time.perf_counter() - start, result.nll


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def run_plain(model, calibration, ids, steps: int, lr: float, rank: int, budget: float = 0.05, negatives: int = 6
              ) -> tuple[float, list[float]]:
    """The straightforward loop: PEFT-wrapped CLIPTextModel over the padded 77-token window, the same objective
    (NLL, the gain of one of ``negatives`` other orders per step penalised, the keep term over all 77 positions in
    units of the budget)."""
    import copy

    from peft import LoraConfig, get_peft_model

    from ..engines.text_to_lora.scorer import negative_orders

    start = time.perf_counter()
    bos, eos = 49406, 49407
    rows = [list(ids)] + [list(order) for order in negative_orders(ids, 0, negatives)]
    window = torch.tensor([[bos] + row + [eos] * (77 - len(row) - 1) for row in rows])
    peft_model = get_peft_model(copy.deepcopy(model), LoraConfig(r=rank, lora_alpha=rank,
                                                                 target_modules=["q_proj", "v_proj"]))
    readout = model.get_input_embeddings().weight.detach()
    targets = torch.tensor(rows)
    with torch.no_grad():
        base = model(input_ids=window).last_hidden_state
        base_nlls = [F.cross_entropy(calibration.logits(base[k, : len(ids)], readout), targets[k])
                     for k in range(len(rows))]
    params = [p for p in peft_model.parameters() if p.requires_grad]
    adam = torch.optim.Adam(params, lr=lr)
    nll_curve = []
    for step in range(steps):
        order = 1 + step % (len(rows) - 1)
        states = peft_model(input_ids=window[[0, order]]).last_hidden_state
        nll = F.cross_entropy(calibration.logits(states[0, : len(ids)], readout), targets[0])
        negative = F.cross_entropy(calibration.logits(states[1, : len(ids)], readout), targets[order])
        change = (states[0] - base[0]).norm() / base[0].norm()
        loss = nll + 2.0 * torch.relu(base_nlls[order] - negative) + (change / budget) ** 2
        adam.zero_grad()
        loss.backward()
        adam.step()
        nll_curve.append(float(nll.detach()))
    return time.perf_counter() - start, nll_curve


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    model, encoder, assembly, calibration, proposer = _setup(args.rank, args.seed)
    ids = _prompt_ids(args.tokens)
    from ..engines.text_to_lora.pipeline import matrix_dtype

    dtype = matrix_dtype(args.precision)
    same = {"budget": args.budget, "negatives": args.negatives}
    # One untimed-in-the-median run of each first: the first loop in a process also pays oneDNN's kernel
    # creation for these shapes (reported as the cold times).
    cold = run_ours(encoder, assembly, calibration, proposer, ids, args.steps, args.lr, dtype, **same)[0]
    cold_plain = run_plain(model, calibration, ids, args.steps, args.lr, args.rank, **same)[0]
    ours_times, fp32_times, plain_times, ours_curve, plain_curve = [], [], [], [], []
    for _ in range(args.repeats):
        seconds, ours_curve = run_ours(encoder, assembly, calibration, proposer, ids, args.steps, args.lr, dtype,
                                       **same)
        ours_times.append(seconds)
        if dtype != torch.float32:
            fp32_times.append(run_ours(encoder, assembly, calibration, proposer, ids, args.steps, args.lr, **same)[0])
        seconds, plain_curve = run_plain(model, calibration, ids, args.steps, args.lr, args.rank, **same)
        plain_times.append(seconds)
    speed, plain = median(ours_times), median(plain_times)
    return {
        "speed_s": round(speed, 3),
        "plain_loop_s": round(plain, 3),
        "speedup_vs_plain": round(plain / speed, 2),
        "speed_runs_s": [round(t, 3) for t in ours_times],
        "speed_cold_s": round(cold, 3), "plain_cold_s": round(cold_plain, 3),
        "speed_precision": str(dtype).replace("torch.", ""),
        "speed_fp32_s": round(median(fp32_times), 3) if fp32_times else round(speed, 3),
        "speedup_fp32_vs_plain": round(plain / median(fp32_times), 2) if fp32_times else round(plain / speed, 2),
        "plain_runs_s": [round(t, 3) for t in plain_times],
        "speed_setup": {"shape": "CLIP-L random init (12 x 768, vocab 49408)", "prompt_tokens": len(ids),
                        "rank": args.rank, "modules": len(assembly.slots), "steps": args.steps,
                        "threads": torch.get_num_threads(), "positions_ours": 77 + len(ids), "positions_plain": 2 * 77,
                        "rows": 2, "load_average": _load()},
        # Same objective, same start: the first-step NLLs agree (a check that both loops compute the same thing).
        "speed_first_nll": {"ours": round(ours_curve[0], 5), "plain": round(plain_curve[0], 5)},
    }


def _load() -> list[float]:
    """The 1/5/15-minute load average when the timing was taken (the machine may be shared)."""
    import os

    return [round(value, 2) for value in os.getloadavg()]
