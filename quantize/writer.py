"""Write a model folder atomically: a hub watching models/ never sees half a model.

Files go into NAME.tmp-PID (which the hub ignores), then the folder is swapped into place
with renameat2(RENAME_EXCHANGE) when the kernel has it, so even a replacement is one step.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
from pathlib import Path

from hub.manifest import MANIFEST

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def file_entry(name: str, content: bytes, **extra) -> dict:
    return {"file": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest(), **extra}


def write_model(out_dir: Path, name: str, files: dict[str, bytes], manifest: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / name
    staging = out_dir / f"{name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for file_name, content in files.items():
        (staging / file_name).write_bytes(content)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if final.exists() and _exchange(staging, final):
        shutil.rmtree(staging)  # now holds the old model
    else:
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    return final
