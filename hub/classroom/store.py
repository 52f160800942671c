"""The running class on disk, so that it survives a restart: SQLite (Python's own `sqlite3`) in
the data folder, WAL, every write committed with `synchronous = FULL` before the hub answers, so
an acknowledged answer survives a power cut.

What is kept: the class (code, activity, paused), the roster (nicknames, each pupil's activity
state, hashed resume tokens, removed or let back in), the answers as judged, what the class is
teaching the hub (each example as the numbers a model made of it, with who gave it: hub/teach/),
and the teacher's sessions (hashed). Never a picture or a recording. Ending the class deletes its rows with
`secure_delete` on, then truncates the WAL, so no nickname is left in either file.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError

log = logging.getLogger(__name__)
FILE_NAME = "classroom.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS class (
    code TEXT PRIMARY KEY, started_at REAL NOT NULL, expires_at REAL NOT NULL,
    activity TEXT NOT NULL, paused INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS student (
    id TEXT PRIMARY KEY, nickname TEXT NOT NULL, joined_at REAL NOT NULL, token_hash TEXT,
    removed INTEGER NOT NULL DEFAULT 0, let_back INTEGER NOT NULL DEFAULT 0, states TEXT NOT NULL DEFAULT '{}',
    last_answer TEXT);
CREATE TABLE IF NOT EXISTS answer (
    id INTEGER PRIMARY KEY, student_id TEXT NOT NULL, activity TEXT NOT NULL, prompt TEXT NOT NULL,
    given TEXT NOT NULL, expected TEXT, correct INTEGER, response_ms INTEGER NOT NULL, mode TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS session (token_hash TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS teacher_address (key TEXT PRIMARY KEY, last_login REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS teach_project (
    name TEXT PRIMARY KEY, labels TEXT NOT NULL, kind TEXT NOT NULL, backbone TEXT NOT NULL,
    frozen INTEGER NOT NULL DEFAULT 0, reopened_from TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS teach_example (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, label INTEGER NOT NULL, given_by TEXT NOT NULL,
    features BLOB NOT NULL);
"""
TEACH_TABLES = ("teach_example", "teach_project")  # erased with the class (a saved model keeps its own copy)
KEEP_ADDRESSES = 16  # the teacher's devices remembered (hashed), the most recent first
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26  # a damaged file, as opposed to one the hub cannot write
SQLITE_FULL = 13
NEARLY_FULL_BYTES = 1 << 20  # a write failing with less than this free is put down to a full disk


class DamagedDatabase(Exception):
    """The file is not a class database SQLite can read (open_store moves it aside)."""


