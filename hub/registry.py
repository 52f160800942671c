"""The models this hub serves: scan models/, load each folder, and follow changes live.

Each folder is one model. A folder that fails to verify, parse or allocate is marked failed
with the reason while the others serve. Added, changed and removed folders are picked up by a
polling watcher (portable, and cheap for a handful of folders); a replaced model is swapped in
atomically and the old engine finishes the requests it already has before it stops.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .accelerators import AcceleratorPool
from .config import Config
from .engine import EngineClosed, EngineSettings, InvokeResult, ModelEngine
from .errors import BackendUnavailable, HubError, InferenceTimeout, ModelNotFound
from .events import EventBus
from .loader import load_model
from .manifest import NAME_PATTERN, ModelSpec
from .probe_cache import FILE_NAME as PROBE_CACHE_FILE, ProbeCache
from .runtime.litert import Runtime

log = logging.getLogger(__name__)

LOADING, READY, FAILED, UNAVAILABLE = "loading", "ready", "failed", "unavailable"


@dataclass
class ModelEntry:
    name: str
    folder: Path
    signature: tuple
    status: str = LOADING
    reason: str = ""
    spec: ModelSpec | None = None
    engine: ModelEngine | None = None
    loaded_at: float = field(default_factory=time.time)

    def require_ready(self) -> ModelEngine:
        if self.status != READY or self.engine is None:
            raise BackendUnavailable(f"model {self.name!r} is {self.status}: {self.reason or 'not loaded yet'}",
                                     model=self.name, status=self.status)
        return self.engine

    def to_json(self) -> dict:
        spec, engine = self.spec, self.engine
        out: dict = {"name": self.name, "status": self.status, "reason": self.reason or None,
                     "task": spec.task if spec else None, "backend": None}
        if engine is not None:
            out.update(engine.status())
        if spec is not None:
            out.update({
                **spec.describe(),
                "source": spec.source,
                "input": spec.inputs[0].to_json() if spec.inputs else None,
                "preprocess": spec.preprocess.to_json(),
                "labels": len(spec.labels),
                "variants": {r: {"file": v.path.name, "size": v.size, "accuracy": v.accuracy}
                             for r, v in spec.variants.items()},
                "accuracy": spec.accuracy(),
            })
        return out


def folder_signature(folder: Path) -> tuple[tuple, float]:
    """(name, size, mtime) of every file, and the newest mtime (to wait out a copy in progress)."""
    items, newest = [], 0.0
    with os.scandir(folder) as it:
        for entry in it:
            if entry.is_file():
                st = entry.stat()
                items.append((entry.name, st.st_size, st.st_mtime_ns))
                newest = max(newest, st.st_mtime)
    return tuple(sorted(items)), newest


def is_model_folder(entry: os.DirEntry) -> bool:
    """Hidden, temporary (quantize writes NAME.tmp-* then renames) and odd names are not models."""
    return entry.is_dir() and bool(NAME_PATTERN.match(entry.name)) and ".tmp" not in entry.name


class Registry:
    def __init__(self, config: Config, runtime: Runtime, pool: AcceleratorPool, bus: EventBus | None = None) -> None:
        self.config, self.runtime, self.pool = config, runtime, pool
        self.root = config.models_dir
        self.settings = EngineSettings(config.effective_cpu_workers(), config.engine.cpu_threads,
                                       config.engine.queue_size)
        self._entries: dict[str, ModelEntry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._bus = bus or EventBus()
        self.probe_cache = ProbeCache(Path(config.classroom.data_dir) / PROBE_CACHE_FILE, runtime.identity)
        self.ready = False

    # ---- lookup -------------------------------------------------------------------------------
    def entries(self) -> list[ModelEntry]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.name)

    def get(self, name: str) -> ModelEntry:
        with self._lock:
            entry = self._entries.get(name)  # a plain dict lookup: a name is never a path
        if entry is None:
            raise ModelNotFound(f"no model named {name!r}", model=name)
        return entry

    def quick(self, name: str, limit_ms: float, max_values: int) -> bool:
        """Whether a /v2 request for `name` is answered at once, with a small answer (hub/inline.py):
        ready, its engine `quick`, and at most `max_values` numbers out."""
        entry = self._entries.get(name)  # a hint: read without the lock, as the engine's
        if entry is None or entry.status != READY or entry.engine is None or entry.spec is None:
            return False
        values = sum(math.prod(t.shape) for t in entry.spec.outputs)
        return 0 < values <= max_values and entry.engine.executor.quick(limit_ms)

    def infer(self, name: str, inputs: list, timeout_s: float) -> tuple[ModelEntry, InvokeResult]:
        """Run `inputs` on the model; one retry when a reload swapped the engine underneath."""
        for _ in range(2):
            entry = self.get(name)
            try:
                future = entry.require_ready().submit(inputs)
            except EngineClosed:
                time.sleep(0.01)
                continue
            try:
                return entry, future.result(timeout=timeout_s)
            except TimeoutError:
                future.cancel()
                raise InferenceTimeout(f"{name} did not answer within {timeout_s:g} s", model=name) from None
        raise BackendUnavailable(f"model {name!r} is being reloaded; retry", model=name)

    # ---- loading --------------------------------------------------------------------------------
    def _load(self, name: str, folder: Path, signature: tuple) -> ModelEntry:
        """A new entry for the folder; a model replacing a serving one takes over its accelerator."""
        entry = ModelEntry(name, folder, signature)
        with self._lock:
            previous = self._entries.get(name)
        try:
            model = load_model(folder, self.config.models.probe_timeout_s, self.probe_cache)
            entry.spec = model.spec
            engine = ModelEngine(model, self.runtime, self.pool, self.settings, self._bus.publish)
            engine.start(previous.engine if previous else None)
        except BackendUnavailable as exc:
            entry.status, entry.reason = UNAVAILABLE, exc.message
        except HubError as exc:
            entry.status, entry.reason = FAILED, exc.message
        except Exception as exc:  # noqa: BLE001 - one bad model must never stop the others
            log.exception("loading %s failed unexpectedly", name)
            entry.status, entry.reason = FAILED, f"{type(exc).__name__}: {exc}"
        else:
            entry.engine, entry.status = engine, READY
        log.log(logging.INFO if entry.status == READY else logging.WARNING, "model %s: %s%s",
                name, entry.status, f" ({entry.reason})" if entry.reason else "",
                extra={"fields": {"MODEL": name, "MODEL_STATUS": entry.status}})
        return entry

    def _changes(self, settle: bool) -> tuple[dict[str, tuple], list[str]]:
        """Folders to (re)load with their signatures, and names whose folder is gone."""
        try:
            folders = {e.name: Path(e.path) for e in os.scandir(self.root) if is_model_folder(e)}
        except FileNotFoundError:
            folders = {}
        now = time.time()
        with self._lock:
            known = {n: e.signature for n, e in self._entries.items()}
        todo = {}
        for name, folder in folders.items():
            try:
                signature, newest = folder_signature(folder)
            except FileNotFoundError:
                continue  # removed while we looked
            if known.get(name) == signature:
                continue
            if settle and now - newest < self.config.models.settle_s:
                continue  # still being copied; look again next round
            todo[name] = (folder, signature)
        return todo, [n for n in known if n not in folders]

    def scan(self, settle: bool = True) -> None:
        todo, removed = self._changes(settle)
        if todo:
            with ThreadPoolExecutor(max_workers=min(4, len(todo))) as pool:
                loaded = list(pool.map(lambda item: self._load(item[0], *item[1]), todo.items()))
            for entry in loaded:
                self._swap(entry.name, entry)
        for name in removed:
            self._swap(name, None)

    def add(self, name: str) -> ModelEntry:
        """Load one folder now, without waiting for the watcher: a model the hub itself has just
        written (a taught model the teacher saved), in place and complete."""
        folder = self.root / name
        signature, _ = folder_signature(folder)
        entry = self._load(name, folder, signature)
        self._swap(name, entry)
        return entry

    def _swap(self, name: str, entry: ModelEntry | None) -> None:
        with self._lock:
            old = self._entries.pop(name, None)
            if entry is not None:
                self._entries[name] = entry
        if old is not None and old.engine is not None:
            threading.Thread(target=old.engine.drain_and_stop, args=(self.config.engine.request_timeout_s,),
                             name=f"{name}-drain", daemon=True).start()
        if old is not None or entry is not None:
            self._bus.publish("models_changed", {"model": name, "status": entry.status if entry else "removed"})

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self, watch: bool = True) -> None:
        """Load every folder now (the hub is ready after this), then watch for changes."""
        if not self.root.is_dir():
            log.warning("models folder %s does not exist: serving no models until it does", self.root)
        self.scan(settle=False)
        self.ready = True
        if watch:
            self._watcher = threading.Thread(target=self._watch, name="models-watcher", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.config.models.scan_interval_s):
            try:
                self.scan()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one bad scan
                log.exception("scanning %s failed", self.root)

    def close(self) -> None:
        self._stop.set()
        for entry in self.entries():
            if entry.engine is not None:
                entry.engine.stop()
        self.pool.close()
