"""Text-to-LoRA: a per-prompt LoRA for a diffusion model's text encoder(s), proposed then optimised.

Modules, in pipeline order: ``text`` (prompt syntax stripping, tokenising), ``config`` (JSON target presets and
their validation against the loaded encoder), ``encoders`` (functional CLIP/BERT/T5 over private weights),
``assembler`` (flat parameters <-> per-module A/B), ``calibration`` (the tied readout, fitted once per model),
``scorer`` (causal next-token NLL or masked pseudo-log-likelihood), ``optimiser`` (Adam + keep + weight decay),
``proposer`` / ``proposer_train`` / ``corpus`` (the T2L-style hypernetwork and its distillation data),
``pipeline`` (the one call adapters make), ``output`` (the kohya file) and ``plot`` (the loss curve).
"""