class Store:
    """One connection, used under a lock (a classroom's writes are small and few)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = self._open(path)

    @staticmethod
    def _open(path: Path | None) -> sqlite3.Connection:
        target = ":memory:" if path is None else str(path)
        made = path is not None and not path.exists()  # if opening fails, leave nothing behind
        db = None
        try:
            db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            checked = db.execute("PRAGMA quick_check").fetchone()  # a damaged file fails here, before any write
            if checked is None or checked[0] != "ok":
                raise DamagedDatabase(str(checked[0] if checked else "no answer to quick_check"))
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")  # the commit is on disk before the hub acknowledges
            db.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not just unlinked
            db.executescript(SCHEMA)
        except (sqlite3.Error, DamagedDatabase) as exc:
            if db is not None:
                db.close()
            if made:
                for leftover in database_files(path):
                    leftover.unlink(missing_ok=True)
            if isinstance(exc, DamagedDatabase) or getattr(exc, "sqlite_errorcode", None) in (SQLITE_CORRUPT,
                                                                                          SQLITE_NOTADB):
                raise DamagedDatabase(str(exc)) from None
            raise ConfigError(f"cannot use the class database {target} ({exc}): {_fix(exc, path)}") from None
        return db

    def write(self, *statements: tuple[str, tuple], synced: bool = True) -> list[int]:
        """Statements in one transaction, committed (and synced, unless `synced` is off for this
        commit) before this returns; the row id each statement inserted."""
        with self._lock:
            if not synced:
                self._db.execute("PRAGMA synchronous = NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    ids = [self._db.execute(sql, args).lastrowid for sql, args in statements]
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if not synced:
                    self._db.execute("PRAGMA synchronous = FULL")
        return ids

    def rows(self, sql: str, args: tuple = ()) -> list[dict]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def erase_class(self) -> None:
        """Every row about the class and its pupils, gone for good, and the WAL emptied."""
        try:
            self.write(("DELETE FROM answer", ()), ("DELETE FROM student", ()), ("DELETE FROM class", ()),
                       *((f"DELETE FROM {table}", ()) for table in TEACH_TABLES))
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot delete the class from {self.path} ({exc}): {_fix(exc, self.path)}") from None
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # secure_delete overwrote the rows: into the file
                self._db.execute("VACUUM")  # free pages too: nothing of the class stays in the file
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # VACUUM needs a copy's worth of free space; the rows are gone anyway
                log.warning("the class is deleted from %s but the file could not be compacted (%s): %s",
                            self.path, exc, _fix(exc, self.path))

    # ---- what the class writes ---------------------------------------------------------------------
    def start_class(self, code: str, started_at: float, expires_at: float, activity: str) -> None:
        self.write(("INSERT INTO class (code, started_at, expires_at, activity) VALUES (?, ?, ?, ?)",
                    (code, started_at, expires_at, activity)))

    def set_class(self, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.write((f"UPDATE class SET {sets}", tuple(int(v) if isinstance(v, bool) else v for v in fields.values())))

    def put_student(self, student: dict) -> None:
        self.write(("INSERT OR REPLACE INTO student (id, nickname, joined_at, token_hash, removed, let_back, states, "
                    "last_answer) VALUES (:id, :nickname, :joined_at, :token_hash, :removed, :let_back, :states, "
                    ":last_answer)", student))

    def add_answer(self, answer: dict, student: dict) -> None:
        """The answer and the pupil's new state, in one synced commit (before the acknowledgement)."""
        self.write(("INSERT INTO answer (student_id, activity, prompt, given, expected, correct, response_ms, mode, "
                    "at) VALUES (:student_id, :activity, :prompt, :given, :expected, :correct, :response_ms, "
                    ":mode, :at)", answer),
                   ("UPDATE student SET states = :states, last_answer = :last_answer WHERE id = :id", student))

    def forget_student(self, student_id: str) -> None:
        self.write(("DELETE FROM answer WHERE student_id = ?", (student_id,)),
                   ("DELETE FROM teach_example WHERE given_by = ?", (student_id,)),
                   ("DELETE FROM student WHERE id = ?", (student_id,)))

    def load_class(self) -> tuple[dict, list[dict], list[dict]] | None:
        rows = self.rows("SELECT * FROM class")
        if not rows:
            return None
        return rows[0], self.rows("SELECT * FROM student"), self.rows("SELECT * FROM answer ORDER BY id")

    # ---- what the class teaches the hub (hub/teach/) ----------------------------------------------------
    def put_project(self, project: dict) -> None:
        self.write(("INSERT OR REPLACE INTO teach_project (name, labels, kind, backbone, frozen, reopened_from, "
                    "created_at) VALUES (:name, :labels, :kind, :backbone, :frozen, :reopened_from, :created_at)",
                    project))

    def drop_project(self, name: str) -> None:
        self.write(("DELETE FROM teach_example WHERE project = ?", (name,)),
                   ("DELETE FROM teach_project WHERE name = ?", (name,)))

    def add_examples(self, project: str, examples: list[tuple[int, str, bytes]]) -> list[int]:
        """(label, given_by, features) rows, in one commit; their ids.

        Not synced before it returns (`synchronous = NORMAL` for this commit alone): the next synced
        commit (any answer) or checkpoint takes it to the disk. A power cut may lose the examples of
        the last moment, never the database; the fsync would cost each example 1 to 10 ms (this VM,
        an SD card), and an example is cheaper to give again than an answer."""
        return self.write(*(("INSERT INTO teach_example (project, label, given_by, features) VALUES (?, ?, ?, ?)",
                             (project, *example)) for example in examples), synced=False)

    def drop_examples(self, project: str, given_by: str) -> None:
        self.write(("DELETE FROM teach_example WHERE project = ? AND given_by = ?", (project, given_by)))

    def load_projects(self) -> list[tuple[dict, list[dict]]]:
        return [(p, self.rows("SELECT id, label, given_by, features FROM teach_example WHERE project = ? ORDER BY id",
                              (p["name"],)))
                for p in self.rows("SELECT * FROM teach_project ORDER BY created_at")]

    # ---- the teacher's sessions (hashed) -------------------------------------------------------------
    def add_session(self, token_hash: str, expires_at: float) -> None:
        self.write(("INSERT OR REPLACE INTO session VALUES (?, ?)", (token_hash, expires_at)),
                   ("DELETE FROM session WHERE expires_at < ?", (time.time(),)))

    def drop_session(self, token_hash: str) -> None:
        self.write(("DELETE FROM session WHERE token_hash = ?", (token_hash,)))

    def sessions(self) -> Iterator[tuple[str, float]]:
        for row in self.rows("SELECT token_hash, expires_at FROM session WHERE expires_at >= ?", (time.time(),)):
            yield row["token_hash"], row["expires_at"]

    def drop_sessions(self) -> None:
        """Every login ends (the PIN changed)."""
        self.write(("DELETE FROM session", ()))

    # ---- the teacher's devices (hashed addresses) and what auth keeps between starts -----------------------
    def teacher_addresses(self) -> list[str]:
        return [row["key"] for row in self.rows("SELECT key FROM teacher_address")]

    def remember_address(self, key: str) -> None:
        self.write(("INSERT OR REPLACE INTO teacher_address VALUES (?, ?)", (key, time.time())),
                   ("DELETE FROM teacher_address WHERE key NOT IN (SELECT key FROM teacher_address "
                    "ORDER BY last_login DESC LIMIT ?)", (KEEP_ADDRESSES,)))

    def forget_addresses(self) -> None:
        self.write(("DELETE FROM teacher_address", ()))

    def meta(self, key: str) -> Any:
        rows = self.rows("SELECT value FROM meta WHERE key = ?", (key,))
        try:
            return json.loads(rows[0]["value"]) if rows else None
        except ValueError:
            return None

    def set_meta(self, key: str, value: Any) -> None:
        self.write(("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, dumps(value))))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(data_dir: Path, keep: bool = True) -> Store:
    """The class database in the data folder; in memory (lost at a restart) when `keep` is off or
    the folder does not exist (as for `classroom-hub models`, which never writes there).

    A damaged file is moved aside (it cannot be resumed, and the hub can go on without it); a file
    the hub cannot write (read-only, disk full) is a ConfigError naming it and the fix."""
    if not keep or not data_dir.is_dir():
        return Store(None)
    path = data_dir / FILE_NAME
    try:
        return Store(path)
    except DamagedDatabase as exc:
        aside = path.with_name(f"{FILE_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            for part in database_files(path):
                if part.exists():
                    part.replace(aside.with_name(aside.name + part.name[len(FILE_NAME):]))
        except OSError as move:
            raise ConfigError(f"the class database {path} is damaged ({exc}) and cannot be moved aside ({move}): "
                              f"move or delete it by hand, then start again") from None
        log.warning("the class database %s was damaged (%s): moved it to %s and started without a class; it may "
                    "hold the last class's nicknames and answers, so delete it once you no longer need it",
                    path, exc, aside)
        return Store(path)


def database_files(path: Path) -> list[Path]:
    """The database and the files SQLite keeps beside it."""
    return [path] + [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _fix(exc: sqlite3.Error, path: Path | None) -> str:
    """What to do about a class database the hub cannot write."""
    folder = path.parent if path is not None else Path(".")
    return folder_fix(folder, full=getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL)


def folder_fix(folder: Path, full: bool = False) -> str:
    """The fix for a data folder the hub cannot write, in words for whoever looks after the hub."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        disk = os.statvfs(existing)
        read_only, free = bool(disk.f_flag & os.ST_RDONLY), disk.f_bavail * disk.f_frsize
    except OSError:
        read_only, free = False, None
    if read_only:
        return (f"the file system holding {folder} is read-only (mounted read-only, or a failing SD card); "
                "make it writable, or set [classroom] data_dir to a folder on a writable disk")
    if full or (free is not None and free < NEARLY_FULL_BYTES):  # SQLite may say "disk I/O error" on a full disk
        return f"the disk holding {folder} is full; free some space on it and start again"
    return (f"make {folder} writable by the hub's user (sudo chown -R classroom-hub {folder}), "
            "or set [classroom] data_dir to a folder it can write")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
