"""What every capability shares: atomic file writes, configuration errors, the prompt's LoRA-tag syntax.

One definition of each (``tests/test_layering.py`` checks it), so a fix to how files are written or how
``<lora:name:w>`` is read reaches every capability at once.
"""

from .atomic import atomic_target, write_json_atomic, write_text_atomic
from .errors import ConfigError
from .prompt_syntax import EMBEDDING, LORA_TAG

__all__ = ["EMBEDDING", "LORA_TAG", "ConfigError", "atomic_target", "write_json_atomic", "write_text_atomic"]
