"""``python -m comfyui_lora_lab.cli``: the same as the ``lora-lab`` command."""

import sys

from . import main

sys.exit(main())
