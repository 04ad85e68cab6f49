"""Brand LoRA stacks: a library of brand folders, a byte-budgeted cache of loaded LoRAs, preload, A/B weights.

Typical use (what the BrandLoRAStack node and the ``/lora/...`` routes do)::

    service = BrandService.from_env(os.environ, lora_dirs=lambda: [Path("models/loras")])
    entries = node_entries("acme", 0.8, '[{"brand_id": "acme", "weight": 0.6, "type": "product"}]')
    items = resolve_items(service.library, entries)
    model, clip, report = apply_items(model, clip, items, service.cache, applier, target, strict=False)
"""

from __future__ import annotations

from .ab import Arm, apply_arm, arm_results, assign_arm, brand_experiment, experiment_id, parse_arms
from .cache import CachedLora, FileKey, Lookup, LoraCache, counters_balanced, file_key
from .config import CacheConfig, ConfigError, parse_size, preload_refs
from .describe import MetadataMemo, listing
from .entries import WEIGHT_RANGE, StackConfigError, StackEntry, check_weight, node_entries, parse_lora_configs
from .ids import MAX_ID_LENGTH, PRIMARY_ROLE, BrandIdError, BrandRef, child_path, validate_brand_id
from .library import BrandLibrary, BrandNotFoundError, Resolved
from .scan import METADATA_FILE, Brand, BrandFile, BrandRoot
from .service import BrandService, brand_roots
from .sidecar import BrandSidecar, read_sidecar
from .stack import ArmReport, Fallback, StackError, StackItem, apply_items, resolve_items

__all__ = [
    "MAX_ID_LENGTH", "METADATA_FILE", "PRIMARY_ROLE", "WEIGHT_RANGE", "Arm", "ArmReport", "Brand", "BrandFile",
    "BrandIdError", "BrandLibrary", "BrandNotFoundError", "BrandRef", "BrandRoot", "BrandService", "BrandSidecar",
    "CacheConfig", "CachedLora", "ConfigError", "Fallback", "FileKey", "Lookup", "LoraCache", "MetadataMemo",
    "Resolved", "StackConfigError", "StackEntry", "StackError", "StackItem", "apply_arm", "apply_items",
    "arm_results", "assign_arm", "brand_experiment", "brand_roots", "check_weight", "child_path", "counters_balanced", "experiment_id",
    "file_key", "listing", "node_entries", "parse_arms", "parse_lora_configs", "parse_size", "preload_refs",
    "read_sidecar", "resolve_items", "validate_brand_id",
]
