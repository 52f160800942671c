"""What `classroom-hub serve` checks in its first process, before the server starts: the data
folder takes a write, the class database opens and the teacher's PIN file reads (or is made).
A problem is then one line naming the file and the fix (a ConfigError: exit 2) instead of the
server's worker failing with a traceback.

Kept apart from the app factory on purpose: gunicorn's master process imports this, not the
app, so it holds 29 MB instead of the 87 MB it held with numpy, OpenCV, LiteRT and Flask
(the worker imports those itself; bench/peers.py counts both processes' memory).
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from .classroom.auth import PIN_FILE, make_pin_file, read_pin_file
from .classroom.store import folder_fix, open_store
from .config import Config
from .errors import ConfigError


def make_data_folder(config: Config) -> None:
    """The serving hub keeps its PIN hash, certificates, probe cache and the running class here, so
    the folder must exist and take a write (a read-only card or a full disk would otherwise fail
    later, mid-lesson): if not, a ConfigError naming the folder and the fix. A trial file is written
    and removed, leaving nothing behind."""
    folder = Path(config.classroom.data_dir)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"the data folder {folder} is a file, not a folder: move the file away, "
                          "or set [classroom] data_dir to a folder")
    trial, made = None, not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, trial = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"classroom-hub")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        fix = folder_fix(folder, full=exc.errno in (errno.ENOSPC, errno.EDQUOT))
        if trial is not None:
            Path(trial).unlink(missing_ok=True)
            trial = None
        if made and folder.is_dir():
            with contextlib.suppress(OSError):
                folder.rmdir()  # made just now and of no use: leave nothing behind
        raise ConfigError(f"cannot write to the data folder {folder} ({exc.strerror or exc}): {fix}") from None
    finally:
        if trial is not None:
            Path(trial).unlink(missing_ok=True)


def prepare(config: Config, announce=print) -> None:
    """What `classroom-hub serve` checks before the server starts, in its first process, so that a
    start-up problem is one line naming the file and the fix (a ConfigError: exit 2) instead of
    the server's worker failing with a traceback: the class database opens (a damaged one is moved
    aside, with a warning) and the teacher's PIN file reads (or is made, and its PIN announced)."""
    data_dir = Path(config.classroom.data_dir)
    pin_file = None if config.teacher.pin else data_dir / PIN_FILE
    if pin_file is not None and (pin_file.exists() or pin_file.is_symlink()):
        read_pin_file(pin_file)  # before anything is written
        pin_file = None
    store = open_store(data_dir, config.classroom.durable)
    try:
        if pin_file is not None:
            make_pin_file(pin_file, announce)
    finally:
        store.close()
