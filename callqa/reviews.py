"""The review store: what people decided about the machine's findings, beside the batch store.

Tables live in the batch's ``OUT/callqa.db`` (next to ``calls``), created on first use:

``review_users``     users with a role (``reviewer`` or ``agent``) and a hashed secret
``reviews``          one verdict per finding: ``confirmed``/``rejected``, reason, who, when
``missed_findings``  findings a reviewer added that the machine missed (rule, moment, note)
``appeals``          an agent disputes a finding; a reviewer upholds or overturns it
``call_reviews``     a reviewer marked the whole call as reviewed
``sample_queues``, ``sample_items``  random per-agent samples of unreviewed calls
``review_events``    every change, who and when (the audit trail)

A review is tied to a finding by **call + rule + moment** (``call_id``, ``rule_id``, ``start``),
not by a row number, so it survives re-scoring with a changed rulebook: :func:`match_reviews`
pairs each current finding with the nearest review of the same rule within
``MATCH_TOLERANCE_S``; a review whose finding vanished is kept and shown as history.

Two functions are the stable interface for ``callqa report`` (their signatures do not change):

``rule_precision(db_path, since=None, until=None) -> list[PrecisionRow]``
    Per rule (``agent_id`` None) and per rule and agent: ``confirmed``, ``rejected``,
    ``precision`` = confirmed / (confirmed + rejected) (None when nothing was reviewed) and
    ``missed`` (findings of that rule reviewers added). Rows sorted by rule; a rule's all-agents
    row always comes first, then its agents by id, and calls without an agent id last (their row
    also has ``agent_id`` None: the first None row of a rule is the all-agents one). ``since``/``until`` (date, datetime or ISO string, both inclusive days) filter on the
    call's ``started_at``. Every verdict counts, including those whose finding later vanished.

``review_rows(db_path, since=None, until=None) -> list[ReviewRow]``
    Every verdict and every added finding, one flat row each (``ReviewRow.to_dict()`` keys are
    ``REVIEW_COLUMNS``), with the appeal on it if any, ordered by call and moment: the review
    export of the report.

Both return ``[]`` when the database has no review tables yet, and never write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from callqa.errors import CallqaError

__all__ = [
    "ROLES", "VERDICTS", "APPEAL_OUTCOMES", "MATCH_TOLERANCE_S", "REVIEW_COLUMNS",
    "ReviewError", "User", "Review", "MissedFinding", "Appeal", "PrecisionRow", "ReviewRow",
    "ReviewStore", "hash_secret", "verify_secret", "match_reviews", "reviewed_score",
    "sample_calls", "rule_precision", "review_rows",
]

ROLES = ("reviewer", "agent")
VERDICTS = ("confirmed", "rejected")
APPEAL_OUTCOMES = ("upheld", "overturned")
#: A review belongs to a finding of the same rule starting at most this far from the reviewed
#: moment (re-transcription moves boundaries by a fraction of a second).
MATCH_TOLERANCE_S = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('reviewer', 'agent')),
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


class ReviewError(CallqaError):
    """A review action that cannot be done (unknown user, bad verdict, closed appeal ...)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- secrets

_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): what is stored for a password or token.

    >>> verify_secret("s3cret", hash_secret("s3cret")), verify_secret("x", hash_secret("s3cret"))
    (True, False)
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode("utf-8"), salt=base64.b64decode(salt),
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class User:
    """Someone who may use the workbench. An agent sees only calls of ``agent_id``."""

    name: str
    role: str
    agent_id: str | None = None

    @property
    def is_reviewer(self) -> bool:
        return self.role == "reviewer"


@dataclass(frozen=True)
class Review:
    """A reviewer's verdict on one automatic finding (keyed by call, rule and moment)."""

    id: int
    call_id: str
    rule_id: str
    start: float
    end: float | None
    speaker: str | None
    evidence: str | None
    verdict: str
    reason: str
    reviewer: str
    reviewed_at: str


