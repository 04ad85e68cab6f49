"""Pure capability code: torch, safetensors, numpy, sqlite3 and the standard library only.

Nothing under ``engines`` may import ComfyUI (``comfy``, ``folder_paths``, ``server``, ``nodes``) or
aiohttp; ``tests/test_layering.py`` enforces it. Each capability is a subpackage that takes a config
dataclass in and gives a result dataclass out, so the nodes, the routes and the CLI share one code path.
"""
