"""The batch state store: one SQLite database (WAL) per output directory, one row per call.

Layout of an output directory::

    OUT/callqa.db                   table ``calls`` (one row per call, committed per call)
    OUT/transcripts/<call_id>.json  transcripts (:func:`callqa.transcript.save_transcript`)
    OUT/results/<call_id>.json      results (:meth:`callqa.result.CallResult.to_dict`)
    OUT/callqa.lock                 held (``flock``) by the ``callqa batch`` writing here

Readers (``callqa report``) use :meth:`Store.results` and :meth:`Store.failures`; the batch
runner uses the write methods. Only one process writes (the batch parent); WAL lets reports read
while a batch runs. Every write commits at once, so a killed batch loses at most the call that
was in flight.

Row life cycle: ``pending`` → ``transcribed`` (transcript file written) → ``scored`` (result
file written); any step can end in ``failed`` with ``error`` set.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from callqa import db
from callqa.errors import CallqaError
from callqa.result import CallResult, read_result

__all__ = ["DB_NAME", "DEFAULT_OUT_DIR", "EXIT_LOCKED", "LOCK_NAME", "STATUSES",
           "SCHEMA_VERSION", "OutputLock", "OutputLocked", "StoreError", "StoredResult", "Store", "lock_output",
           "mtime_iso", "safe_name"]

from callqa.db import DB_NAME  # noqa: E402 (re-exported: callers name it from here)
LOCK_NAME = "callqa.lock"
#: Exit code of a ``callqa batch`` that finds another batch writing to the same ``--out``.
EXIT_LOCKED = 4
#: ``--out`` default of ``callqa batch`` and ``callqa report``.
DEFAULT_OUT_DIR = Path("callqa-out")
STATUSES = ("pending", "transcribed", "scored", "failed")
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id          TEXT PRIMARY KEY,
    path             TEXT NOT NULL,
    audio_sha256     TEXT,
    agent_id         TEXT,
    agent_channel    TEXT,
    started_at       TEXT,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'transcribed', 'scored', 'failed')),
    error            TEXT,
    asr_seconds      REAL,
    score_seconds    REAL,
    audio_seconds    REAL,
    model            TEXT,
    rulebook_sha256  TEXT,
    transcript_path  TEXT,
    result_path      TEXT,
    updated_at       TEXT NOT NULL,
    asr_key          TEXT,
    score            REAL,
    passed           INTEGER,
    abs_path         TEXT,
    desk             TEXT
);
CREATE INDEX IF NOT EXISTS calls_status ON calls (status);
CREATE INDEX IF NOT EXISTS calls_started_at ON calls (started_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = ("call_id", "path", "audio_sha256", "agent_id", "agent_channel", "started_at",
            "status", "error", "asr_seconds", "score_seconds", "audio_seconds", "model",
            "rulebook_sha256", "transcript_path", "result_path", "updated_at", "asr_key",
            "score", "passed", "abs_path", "desk")
# Columns added after a store's first release: ``ALTER TABLE`` adds them to an older database.
_ADDED_COLUMNS = {"abs_path": "TEXT", "desk": "TEXT"}


class StoreError(CallqaError):
    """The output directory or its database cannot be used (exit code 2)."""


class OutputLocked(StoreError):
    """Another ``callqa batch`` holds the output directory's lock (exit code 4)."""

    exit_code = EXIT_LOCKED


@dataclass(frozen=True)
class StoredResult:
    """A finished (scored) call as reports see it.

    Attributes:
        call_id: the call's id (primary key of ``calls``).
        path: the recording path as it was given to ``callqa batch``.
        agent_id: the agent, or None when neither the manifest nor the filename said.
        started_at: ISO date or datetime from the manifest, else the file's mtime (ISO).
        result: the scored call.
        audio: the recording as an absolute path that exists now (the absolute path the batch
            recorded, else ``path`` as given when it resolves from here), or None when the
            recording cannot be found.
    """

    call_id: str
    path: str
    agent_id: str | None
    started_at: str | None
    result: CallResult
    audio: Path | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def safe_name(call_id: str) -> str:
    """A file name for a call id (ids from manifests may contain ``/`` or spaces)."""
    name = _UNSAFE.sub("_", call_id).strip("._") or "call"
    return name[:200]