@dataclass(frozen=True)
class MissedFinding:
    """A finding the machine missed, added by a reviewer at a moment of the call."""

    id: int
    call_id: str
    rule_id: str
    speaker: str
    start: float
    end: float
    deduction: float
    note: str
    reviewer: str
    created_at: str
    withdrawn_at: str | None = None


@dataclass(frozen=True)
class Appeal:
    """An agent's dispute of a finding (``missed_id`` set when it is a reviewer-added one)."""

    id: int
    call_id: str
    rule_id: str
    start: float
    missed_id: int | None
    agent: str
    comment: str
    created_at: str
    status: str
    resolver: str | None
    resolution: str
    resolved_at: str | None


@dataclass(frozen=True)
class PrecisionRow:
    """Reviewer verdicts on one rule, over all agents (``agent_id`` None) or one agent."""

    rule_id: str
    agent_id: str | None
    confirmed: int
    rejected: int
    missed: int

    @property
    def reviewed(self) -> int:
        return self.confirmed + self.rejected

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reviewed": self.reviewed, "precision": self.precision}


@dataclass(frozen=True)
class ReviewRow:
    """One line of the review export: a verdict (``kind`` "verdict") or an added finding
    (``kind`` "missed"), with the appeal on that finding if there is one."""

    kind: str
    call_id: str
    agent_id: str | None
    started_at: str | None
    rule_id: str
    start: float
    end: float | None
    speaker: str | None
    verdict: str | None
    reason: str
    reviewer: str
    reviewed_at: str
    appeal_status: str | None = None
    appeal_comment: str | None = None
    appeal_by: str | None = None
    appeal_at: str | None = None
    appeal_resolution: str | None = None
    resolved_by: str | None = None
    resolved_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


REVIEW_COLUMNS = tuple(f.name for f in fields(ReviewRow))


def _review(row: sqlite3.Row) -> Review:
    return Review(row["id"], row["call_id"], row["rule_id"], row["start_s"], row["end_s"],
                  row["speaker"], row["evidence"], row["verdict"], row["reason"],
                  row["reviewer"], row["reviewed_at"])


def _missed(row: sqlite3.Row) -> MissedFinding:
    return MissedFinding(row["id"], row["call_id"], row["rule_id"], row["speaker"],
                         row["start_s"], row["end_s"], row["deduction"], row["note"],
                         row["reviewer"], row["created_at"], row["withdrawn_at"])


def _appeal(row: sqlite3.Row) -> Appeal:
    return Appeal(row["id"], row["call_id"], row["rule_id"], row["start_s"], row["missed_id"],
                  row["agent"], row["comment"], row["created_at"], row["status"],
                  row["resolver"], row["resolution"], row["resolved_at"])


# --------------------------------------------------------------------------- pure logic

def match_reviews(findings: Sequence[Any], reviews: Iterable[Review],
                  tolerance_s: float = MATCH_TOLERANCE_S) -> tuple[dict[int, Review], list[Review]]:
    """Pair current findings (anything with ``rule_id`` and ``start``) with reviews.

    Returns ``{finding index: review}`` and the reviews no finding matched (history: the finding
    vanished after re-scoring). Closest pairs are taken first; each side is used at most once.

    >>> from types import SimpleNamespace as F
    >>> r = Review(1, "c", "FB01", 10.0, 11.0, "agent", "", "rejected", "", "qa", "")
    >>> match_reviews([F(rule_id="FB01", start=10.4)], [r])[0][0].id
    1
    >>> match_reviews([F(rule_id="GR01", start=10.0)], [r])[1][0].id
    1
    """
    pairs = sorted(
        (abs(f.start - r.start), i, r.id, r)
        for i, f in enumerate(findings) for r in reviews
        if f.rule_id == r.rule_id and abs(f.start - r.start) <= tolerance_s)
    matched: dict[int, Review] = {}
    used: set[int] = set()
    for _, i, rid, r in pairs:
        if i not in matched and rid not in used:
            matched[i] = r
            used.add(rid)
    return matched, [r for r in reviews if r.id not in used]


