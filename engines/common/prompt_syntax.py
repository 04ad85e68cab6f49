"""The prompt syntax that is not text, as ComfyUI/A1111 write it, read the same way by every capability.

``LORA_TAG`` matches ``<lora:name>``, ``<lora:name:0.8>`` and ``<lora:name:0.8:0.6>`` (also ``lyco``, ``locon``,
``hypernet``; any case, spaces around the parts), with the groups (kind, name, model weight, clip weight); parts after the clip weight (some UIs add
a block-weight preset) are matched and ignored.
``EMBEDDING`` matches ``embedding:name`` with the name as its group.
"""

from __future__ import annotations

import re

LORA_TAG = re.compile(r"<\s*(lora|lyco|locon|hypernet)\s*:\s*([^:<>]+?)\s*"
                      r"(?::\s*([^:<>]*?)\s*)?(?::\s*([^:<>]*?)\s*)?(?::[^<>]*)?>", re.IGNORECASE)
EMBEDDING = re.compile(r"embedding:([^\s,()\[\]<>]+)", re.IGNORECASE)