class Store:
    """The state of one output directory. Open with :meth:`Store.open`; close when done."""

    def __init__(self, out_dir: Path, conn: sqlite3.Connection):
        self.out_dir = out_dir
        self.conn = conn

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, out_dir: str | Path) -> "Store":
        """Open (creating the directory, subdirectories and database when missing)."""
        out_dir = Path(out_dir)
        try:
            for sub in ("", "transcripts", "results"):
                (out_dir / sub).mkdir(parents=True, exist_ok=True)
            conn = db.connect(out_dir / DB_NAME)
            conn.executescript(_SCHEMA)
            have = {r["name"] for r in conn.execute("PRAGMA table_info(calls)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in have:
                    conn.execute(f"ALTER TABLE calls ADD COLUMN {name} {kind}")
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
            elif int(row["value"]) > SCHEMA_VERSION:
                conn.close()
                raise StoreError(str(out_dir / DB_NAME),
                                 f"written by a newer callqa (schema {row['value']})")
        except OSError as exc:
            raise StoreError(str(out_dir), f"cannot create output directory: "
                                           f"{exc.strerror or exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(str(out_dir / DB_NAME), f"cannot open database: {exc}") from None
        return cls(out_dir, conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ reading (reports)

    def results(self, since: date | None = None) -> list[StoredResult]:
        """Finished (scored) calls ordered by ``started_at`` (then call id); with ``since``,
        only calls started on or after that day. Calls whose result file is gone are left out."""
        sql = "SELECT * FROM calls WHERE status = 'scored'"
        args: list[Any] = []
        if since is not None:
            sql += " AND started_at >= ?"
            args.append(since.isoformat())
        sql += " ORDER BY started_at IS NULL, started_at, call_id"
        out = []
        for row in self.conn.execute(sql, args).fetchall():
            result = self._load_result(row)
            if result is not None:
                out.append(StoredResult(row["call_id"], row["path"], row["agent_id"],
                                        row["started_at"], result,
                                        _recording(row["abs_path"], row["path"])))
        return out

    def failures(self) -> list[dict]:
        """Calls that failed: ``call_id``, ``path``, ``error``, ``status`` (plus ``agent_id``,
        ``started_at``, ``updated_at``), ordered by path."""
        rows = self.conn.execute(
            "SELECT call_id, path, error, status, agent_id, started_at, updated_at FROM calls "
            "WHERE status = 'failed' ORDER BY path").fetchall()
        return [dict(r) for r in rows]

    def _load_result(self, row: sqlite3.Row) -> CallResult | None:
        return read_result(self.resolve(row["result_path"]))

    # ------------------------------------------------------------------ rows (runner)

    def get(self, call_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        return dict(row) if row else None

    def rows(self, status: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM calls", ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY call_id", args)]

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in
                self.conn.execute("SELECT status, COUNT(*) FROM calls GROUP BY status")}

    def update(self, call_id: str, **fields: Any) -> None:
        """Insert or update one call's row and commit (``path`` is required on insert). The
        recording's absolute path is recorded beside ``path`` (as given, maybe relative), so a
        report run from another directory still finds it."""
        if fields.get("path") and "abs_path" not in fields:
            fields["abs_path"] = os.path.abspath(fields["path"])
        bad = set(fields) - set(_COLUMNS)
        if bad:
            raise ValueError(f"unknown columns {sorted(bad)}")
        if fields.get("status", "pending") not in STATUSES:
            raise ValueError(f"bad status {fields['status']!r}")
        fields["updated_at"] = _now()
        names = list(fields)
        cols = ", ".join(["call_id", *names])
        marks = ", ".join("?" * (len(names) + 1))
        sets = ", ".join(f"{n} = excluded.{n}" for n in names)
        self.conn.execute(
            f"INSERT INTO calls ({cols}) VALUES ({marks}) "  # noqa: S608 - names are checked
            f"ON CONFLICT(call_id) DO UPDATE SET {sets}",
            (call_id, *fields.values()))

    def transcript_file(self, call_id: str) -> Path:
        return self.out_dir / "transcripts" / f"{safe_name(call_id)}.json"

    def result_file(self, call_id: str) -> Path:
        return self.out_dir / "results" / f"{safe_name(call_id)}.json"

    def relative(self, path: Path) -> str:
        """Paths in the db are relative to the output directory, so it can be moved."""
        try:
            return str(path.relative_to(self.out_dir))
        except ValueError:
            return str(path)

    def resolve(self, stored: str | None) -> Path | None:
        if not stored:
            return None
        p = Path(stored)
        p = p if p.is_absolute() else self.out_dir / p
        return p if p.is_file() else None

    def write_result(self, result: CallResult) -> Path:
        """Write a result file atomically (temp file + rename)."""
        path = self.result_file(result.call_id)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)
        return path


def _recording(abs_path: str | None, path: str | None) -> Path | None:
    """The recording if it can be found: the absolute path recorded by the batch, else the
    path as given (relative to the current directory, for stores written before ``abs_path``)."""
    for candidate in (abs_path, path):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


class OutputLock:
    """The held lock of an output directory: closing it (or leaving its ``with``) removes
    ``OUT/callqa.lock`` and releases the lock, so a finished batch leaves nothing behind."""

    def __init__(self, path: Path, fh: Any):
        self.path, self.fh = path, fh

    def close(self) -> None:
        if self.fh.closed:
            return
        try:  # unlink while still holding it: a waiter that opened it re-checks the inode
            self.path.unlink()
        except OSError:
            pass
        self.fh.close()

    def __enter__(self) -> "OutputLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def lock_output(out_dir: str | Path) -> OutputLock:
    """Take the output directory's lock (``OUT/callqa.lock``, an exclusive ``flock``) for one
    batch run; it is held until closed (or the process ends, however it ends: a killed batch
    never leaves a stale lock, only a file the next run takes over).

    The file records who holds it (pid, host, start time) for the next one to read.

    Raises:
        OutputLocked: another process holds the lock; the message names it.
        StoreError: the directory or lock file cannot be created.
    """
    out_dir = Path(out_dir)
    path = out_dir / LOCK_NAME
    while True:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open as the lock
        except OSError as exc:
            raise StoreError(str(path), f"cannot create lock file: {exc.strerror or exc}") \
                from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = _holder(fh.read())
            fh.close()
            raise OutputLocked(str(out_dir), f"another callqa batch is writing to this output "
                                             f"directory ({holder}); wait for it to finish, or "
                                             f"give another --out") from None
        try:  # the holder before us may have removed the file we locked: take the new one
            if os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        fh.close()
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "started": datetime.now().astimezone().isoformat(timespec="seconds")}))
    fh.flush()
    return OutputLock(path, fh)


def _holder(text: str) -> str:
    try:
        who = json.loads(text)
        return f"pid {who['pid']} on {who['host']}, started {who['started']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


def mtime_iso(path: Path) -> str | None:
    """A file's modification time as a local ISO datetime (the ``started_at`` fallback)."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
    except OSError:
        return None
