"""The running class on disk, so that it survives a restart: SQLite (Python's own `sqlite3`) in
the data folder, WAL, every write committed with `synchronous = FULL` before the hub answers, so
an acknowledged answer survives a power cut.

What is kept: the class (code, activity, paused), the roster (nicknames, each pupil's activity
state, hashed resume tokens, removed or let back in), the answers as judged, and the teacher's
sessions (hashed). Never a picture or a recording. Ending the class deletes its rows with
`secure_delete` on, then truncates the WAL, so no nickname is left in either file.
"""
from __future__ import annotations

import json
import logging
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
"""


class Store:
    """One connection, used under a lock (a classroom's writes are small and few)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = self._open(path)

    @staticmethod
    def _open(path: Path | None) -> sqlite3.Connection:
        target = ":memory:" if path is None else str(path)
        try:
            db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")  # the commit is on disk before the hub acknowledges
            db.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not just unlinked
            db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot use the class database {target} ({exc}): check [classroom] data_dir "
                              "is writable and not full, or move the damaged file away") from None
        return db

    def write(self, *statements: tuple[str, tuple]) -> None:
        """Statements in one transaction, committed (and synced) before this returns."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def rows(self, sql: str, args: tuple = ()) -> list[dict]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def erase_class(self) -> None:
        """Every row about the class and its pupils, gone for good, and the WAL emptied."""
        self.write(("DELETE FROM answer", ()), ("DELETE FROM student", ()), ("DELETE FROM class", ()))
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("VACUUM")  # free pages too: nothing of the class stays in the file
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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
                   ("DELETE FROM student WHERE id = ?", (student_id,)))

    def load_class(self) -> tuple[dict, list[dict], list[dict]] | None:
        rows = self.rows("SELECT * FROM class")
        if not rows:
            return None
        return rows[0], self.rows("SELECT * FROM student"), self.rows("SELECT * FROM answer ORDER BY id")

    # ---- the teacher's sessions (hashed) -------------------------------------------------------------
    def add_session(self, token_hash: str, expires_at: float) -> None:
        self.write(("INSERT OR REPLACE INTO session VALUES (?, ?)", (token_hash, expires_at)),
                   ("DELETE FROM session WHERE expires_at < ?", (time.time(),)))

    def drop_session(self, token_hash: str) -> None:
        self.write(("DELETE FROM session WHERE token_hash = ?", (token_hash,)))

    def sessions(self) -> Iterator[tuple[str, float]]:
        for row in self.rows("SELECT token_hash, expires_at FROM session WHERE expires_at >= ?", (time.time(),)):
            yield row["token_hash"], row["expires_at"]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(data_dir: Path, keep: bool = True) -> Store:
    """The class database in the data folder; in memory (lost at a restart) when `keep` is off or
    the folder does not exist (as for `classroom-hub models`, which never writes there)."""
    if not keep or not data_dir.is_dir():
        return Store(None)
    return Store(data_dir / FILE_NAME)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