def reviewed_score(score: float | None, base: float, findings: Sequence[Any],
                   matched: dict[int, Review], missed: Iterable[MissedFinding]) -> float | None:
    """The score after review: rejected findings give their points back, added findings take
    theirs (``base`` caps it; None for an unscored call).

    >>> from types import SimpleNamespace as F
    >>> r = Review(1, "c", "FB01", 1.0, 2.0, None, None, "rejected", "", "qa", "")
    >>> m = MissedFinding(1, "c", "GR01", "agent", 0.0, 1.0, 5.0, "", "qa", "")
    >>> reviewed_score(80.0, 100.0, [F(deduction=10.0)], {0: r}, [m])
    85.0
    """
    if score is None:
        return None
    back = sum(findings[i].deduction for i, r in matched.items() if r.verdict == "rejected")
    taken = sum(m.deduction for m in missed if m.withdrawn_at is None)
    return round(max(0.0, min(base, score + back - taken)), 1)


def sample_calls(candidates: Iterable[tuple[str, str | None]], per_agent: int,
                 seed: int) -> list[tuple[str, str | None]]:
    """Up to ``per_agent`` calls drawn at random from each agent's candidates (stratified), in
    agent order; the same seed draws the same calls.

    >>> sample_calls([("a", "X"), ("b", "X"), ("c", "Y")], 1, seed=1)[1]
    ('c', 'Y')
    """
    by_agent: dict[str | None, list[str]] = {}
    for call_id, agent in candidates:
        by_agent.setdefault(agent, []).append(call_id)
    rng = random.Random(seed)
    out: list[tuple[str, str | None]] = []
    for agent in sorted(by_agent, key=lambda a: (a is None, a or "")):
        calls = sorted(by_agent[agent])
        out.extend((c, agent) for c in rng.sample(calls, min(per_agent, len(calls))))
    return out


# --------------------------------------------------------------------------- period filter

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


# --------------------------------------------------------------------------- the store

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
            conn = sqlite3.connect(db_path, timeout=30.0, isolation_level=None,
                                   check_same_thread=check_same_thread)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
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
        if row is None or not verify_secret(secret, row["secret_hash"]):
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
        if ap.status != "open":
            raise ReviewError(str(appeal_id), f"appeal #{appeal_id} is already {ap.status}")
        self.conn.execute(
            "UPDATE appeals SET status=?, resolver=?, resolution=?, resolved_at=? WHERE id=?",
            (outcome, user.name, resolution.strip(), _now(), appeal_id))
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

    def create_queue(self, user: User, name: str, per_agent: int, since: Any = None,
                     until: Any = None, seed: int | None = None) -> int:
        """Draw ``per_agent`` unreviewed calls per agent from the period into a new queue."""
        if not user.is_reviewer:
            raise ReviewError(name, f"{user.name} is not a reviewer")
        if per_agent < 1:
            raise ReviewError(name, "per_agent must be at least 1")
        seed = secrets.randbelow(2 ** 31) if seed is None else seed
        picked = sample_calls(self.unreviewed_calls(since, until), per_agent, seed)
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

    def events(self, call_id: str | None = None, limit: int = 200) -> list[dict]:
        """The audit trail, newest first: ``at``, ``user``, ``action``, ``call_id`` and
        ``detail`` (a dict: rule, moment, reason, comment ... as the action recorded them)."""
        sql, args = "SELECT * FROM review_events", []
        if call_id is not None:
            sql, args = sql + " WHERE call_id = ?", [call_id]
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in
                self.conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])]


# --------------------------------------------------------------------------- report interface

def _read_only(db_path: str | Path) -> sqlite3.Connection | None:
    """A read-only connection, or None when there is no database or no review tables yet."""
    path = Path(db_path)
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    conn.row_factory = sqlite3.Row
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not {"reviews", "missed_findings", "appeals", "calls"} <= have:
        conn.close()
        return None
    return conn


