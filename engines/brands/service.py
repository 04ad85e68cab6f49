"""The brand capability of one process: library, cache, metadata, preload and fallback counts together.

ComfyUI's node and the HTTP routes must see the same cache (a route that clears it, or reports its hits,
is useless otherwise), so one :class:`BrandService` lives on the shared ``Lab``.

Preloading runs in a daemon thread: starting it costs the same for 1 brand or 1,000, so ComfyUI's
start-up does not grow, and a request for a brand still loading waits for that one read (a hit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..lora_format import LoraFileError
from .cache import LoraCache
from .config import CacheConfig, base_dir
from .describe import MetadataMemo
from .ids import BrandIdError, BrandRef
from .library import BrandLibrary
from .scan import BrandRoot
from .stack import Fallback

log = logging.getLogger("lora_lab.brands")
BRANDS_FOLDER = "brands"


def _prefix_in(path: Path, lora_dirs: Sequence[Path]) -> str | None:
    real = path.resolve()
    for folder in lora_dirs:
        try:
            relative = real.relative_to(folder.resolve()).as_posix()
        except ValueError:
            continue
        return "" if relative == "." else relative
    return None


def brand_roots(base: Path | None, lora_dirs: Sequence[Path]) -> list[BrandRoot]:
    """``LORA_BASE_DIR`` first (brand folders directly inside it, as in the seed), then ``<loras>/brands``
    of every ComfyUI ``loras`` folder (extra_model_paths.yaml included)."""
    roots = [BrandRoot(base, _prefix_in(base, lora_dirs))] if base is not None else []
    return roots + [BrandRoot(folder / BRANDS_FOLDER, BRANDS_FOLDER) for folder in lora_dirs]


class BrandService:
    def __init__(self, roots: Callable[[], Sequence[BrandRoot]], cache: LoraCache | None = None) -> None:
        self.library = BrandLibrary(roots)
        self.cache = cache or LoraCache()
        self.metadata = MetadataMemo(self.library)
        self._lock = threading.Lock()
        self._fallbacks: Counter[str] = Counter()
        self._preload: dict = {"requested": [], "loaded": [], "already_cached": [], "failed": [], "done": True,
                               "seconds": None}
        self._preload_thread: threading.Thread | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], lora_dirs: Callable[[], Sequence[Path]]) -> BrandService:
        """Cache settings and ``LORA_BASE_DIR`` from ``environ``; ComfyUI's loras folders asked on each use."""
        config = CacheConfig.from_env(environ)
        base = base_dir(environ)
        return cls(lambda: brand_roots(base, [Path(p) for p in lora_dirs()]), LoraCache(config))

    def start_preload(self, refs: Sequence[BrandRef]) -> threading.Thread | None:
        """Load ``refs`` into the cache in a background thread; returns at once (None when there is nothing)."""
        if not refs:
            return None
        self._reset_preload(refs)
        thread = threading.Thread(target=self.preload, args=(list(refs),), name="lora-lab-brand-preload", daemon=True)
        self._preload_thread = thread
        thread.start()
        return thread

    def preload(self, refs: Sequence[BrandRef]) -> dict:
        """Load each brand's file into the cache now; failures are recorded, never raised."""
        start = time.perf_counter()
        self._reset_preload(refs)
        for ref in refs:
            outcome = self._preload_one(ref)
            with self._lock:
                self._preload[outcome[0]].append(outcome[1])
        with self._lock:
            self._preload.update(done=True, seconds=round(time.perf_counter() - start, 3))
            status = dict(self._preload)
        log.info("LoRA Lab: preloaded %d brand LoRA(s) in %.2f s (%d failed)", len(status["loaded"]),
                 status["seconds"], len(status["failed"]))
        return status

    def _reset_preload(self, refs: Sequence[BrandRef]) -> None:
        with self._lock:
            self._preload = {"requested": [r.label for r in refs], "loaded": [], "already_cached": [], "failed": [],
                             "done": False, "seconds": None}

    def _preload_one(self, ref: BrandRef) -> tuple[str, object]:
        try:
            path = self.library.resolve(ref).file.path
            return ("loaded" if self.cache.preload(path) else "already_cached"), ref.label
        except (BrandIdError, OSError, LoraFileError) as exc:
            log.warning("LoRA Lab: could not preload brand '%s': %s", ref.label, exc)
            return "failed", {"brand": ref.label, "reason": str(exc)}

    def wait_preload(self, timeout: float | None = None) -> bool:
        """True once the background preload (if any) has finished."""
        thread = self._preload_thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def record_fallbacks(self, fallbacks: Sequence[Fallback]) -> None:
        with self._lock:
            self._fallbacks.update(f.reason for f in fallbacks)

    def stats(self) -> dict:
        """Cache counters and timings, fallbacks by reason, and the preload's progress."""
        with self._lock:
            extra = {"fallbacks": dict(self._fallbacks), "preload": dict(self._preload)}
        return {**self.cache.stats(), **extra}
