"""What can go wrong when refining, as types the node, the routes and the CLI map to their own error forms."""

from __future__ import annotations

MODEL_HELP = ("Put a Flan-T5 folder (config.json, model.safetensors, tokenizer.json or spiece.model, "
              "tokenizer_config.json) in models/prompt_refiner/<base name>/ and an adapter made by "
              "`lora-lab refiner train --base <that folder> --data pairs.json --out models/prompt_refiner/<adapter name>` "
              "beside it (adapter_config.json, adapter_model.safetensors, training.json).")


class RefinerError(Exception):
    """Base of the refiner's own errors."""


class ModelUnavailableError(RefinerError):
    """A base model or adapter is missing or unusable; the message says which file and where to put what."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}. {MODEL_HELP}")


class AdapterMismatchError(ModelUnavailableError):
    """The adapter was trained for another base model (other shapes, vocabulary or weights)."""


class NotConfiguredError(RefinerError):
    """No base model + adapter is configured for the HTTP route (and none could be found)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}. {MODEL_HELP}")


class SettingsError(RefinerError):
    """The route's settings file is unreadable or invalid (a server-side problem, not the request's)."""


class BusyError(RefinerError):
    """More requests are waiting for a model than its queue holds."""


class GenerationTimeout(RefinerError):
    """A request waited or generated longer than its time limit."""
