"""Errors every capability raises the same way: a setting that cannot work names its field and the rule."""

from __future__ import annotations

_UNSET = object()


class ConfigError(ValueError):
    """A setting (config field, environment variable, node input) that cannot work.

    Raise it with a full message, or with ``field``, ``rule`` and ``value`` and let it write one:
    ``ConfigError(field="rank", rule="a whole number from 1 to 256", value=0)`` ->
    ``"rank must be a whole number from 1 to 256, got 0"``. The parts stay available to reports and HTTP errors.
    """

    def __init__(self, message: str = "", *, field: str = "", rule: str = "", value: object = _UNSET) -> None:
        if not message:
            message = f"{field or 'setting'} must be {rule or 'valid'}"
            if value is not _UNSET:
                message += f", got {value!r}"
        super().__init__(message)
        self.field, self.rule = field, rule
        self.value = None if value is _UNSET else value
