"""The workbench's search index: the batch's results as SQLite tables the list and search query.

Built from the batch store (``calls`` rows and ``OUT/results/*.json``) into tables of the same
database, prefixed ``serve_``; :func:`sync` re-reads only calls whose row changed since the last
sync (``updated_at``), so a running server follows a batch that is still adding calls.

``serve_calls``      one row per scored call: agent, start, score, pass, roles, metrics
``serve_findings``   one row per automatic finding (rule, category, severity, moment)
``serve_utts``       one row per utterance (speaker, moment, text)
``serve_utts_fts``   FTS5 over the utterance text with the ``trigram`` tokenizer: Chinese has no
                     spaces, so any 3+ character substring is an index lookup; 1-2 character
                     queries fall back to a scan (``LIKE``)
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from callqa import db
from callqa.privacy.policy import DEFAULT_POLICY, PrivacyPolicy
from callqa.privacy.redact import redact_for
from callqa.result import CallResult

__all__ = ["SCHEMA", "connect", "ensure_schema", "sync", "load_result", "metrics_of"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS serve_calls (
    call_id     TEXT PRIMARY KEY,
    agent_id    TEXT,
    started_at  TEXT,
    path        TEXT,
    abs_path    TEXT,
    result_path TEXT,
    updated_at  TEXT,
    duration    REAL,
    score       REAL,
    passed      INTEGER,
    unscored    TEXT,
    roles       TEXT,
    n_findings  INTEGER,
    metrics     TEXT
);
CREATE INDEX IF NOT EXISTS serve_calls_started ON serve_calls (started_at);
CREATE INDEX IF NOT EXISTS serve_calls_agent ON serve_calls (agent_id, started_at);
CREATE INDEX IF NOT EXISTS serve_calls_score ON serve_calls (score);
CREATE TABLE IF NOT EXISTS serve_findings (
    call_id     TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    title       TEXT,
    category    TEXT,
    severity    TEXT,
    speaker     TEXT,
    start_s     REAL,
    end_s       REAL
);
CREATE INDEX IF NOT EXISTS serve_findings_call ON serve_findings (call_id);
CREATE INDEX IF NOT EXISTS serve_findings_rule ON serve_findings (rule_id, call_id);
CREATE INDEX IF NOT EXISTS serve_findings_category ON serve_findings (category, call_id);
CREATE TABLE IF NOT EXISTS serve_utts (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    speaker     TEXT,
    start_s     REAL,
    end_s       REAL,
    text        TEXT
);
CREATE INDEX IF NOT EXISTS serve_utts_call ON serve_utts (call_id);
CREATE VIRTUAL TABLE IF NOT EXISTS serve_utts_fts USING fts5(text, tokenize='trigram');
CREATE TABLE IF NOT EXISTS serve_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_lock = threading.Lock()


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection for one request (autocommit, rows by name, waits for the batch writer)."""
    return db.connect(db_path, check_same_thread=False)


def load_result(out_dir: Path, result_path: str | None) -> CallResult | None:
    """A stored result (paths in the db are relative to the output directory)."""
    if not result_path:
        return None
    p = Path(result_path)
    p = p if p.is_absolute() else out_dir / p
    try:
        return CallResult.from_dict(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _state(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT COUNT(*), MAX(updated_at) FROM calls").fetchone()
    return f"{row[0]}|{row[1]}"


def _drop(conn: sqlite3.Connection, call_ids: list[str]) -> None:
    for cid in call_ids:
        conn.execute("DELETE FROM serve_utts_fts WHERE rowid IN "
                     "(SELECT id FROM serve_utts WHERE call_id = ?)", (cid,))
        for table in ("serve_utts", "serve_findings", "serve_calls"):
            conn.execute(f"DELETE FROM {table} WHERE call_id = ?", (cid,))  # noqa: S608


def _add(conn: sqlite3.Connection, row: sqlite3.Row, r: CallResult,
         policy: PrivacyPolicy) -> None:
    # search sees the text as the policy shows it in search results: a masked number can
    # neither be shown nor found by its digits
    r = redact_for(r, policy, "search")
    conn.execute(
        "INSERT INTO serve_calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (row["call_id"], row["agent_id"], row["started_at"], row["path"], row["abs_path"],
         row["result_path"],
         row["updated_at"], r.duration, r.score, int(bool(r.passed)), r.unscored, r.roles,
         len(r.findings), json.dumps(r.metrics, ensure_ascii=False) if r.metrics else None))
    conn.executemany(
        "INSERT INTO serve_findings VALUES (?,?,?,?,?,?,?,?)",
        [(row["call_id"], f.rule_id, f.title, f.category, f.severity, f.speaker, f.start, f.end)
         for f in r.findings])
    for i, u in enumerate(r.utterances):
        cur = conn.execute(
            "INSERT INTO serve_utts (call_id, idx, speaker, start_s, end_s, text) "
            "VALUES (?,?,?,?,?,?)", (row["call_id"], i, u.speaker, u.start, u.end, u.text))
        conn.execute("INSERT INTO serve_utts_fts (rowid, text) VALUES (?, ?)",
                     (cur.lastrowid, u.text))


def sync(conn: sqlite3.Connection, out_dir: Path, force: bool = False,
         policy: PrivacyPolicy = DEFAULT_POLICY) -> int:
    """Bring the index up to date with the batch store; returns how many calls were (re)read.

    Cheap when nothing changed (one aggregate query), so every request may call it. The
    utterances are indexed as ``policy`` masks them in search results."""
    state = _state(conn) + "|" + ",".join(sorted(policy.masked("search")))
    seen = conn.execute("SELECT value FROM serve_meta WHERE key = 'state'").fetchone()
    if not force and seen is not None and seen[0] == state:
        return 0
    with _lock:
        seen = conn.execute("SELECT value FROM serve_meta WHERE key = 'state'").fetchone()
        if not force and seen is not None and seen[0] == state:
            return 0  # another request synced while this one waited
        conn.execute("BEGIN IMMEDIATE")
        try:
            stored = {r[0]: r[1] for r in
                      conn.execute("SELECT call_id, updated_at FROM serve_calls")}
            rows = {r["call_id"]: r for r in conn.execute(
                "SELECT call_id, agent_id, started_at, path, abs_path, result_path, updated_at "
                "FROM calls WHERE status = 'scored'")}
            remask = seen is not None and seen[0].split("|")[2:] != state.split("|")[2:]
            changed = [cid for cid, r in rows.items()
                       if force or remask or stored.get(cid) != r["updated_at"]]
            _drop(conn, [cid for cid in stored if cid not in rows] + changed)
            for cid in changed:
                result = load_result(out_dir, rows[cid]["result_path"])
                if result is not None:
                    _add(conn, rows[cid], result, policy)
            conn.execute("INSERT OR REPLACE INTO serve_meta VALUES ('state', ?)", (state,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(changed)


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def metrics_of(row: Any) -> dict[str, Any]:
    return json.loads(row["metrics"]) if row["metrics"] else {}
