"""Errors raised while reading, writing or converting LoRA files.

Every message names the file (or key) and says what was expected, so a user can act on it without a
traceback. They subclass ``ValueError`` so callers that only care about "bad input" can catch that.
"""

from __future__ import annotations

from os import PathLike


class LoraFileError(ValueError):
    """A LoRA file that cannot be used; ``path`` and ``problem`` are kept for reports and HTTP errors."""

    def __init__(self, path: str | PathLike[str], problem: str, hint: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        message = f"{self.path}: {problem}"
        super().__init__(f"{message}. {hint}" if hint else message)


class UnsafeFileError(LoraFileError):
    """A pickle-based file (.ckpt/.pt/.bin/...): loading it could run arbitrary code, so we refuse."""


class HeaderError(LoraFileError):
    """The safetensors header is missing, too large, past the end of the file, or not valid JSON."""


class TruncatedFileError(LoraFileError):
    """The file is shorter than its header says: an interrupted download or copy."""


class OutputExistsError(LoraFileError, FileExistsError):
    """Writing would replace an existing file and the caller did not ask to overwrite."""


class LayoutError(ValueError):
    """The tensor keys follow no known LoRA layout, or a conversion cannot be done losslessly."""
