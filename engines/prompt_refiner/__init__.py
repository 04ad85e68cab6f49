"""PromptRefiner: a small seq2seq model (Flan-T5 layout) with a LoRA adapter rewrites a vague prompt into a
structured one.

Typical use (what the node and ``POST /lora_lab/refiner/refine`` do)::

    service = RefinerService(roots=lambda: [Path("models/prompt_refiner")])
    result = service.refine_named("flan-t5-small", "my_adapter", "a cozy cabin", DecodeSettings())
    result.refined, result.report()

The request is the prompt with :class:`DecodeSettings`, the result a :class:`RefineResult`. Making the model:
``data`` (training pairs), ``local_base`` / ``pretrain`` (a base trained here), ``training`` (the adapter),
``evaluation``; serving: ``service`` (models, settings, cache, queues) over ``runtime``.
"""

from .errors import RefinerError
from .generation import DecodeSettings
from .runtime import RefineResult
from .service import RefinerService, RouteSettings

__all__ = ["DecodeSettings", "RefineResult", "RefinerError", "RefinerService", "RouteSettings"]
