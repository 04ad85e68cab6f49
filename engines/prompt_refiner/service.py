"""The refiner as a shared service: the model folders, the route's configured model, the cache and the queues.

One instance lives in the pack's ``Lab`` (engines/lab.py) (inside ComfyUI, shared by the node and the routes; outside it,
built by ``lora-lab refiner serve``). Which model the HTTP route uses:

1. the base and adapter given explicitly (``lora-lab refiner serve --base DIR --adapter DIR``), else
2. the names in the settings file ``<user dir>/lora_lab/prompt_refiner.json`` (``{"base": ..., "adapter": ...}``,
   plus optional ``device``, ``precision``, ``queue_size``, ``timeout_s``, ``max_new_tokens``), else
3. the first adapter (by name) in the ``prompt_refiner`` folders, with the base its ``training.json`` names
   (or the first base found).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..progress import Progress, no_progress
from .cache import ModelCache
from .catalog import Catalog, scan
from .errors import ModelUnavailableError, NotConfiguredError, SettingsError
from .files import read_json
from .generation import MAX_NEW_TOKENS_LIMIT, DecodeSettings
from .precision import resolve_precision
from .runtime import DEVICES, LoadedRefiner, RefineResult

SETTINGS_FILE = "prompt_refiner.json"


@dataclass(frozen=True)
class RouteSettings:
    """How the HTTP route runs: which model (names in the folders), device, queue length and time limit."""

    base: str | None = None
    adapter: str | None = None
    device: str = "cpu"
    precision: str = "auto"
    queue_size: int = 4
    timeout_s: float = 60.0
    max_new_tokens: int = 256

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        resolve_precision(self.precision, self.device)
        if not 0 <= self.queue_size <= 64:
            raise ValueError(f"queue_size must be between 0 and 64, got {self.queue_size}")
        if not 0 < self.timeout_s <= 3600:
            raise ValueError(f"timeout_s must be in (0, 3600], got {self.timeout_s}")
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
            raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS_LIMIT}, got {self.max_new_tokens}")

    @classmethod
    def from_file(cls, path: Path) -> RouteSettings:
        try:
            body = read_json(path, "refiner settings")
        except (FileNotFoundError, ValueError) as exc:
            raise SettingsError(str(exc)) from None
        unknown = sorted(set(body) - {f.name for f in fields(cls)})
        if unknown:
            raise SettingsError(f"refiner settings {path}: unknown keys {unknown}; known: {[f.name for f in fields(cls)]}")
        try:
            return cls(**body)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"refiner settings {path}: {exc}") from None


@dataclass(frozen=True)
class ModelChoice:
    base_dir: Path
    adapter_dir: Path
    base: str
    adapter: str


class RefinerService:
    def __init__(self, roots: Callable[[], list[Path]], settings_file: Path | None = None,
                 fixed: tuple[Path, Path] | None = None, settings: RouteSettings | None = None,
                 cache: ModelCache | None = None) -> None:
        self._roots, self._settings_file, self._fixed, self._settings = roots, settings_file, fixed, settings
        self.cache = cache or ModelCache()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def catalog(self) -> Catalog:
        return scan(self._roots())

    def settings(self) -> RouteSettings:
        if self._settings is not None:
            return self._settings
        if self._settings_file is not None and self._settings_file.exists():
            return RouteSettings.from_file(self._settings_file)
        return RouteSettings()

    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """Threads for route requests: enough for the running one, every waiting one and a model load."""
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(self.settings().queue_size + 2,
                                                                       thread_name_prefix="prompt_refiner")
            return self._executor

    def route_choice(self) -> ModelChoice:
        """The model the HTTP route uses, or NotConfiguredError saying why there is none."""
        if self._fixed is not None:
            base_dir, adapter_dir = self._fixed
            return ModelChoice(Path(base_dir), Path(adapter_dir), Path(base_dir).name, Path(adapter_dir).name)
        settings, catalog = self.settings(), self.catalog()
        roots = ", ".join(str(r) for r in self._roots()) or "none configured"
        try:
            adapter = settings.adapter or _default_adapter(catalog)
            base = settings.base or catalog.trained_base(adapter) or next(iter(catalog.bases), None)
            if base is None:
                raise NotConfiguredError(f"no base model folder in the prompt_refiner folders ({roots})")
            return ModelChoice(catalog.base(base), catalog.adapter(adapter), base, adapter)
        except ModelUnavailableError as exc:
            raise NotConfiguredError(f"the route's model is not available ({exc.args[0].split('. Put')[0]})") from None
        except LookupError:
            raise NotConfiguredError(f"no adapter folder in the prompt_refiner folders ({roots})") from None

    def route_model(self) -> LoadedRefiner:
        choice = self.route_choice()
        settings = self.settings()
        return self.cache.get(choice.base_dir, choice.adapter_dir, settings.device, choice.base, choice.adapter,
                              settings.precision)

    def describe(self) -> dict:
        """What the route would use and why, what is in the folders, what is loaded (``GET /prompt_refiner/models``)."""
        catalog = self.catalog()
        try:
            choice, reason = self.route_choice(), None
        except (NotConfiguredError, SettingsError) as exc:
            choice, reason = None, str(exc)
        return {"configured": {"model": choice.base, "adapter": choice.adapter} if choice else None, "reason": reason,
                "bases": list(catalog.bases), "adapters": list(catalog.adapters), "loaded": self.cache.loaded(),
                "settings": _safe_settings(self)}

    def refine_named(self, base: str, adapter: str, prompt: str, settings: DecodeSettings, device: str = "cpu",
                     keep_loaded: bool = True, progress: Progress = no_progress,
                     precision: str = "auto") -> RefineResult:
        """The node's path: resolve names in the folders, wait for the model (no limit), refine, maybe unload."""
        catalog = self.catalog()
        base_dir, adapter_dir = catalog.base(base), catalog.adapter(adapter)
        loaded = self.cache.get(base_dir, adapter_dir, device, base, adapter, precision)
        try:
            loaded.queue.admit(None)
            return loaded.queue.run(lambda: loaded.refine(prompt, settings, progress=progress))
        finally:
            if not keep_loaded:
                self.cache.unload(base_dir, adapter_dir)


def _default_adapter(catalog: Catalog) -> str:
    """The first adapter whose training base is present, else the first adapter (LookupError if none)."""
    if not catalog.adapters:
        raise LookupError("no adapters")
    for name in catalog.adapters:
        if catalog.trained_base(name):
            return name
    return next(iter(catalog.adapters))


def _safe_settings(service: RefinerService) -> dict | str:
    try:
        return asdict(service.settings())
    except SettingsError as exc:
        return str(exc)
