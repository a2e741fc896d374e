"""The review tables in a batch's ``OUT/callqa.db``: every write commits at once and is
audited in ``review_events``."""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from callqa import db
from callqa.verdicts.logic import match_reviews, sample_calls
from callqa.verdicts.records import (ROLES, VERDICTS, APPEAL_OUTCOMES, MATCH_TOLERANCE_S, ReviewError, User, Review, MissedFinding, Appeal)
from callqa.verdicts.records import _appeal, _missed, _now, _review
from callqa.verdicts.passwords import hash_secret, verify_secret, verify_unknown

__all__ = ["SCHEMA", "ReviewStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS review_users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    agent_id    TEXT,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    start_s     REAL NOT NULL,
    end_s       REAL,
    speaker     TEXT,
    evidence    TEXT,
    verdict     TEXT NOT NULL CHECK (verdict IN ('confirmed', 'rejected')),
    reason      TEXT NOT NULL DEFAULT '',
    reviewer    TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    UNIQUE (call_id, rule_id, start_s)
);
CREATE INDEX IF NOT EXISTS reviews_call ON reviews (call_id);
CREATE TABLE IF NOT EXISTS missed_findings (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    speaker     TEXT NOT NULL,
    start_s     REAL NOT NULL,
    end_s       REAL NOT NULL,
    deduction   REAL NOT NULL DEFAULT 0,
    note        TEXT NOT NULL DEFAULT '',
    reviewer    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    withdrawn_at TEXT
);
CREATE INDEX IF NOT EXISTS missed_call ON missed_findings (call_id);
CREATE TABLE IF NOT EXISTS appeals (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    start_s     REAL NOT NULL,
    missed_id   INTEGER,
    agent       TEXT NOT NULL,
    comment     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'upheld', 'overturned')),
    resolver    TEXT,
    resolution  TEXT NOT NULL DEFAULT '',
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS appeals_call ON appeals (call_id);
CREATE TABLE IF NOT EXISTS call_reviews (
    call_id     TEXT PRIMARY KEY,
    reviewer    TEXT NOT NULL,
    reviewed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sample_queues (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    since       TEXT,
    until       TEXT,
    per_agent   INTEGER NOT NULL,
    seed        INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sample_items (
    queue_id    INTEGER NOT NULL REFERENCES sample_queues (id),
    call_id     TEXT NOT NULL,
    agent_id    TEXT,
    position    INTEGER NOT NULL,
    PRIMARY KEY (queue_id, call_id)
);
CREATE TABLE IF NOT EXISTS review_events (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    user        TEXT NOT NULL,
    action      TEXT NOT NULL,
    call_id     TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
);
"""


def _day_bounds(since: Any, until: Any) -> tuple[str | None, str | None]:
    """ISO strings for ``started_at >= lo`` and ``started_at < hi`` (``until`` inclusive)."""
    def iso(v: Any) -> str | None:
        if v is None or v == "":
            return None
        return v.isoformat() if isinstance(v, (date, datetime)) else str(v)

    lo = iso(since)
    hi = None
    if until is not None and until != "":
        if isinstance(until, datetime):
            hi = until.isoformat()
        else:
            day = until if isinstance(until, date) else date.fromisoformat(str(until)[:10])
            hi = (day + timedelta(days=1)).isoformat()
    return lo, hi


def _period_sql(alias: str, since: Any, until: Any) -> tuple[str, list[Any]]:
    lo, hi = _day_bounds(since, until)
    sql, args = "", []
    if lo:
        sql += f" AND {alias}.started_at >= ?"
        args.append(lo)
    if hi:
        sql += f" AND {alias}.started_at < ?"
        args.append(hi)
    return sql, args


def _widen_roles(conn: sqlite3.Connection) -> None:
    """Databases made before the drill roles checked ``role IN ('reviewer', 'agent')`` in the
    table; SQLite cannot drop a CHECK, so the table is copied once (roles are checked against
    :data:`ROLES` when a user is added)."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'review_users'").fetchone()
    if sql is None or "CHECK" not in sql[0]:
        return
    conn.executescript("""
        BEGIN;
        ALTER TABLE review_users RENAME TO review_users_old;
        CREATE TABLE review_users (name TEXT PRIMARY KEY, role TEXT NOT NULL, agent_id TEXT,
                                   secret_hash TEXT NOT NULL, created_at TEXT NOT NULL);
        INSERT INTO review_users SELECT name, role, agent_id, secret_hash, created_at
            FROM review_users_old;
        DROP TABLE review_users_old;
        COMMIT;""")


class ReviewStore:
    """Review tables in one batch database. Open with :meth:`open`; close when done.

    Every write commits at once (autocommit) and appends to ``review_events``.
    """

    def __init__(self, conn: sqlite3.Connection, db_path: Path):
        self.conn = conn
        self.db_path = db_path

    @classmethod
    def open(cls, db_path: str | Path, check_same_thread: bool = True) -> "ReviewStore":
        db_path = Path(db_path)
        try:
            conn = db.connect(db_path, check_same_thread=check_same_thread)
            conn.executescript(SCHEMA)
            _widen_roles(conn)
        except sqlite3.DatabaseError as exc:
            raise ReviewError(str(db_path), f"cannot open database: {exc}") from None
        return cls(conn, db_path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ReviewStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _event(self, user: str, action: str, call_id: str | None, **detail: Any) -> None:
        self.conn.execute(
            "INSERT INTO review_events (at, user, action, call_id, detail) VALUES (?,?,?,?,?)",
            (_now(), user, action, call_id, json.dumps(detail, ensure_ascii=False)))

    # ------------------------------------------------------------------ users

    def add_user(self, name: str, role: str, secret: str, agent_id: str | None = None,
                 *, secret_hash: str | None = None) -> User:
        """Create or replace a user; an agent's ``agent_id`` defaults to the name."""
        name = name.strip()
        if not name:
            raise ReviewError(str(self.db_path), "a user needs a name")
        if role not in ROLES:
            raise ReviewError(str(self.db_path), f"role must be one of {', '.join(ROLES)}, "
                                                 f"not {role!r}")
        if role == "agent":
            agent_id = agent_id or name
        stored = secret_hash or hash_secret(secret)
        self.conn.execute(
            "INSERT INTO review_users (name, role, agent_id, secret_hash, created_at) "
            "VALUES (?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET role=excluded.role, "
            "agent_id=excluded.agent_id, secret_hash=excluded.secret_hash",
            (name, role, agent_id, stored, _now()))
        self._event(name, "user", None, role=role, agent_id=agent_id)
        return User(name, role, agent_id)

    def users(self) -> list[User]:
        return [User(r["name"], r["role"], r["agent_id"]) for r in
                self.conn.execute("SELECT * FROM review_users ORDER BY name")]

    def authenticate(self, name: str, secret: str) -> User | None:
        row = self.conn.execute("SELECT * FROM review_users WHERE name = ?",
                                (name,)).fetchone()
        if row is None:
            return verify_unknown(secret) or None
        if not verify_secret(secret, row["secret_hash"]):
            return None
        return User(row["name"], row["role"], row["agent_id"])

    # ------------------------------------------------------------------ verdicts

    def reviews(self, call_id: str) -> list[Review]:
        return [_review(r) for r in self.conn.execute(
            "SELECT * FROM reviews WHERE call_id = ? ORDER BY start_s, rule_id", (call_id,))]

    def set_verdict(self, user: User, call_id: str, finding: Any, verdict: str,
                    reason: str = "") -> Review:
        """Record ``user``'s verdict on a finding (``rule_id``, ``start``, ``end``, ``speaker``,
        ``evidence``); a rejection needs a reason. A review already matched to it (:func:`match_reviews`) is updated in
        place, so its key stays the moment first reviewed."""
        if not user.is_reviewer:
            raise ReviewError(call_id, f"{user.name} is not a reviewer")
        if verdict not in VERDICTS:
            raise ReviewError(call_id, f"verdict must be confirmed or rejected, not {verdict!r}")
        if verdict == "rejected" and not reason.strip():
            # a rejection is what tells the team how a rule misfires
            raise ReviewError(call_id, "误报需要填写理由 (a rejection needs a reason)")
        matched, _ = match_reviews([finding], self.reviews(call_id))
        start = matched[0].start if matched else round(float(finding.start), 3)
        self.conn.execute(
            "INSERT INTO reviews (call_id, rule_id, start_s, end_s, speaker, evidence, verdict, "
            "reason, reviewer, reviewed_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(call_id, rule_id, start_s) DO UPDATE SET verdict=excluded.verdict, "
            "reason=excluded.reason, reviewer=excluded.reviewer, "
            "reviewed_at=excluded.reviewed_at, end_s=excluded.end_s, "
            "evidence=excluded.evidence",
            (call_id, finding.rule_id, start, round(float(finding.end), 3), finding.speaker,
             finding.evidence, verdict, reason.strip(), user.name, _now()))
        self._event(user.name, verdict, call_id, rule_id=finding.rule_id, start=start,
                    reason=reason.strip())
        row = self.conn.execute(
            "SELECT * FROM reviews WHERE call_id=? AND rule_id=? AND start_s=?",
            (call_id, finding.rule_id, start)).fetchone()
        return _review(row)

    # ------------------------------------------------------------------ missed findings

    def add_missed(self, user: User, call_id: str, rule_id: str, speaker: str, start: float,
                   end: float, deduction: float = 0.0, note: str = "") -> MissedFinding:
        if not user.is_reviewer:
            raise ReviewError(call_id, f"{user.name} is not a reviewer")
        if not rule_id.strip():
            raise ReviewError(call_id, "an added finding needs a rule")
        if end < start or start < 0:
            raise ReviewError(call_id, f"bad moment {start}-{end}")
        cur = self.conn.execute(
            "INSERT INTO missed_findings (call_id, rule_id, speaker, start_s, end_s, deduction, "
            "note, reviewer, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (call_id, rule_id.strip(), speaker, round(start, 3), round(end, 3),
             float(deduction), note.strip(), user.name, _now()))
        self._event(user.name, "missed", call_id, rule_id=rule_id, start=start, note=note)
        return self.missed(call_id, cur.lastrowid)[0]

    def missed(self, call_id: str, missed_id: int | None = None) -> list[MissedFinding]:
        sql, args = "SELECT * FROM missed_findings WHERE call_id = ?", [call_id]
        if missed_id is not None:
            sql, args = sql + " AND id = ?", [*args, missed_id]
        return [_missed(r) for r in self.conn.execute(sql + " ORDER BY start_s", args)]

    # ------------------------------------------------------------------ whole-call review

    def mark_reviewed(self, user: User, call_id: str) -> None:
        if not user.is_reviewer:
            raise ReviewError(call_id, f"{user.name} is not a reviewer")
        self.conn.execute("INSERT OR REPLACE INTO call_reviews VALUES (?,?,?)",
                          (call_id, user.name, _now()))
        self._event(user.name, "call_reviewed", call_id)

    def viewed_original(self, user: User, call_id: str) -> None:
        """Audit a view of a call's personal data unmasked (callqa.privacy)."""
        self._event(user.name, "view_original", call_id)

    def call_review(self, call_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM call_reviews WHERE call_id = ?",
                                (call_id,)).fetchone()
        return dict(row) if row else None

    # ------------------------------------------------------------------ appeals

    def appeal(self, user: User, call_id: str, rule_id: str, start: float, comment: str,
               missed_id: int | None = None) -> Appeal:
        """An agent disputes a finding on one of their own calls (the caller checks the call
        is theirs). One open appeal per finding."""
        if user.role != "agent":
            raise ReviewError(call_id, f"{user.name} is not an agent; only agents appeal")
        if not comment.strip():
            raise ReviewError(call_id, "an appeal needs a comment")
        open_ = self.conn.execute(
            "SELECT id FROM appeals WHERE call_id=? AND rule_id=? AND abs(start_s - ?) <= ? "
            "AND status='open'", (call_id, rule_id, start, MATCH_TOLERANCE_S)).fetchone()
        if open_:
            raise ReviewError(call_id, f"appeal #{open_['id']} on this finding is still open")
        cur = self.conn.execute(
            "INSERT INTO appeals (call_id, rule_id, start_s, missed_id, agent, comment, "
            "created_at) VALUES (?,?,?,?,?,?,?)",
            (call_id, rule_id, round(start, 3), missed_id, user.name, comment.strip(), _now()))
        self._event(user.name, "appeal", call_id, rule_id=rule_id, start=start, comment=comment)
        return self.get_appeal(cur.lastrowid)

    def get_appeal(self, appeal_id: int) -> Appeal:
        row = self.conn.execute("SELECT * FROM appeals WHERE id = ?", (appeal_id,)).fetchone()
        if row is None:
            raise ReviewError(str(self.db_path), f"no appeal #{appeal_id}")
        return _appeal(row)

    def appeals(self, call_id: str | None = None, status: str | None = None,
                agent_id: str | None = None) -> list[Appeal]:
        """Appeals, newest first; ``agent_id`` keeps those on that agent's calls."""
        sql = "SELECT a.* FROM appeals a LEFT JOIN calls c ON c.call_id = a.call_id WHERE 1=1"
        args: list[Any] = []
        for col, val in (("a.call_id", call_id), ("a.status", status), ("c.agent_id", agent_id)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        return [_appeal(r) for r in self.conn.execute(sql + " ORDER BY a.id DESC", args)]

    def resolve_appeal(self, user: User, appeal_id: int, outcome: str, resolution: str = "",
                       finding: Any = None) -> Appeal:
        """Uphold (the finding stands: confirmed) or overturn (the finding is wrong: rejected,
        or an added finding withdrawn). ``finding`` is the current finding the appeal is on,
        when it still exists, so its verdict can be recorded."""
        if not user.is_reviewer:
            raise ReviewError(str(appeal_id), f"{user.name} is not a reviewer")
        if outcome not in APPEAL_OUTCOMES:
            raise ReviewError(str(appeal_id), f"outcome must be upheld or overturned, "
                                              f"not {outcome!r}")
        ap = self.get_appeal(appeal_id)
        # one statement decides: of two resolutions at once, only one finds the appeal open
        done = self.conn.execute(
            "UPDATE appeals SET status=?, resolver=?, resolution=?, resolved_at=? "
            "WHERE id=? AND status='open'",
            (outcome, user.name, resolution.strip(), _now(), appeal_id)).rowcount
        if done != 1:
            status = self.get_appeal(appeal_id).status
            raise ReviewError(str(appeal_id), f"申诉 #{appeal_id} 已处理 (appeal #{appeal_id} "
                                              f"is already {status})")
        self._event(user.name, f"appeal_{outcome}", ap.call_id, appeal=appeal_id,
                    resolution=resolution)
        reason = f"申诉 #{appeal_id}：{resolution.strip()}".rstrip("：")
        if ap.missed_id is not None:
            if outcome == "overturned":
                self.conn.execute("UPDATE missed_findings SET withdrawn_at=? WHERE id=?",
                                  (_now(), ap.missed_id))
        elif finding is not None:
            verdict = "confirmed" if outcome == "upheld" else "rejected"
            self.set_verdict(user, ap.call_id, finding, verdict, reason)
        return self.get_appeal(appeal_id)

    # ------------------------------------------------------------------ sampling

    def unreviewed_calls(self, since: Any = None, until: Any = None) -> list[tuple[str, str | None]]:
        """Scored calls in the period with no verdict, added finding or whole-call review."""
        period, args = _period_sql("c", since, until)
        sql = ("SELECT c.call_id, c.agent_id FROM calls c WHERE c.status = 'scored'" + period +
               " AND c.call_id NOT IN (SELECT call_id FROM reviews)"
               " AND c.call_id NOT IN (SELECT call_id FROM missed_findings)"
               " AND c.call_id NOT IN (SELECT call_id FROM call_reviews)")
        return [(r[0], r[1]) for r in self.conn.execute(sql, args)]

    def calls_pending_review(self, call_ids: Iterable[str]) -> set[str]:
        """Those of ``call_ids`` whose result holds a 待复核 finding (it deducts nothing until a
        reviewer confirms it, so such calls are reviewed first)."""
        wanted = set(call_ids)
        out = set()
        for call_id, result_path in self.conn.execute(
                "SELECT call_id, result_path FROM calls WHERE status = 'scored'"):
            if call_id not in wanted or not result_path:
                continue
            try:
                data = json.loads((self.db_path.parent / result_path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if any(f.get("review") for f in data.get("findings", ())):
                out.add(call_id)
        return out

    def create_queue(self, user: User, name: str, per_agent: int, since: Any = None,
                     until: Any = None, seed: int | None = None) -> int:
        """Draw ``per_agent`` unreviewed calls per agent from the period into a new queue."""
        if not user.is_reviewer:
            raise ReviewError(name, f"{user.name} is not a reviewer")
        if per_agent < 1:
            raise ReviewError(name, "per_agent must be at least 1")
        seed = secrets.randbelow(2 ** 31) if seed is None else seed
        candidates = self.unreviewed_calls(since, until)
        picked = sample_calls(candidates, per_agent, seed,
                              first=self.calls_pending_review(c for c, _ in candidates))
        lo, hi = (None if v in (None, "") else str(v) for v in (since, until))
        cur = self.conn.execute(
            "INSERT INTO sample_queues (name, since, until, per_agent, seed, created_by, "
            "created_at) VALUES (?,?,?,?,?,?,?)",
            (name.strip() or "抽检", lo, hi, per_agent, seed, user.name, _now()))
        qid = cur.lastrowid
        self.conn.executemany("INSERT INTO sample_items VALUES (?,?,?,?)",
                              [(qid, c, a, i) for i, (c, a) in enumerate(picked)])
        self._event(user.name, "queue", None, queue=qid, calls=len(picked), seed=seed)
        return qid

    def queues(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            "SELECT q.*, COUNT(i.call_id) AS calls, "
            "SUM(i.call_id IN (SELECT call_id FROM call_reviews)) AS done "
            "FROM sample_queues q LEFT JOIN sample_items i ON i.queue_id = q.id "
            "GROUP BY q.id ORDER BY q.id DESC")]

    def queue(self, queue_id: int) -> tuple[dict, list[dict]]:
        q = self.conn.execute("SELECT * FROM sample_queues WHERE id = ?",
                              (queue_id,)).fetchone()
        if q is None:
            raise ReviewError(str(self.db_path), f"no sampling queue #{queue_id}")
        items = [dict(r) for r in self.conn.execute(
            "SELECT i.call_id, i.agent_id, i.position, cr.reviewer, cr.reviewed_at "
            "FROM sample_items i LEFT JOIN call_reviews cr ON cr.call_id = i.call_id "
            "WHERE i.queue_id = ? ORDER BY i.position", (queue_id,))]
        return dict(q), items

    def events(self, call_id: str | None = None, limit: int = 200,
               action: str | None = None) -> list[dict]:
        """The audit trail, newest first: ``at``, ``user``, ``action``, ``call_id`` and
        ``detail`` (a dict: rule, moment, reason, comment ... as the action recorded them);
        only one call's or one action's when given."""
        where = [(c, v) for c, v in (("call_id", call_id), ("action", action)) if v is not None]
        sql = "SELECT * FROM review_events" + (
            " WHERE " + " AND ".join(f"{c} = ?" for c, _ in where) if where else "")
        args = [v for _, v in where]
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in
                self.conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])]
