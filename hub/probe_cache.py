"""Remember the model files a probe child already loaded and ran, so a restart skips the child.

When systemd restarts the hub after a crash, the probe child (a second Python that imports the
runtime and runs every model once) is a third of the hub's start-up. A file with the same sha256,
tried by the same runtime build, behaves the same, so its earlier result is as good as a new try.
Only passes are remembered, keyed on the hash of the bytes the parent serves; a changed file
has a new hash and is tried again. The file holds model hashes and tensor shapes, nothing about
pupils. It lives in the data folder, which only the hub's own user can write.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from .probe import ProbeResult

log = logging.getLogger(__name__)

FILE_NAME = "probe-cache.json"
FORMAT = 1
MAX_FILES = 64  # a classroom has a handful of models; old versions fall out


class ProbeCache:
    """sha256 -> what the probe child reported, for one Runtime.identity; safe across threads."""

    def __init__(self, path: Path, identity: str) -> None:
        self.path, self.identity = path, identity
        self._lock = threading.Lock()
        self._files = self._read()

    def _read(self) -> dict[str, dict]:
        try:
            stored = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring the probe cache %s (%s); model files will be tried again", self.path, exc)
            return {}
        if not isinstance(stored, dict) or stored.get("format") != FORMAT or stored.get("runtime") != self.identity:
            return {}  # another runtime (an upgrade) or another layout: every file is tried again
        files = stored.get("files")
        return files if isinstance(files, dict) else {}

    def get(self, path: Path, sha256: str) -> ProbeResult | None:
        with self._lock:
            record = self._files.get(sha256)
        if not isinstance(record, dict):
            return None
        try:
            return ProbeResult(path, list(record["inputs"]), list(record["outputs"]), bool(record["compiled"]), sha256)
        except (KeyError, TypeError):
            return None

    def put(self, results: list[ProbeResult]) -> None:
        """Remember passes the child made with this very runtime (it chooses its own)."""
        results = [r for r in results if r.runtime == self.identity]
        if not results:
            return
        with self._lock:
            for result in results:
                self._files[result.sha256] = {"inputs": result.inputs, "outputs": result.outputs,
                                              "compiled": result.compiled, "seen": round(time.time())}
            newest = sorted(self._files.items(), key=lambda kv: kv[1].get("seen", 0), reverse=True)[:MAX_FILES]
            self._files = dict(newest)
            self._write({"format": FORMAT, "runtime": self.identity, "files": self._files})

    def _write(self, stored: dict) -> None:
        """Atomically (a half-written cache must never be read), and only into a data folder that
        exists: the hub makes it at start, and `classroom-hub models` run elsewhere leaves no trace.
        A folder it cannot write only costs speed."""
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".probe-cache-", dir=self.path.parent)
            with os.fdopen(fd, "w") as fh:
                json.dump(stored, fh)
            os.replace(tmp, self.path)
        except OSError as exc:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            log.info("cannot keep the probe cache in %s (%s): every start tries the model files again",
                     self.path.parent, exc)
