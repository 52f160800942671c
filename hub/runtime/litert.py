"""Which TFLite runtime this machine has: ai_edge_litert first, tflite_runtime as a fallback.

Ordered like python-engineio's async-mode choice: try each candidate, keep the first that
imports, and say which one won. tflite_runtime is older (numpy<2, no FULLY_CONNECTED v12,
crashes on truncated files), so callers must only hand it files a child process has verified.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from ..errors import HubError

log = logging.getLogger(__name__)

CANDIDATES = ("ai_edge_litert", "tflite_runtime")


@dataclass(frozen=True)
class Runtime:
    name: str  # "ai_edge_litert" or "tflite_runtime"
    version: str
    Interpreter: Callable[..., Any]
    load_delegate: Callable[..., Any]

    @property
    def safe_with_bad_files(self) -> bool:
        """LiteRT raises on a corrupt file; tflite_runtime may segfault."""
        return self.name == "ai_edge_litert"

    @property
    def identity(self) -> str:
        """What decides whether a model file loads: this runtime build, the Python, the CPU. The
        CPU's model too, not only its architecture: a card moved to another Pi, or a runtime that
        crashes on one CPU but not another (seen under emulation), must be tried again."""
        import platform

        from .. import machine

        return f"{self.name} {self.version}; python {platform.python_version()}; {platform.machine()}; {machine.cpu()}"


class RuntimeMissing(HubError):
    code = "runtime_missing"


def _import(name: str) -> Runtime:
    module = importlib.import_module(f"{name}.interpreter")
    package = importlib.import_module(name)
    version = getattr(package, "__version__", None)
    if version is None:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        dist = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}[name]
        try:
            version = dist_version(dist)
        except PackageNotFoundError:
            version = "unknown"
    return Runtime(name, version, module.Interpreter, module.load_delegate)


@lru_cache(maxsize=None)
def select_runtime(preferred: tuple[str, ...] = CANDIDATES) -> Runtime:
    """The first runtime of `preferred` that imports; raises RuntimeMissing naming the fix."""
    errors = []
    for name in preferred:
        try:
            runtime = _import(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        log.info("inference runtime: %s %s", runtime.name, runtime.version)
        return runtime
    raise RuntimeMissing(
        "no TFLite runtime is installed (" + "; ".join(errors) + "). "
        "Install one: pip install ai-edge-litert"
    )