def rule_precision(db_path: str | Path, since: Any = None,
                   until: Any = None) -> list[PrecisionRow]:
    """Reviewer precision per rule and per rule and agent (see the module docstring)."""
    conn = _read_only(db_path)
    if conn is None:
        return []
    period, args = _period_sql("c", since, until)
    try:
        counts: dict[tuple[str, str | None], list[int]] = {}
        for r in conn.execute(
                "SELECT r.rule_id, c.agent_id, SUM(r.verdict='confirmed'), "
                "SUM(r.verdict='rejected') FROM reviews r JOIN calls c ON c.call_id = r.call_id "
                "WHERE 1=1" + period + " GROUP BY r.rule_id, c.agent_id", args):
            counts.setdefault((r[0], r[1]), [0, 0, 0])[:2] = [r[2], r[3]]
        for r in conn.execute(
                "SELECT m.rule_id, c.agent_id, COUNT(*) FROM missed_findings m "
                "JOIN calls c ON c.call_id = m.call_id WHERE m.withdrawn_at IS NULL" + period +
                " GROUP BY m.rule_id, c.agent_id", args):
            counts.setdefault((r[0], r[1]), [0, 0, 0])[2] = r[2]
    finally:
        conn.close()
    totals: dict[str, list[int]] = {}
    for (rule, _), (c, j, m) in counts.items():
        t = totals.setdefault(rule, [0, 0, 0])
        t[0], t[1], t[2] = t[0] + c, t[1] + j, t[2] + m
    rows = []
    for rule in sorted(totals):
        rows.append(PrecisionRow(rule, None, *totals[rule]))
        agents = sorted((a for r, a in counts if r == rule), key=lambda a: (a is None, a or ""))
        rows += [PrecisionRow(rule, a, *counts[rule, a]) for a in agents]
    return rows


def review_rows(db_path: str | Path, since: Any = None, until: Any = None) -> list[ReviewRow]:
    """Every verdict and added finding with its appeal (see the module docstring)."""
    conn = _read_only(db_path)
    if conn is None:
        return []
    period, args = _period_sql("c", since, until)
    try:
        appeals: dict[tuple[str, str], list[sqlite3.Row]] = {}
        for a in conn.execute("SELECT * FROM appeals ORDER BY id"):
            appeals.setdefault((a["call_id"], a["rule_id"]), []).append(a)
        verdicts = conn.execute(
            "SELECT r.*, c.agent_id, c.started_at FROM reviews r "
            "LEFT JOIN calls c ON c.call_id = r.call_id WHERE 1=1" + period, args).fetchall()
        missed = conn.execute(
            "SELECT m.*, c.agent_id, c.started_at FROM missed_findings m "
            "LEFT JOIN calls c ON c.call_id = m.call_id WHERE 1=1" + period, args).fetchall()
    finally:
        conn.close()

    def appeal_of(row: sqlite3.Row, missed_id: int | None) -> dict[str, Any]:
        found = [a for a in appeals.get((row["call_id"], row["rule_id"]), [])
                 if (a["missed_id"] == missed_id if missed_id is not None
                     else a["missed_id"] is None
                     and abs(a["start_s"] - row["start_s"]) <= MATCH_TOLERANCE_S)]
        if not found:
            return {}
        a = found[-1]  # the latest appeal on the finding
        return {"appeal_status": a["status"], "appeal_comment": a["comment"],
                "appeal_by": a["agent"], "appeal_at": a["created_at"],
                "appeal_resolution": a["resolution"], "resolved_by": a["resolver"],
                "resolved_at": a["resolved_at"]}

    out = [ReviewRow("verdict", r["call_id"], r["agent_id"], r["started_at"], r["rule_id"],
                     r["start_s"], r["end_s"], r["speaker"], r["verdict"], r["reason"],
                     r["reviewer"], r["reviewed_at"], **appeal_of(r, None)) for r in verdicts]
    out += [ReviewRow("missed", m["call_id"], m["agent_id"], m["started_at"], m["rule_id"],
                      m["start_s"], m["end_s"], m["speaker"],
                      "withdrawn" if m["withdrawn_at"] else None, m["note"], m["reviewer"],
                      m["created_at"], **appeal_of(m, m["id"])) for m in missed]
    return sorted(out, key=lambda r: (r.call_id, r.start, r.rule_id, r.kind))
