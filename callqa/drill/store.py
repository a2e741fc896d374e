"""Drill records in the batch database (``callqa.db``): scenarios, who they are assigned to,
and attempts with their uploaded audio (files under ``<out>/drills/``).

An attempt is ``recording`` while the page uploads the microphone in pieces, ``scoring`` once
the page said it is finished, then ``scored`` (a result) or ``unscored`` (the pipeline found no
conversation, e.g. a silent trainee). An attempt that never finishes (a closed tab, a dropped
connection) or whose pieces do not add up is ``incomplete``: kept, never scored, never a pass.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from callqa.drill.scenario import DrillError, Scenario

__all__ = ["ATTEMPT_STATES", "Attempt", "DrillStore", "Play", "MAX_ATTEMPT_BYTES",
           "MAX_CHUNK_BYTES", "TooLarge"]

ATTEMPT_STATES = {"recording": "录音中", "scoring": "评分中", "scored": "已评分",
                  "unscored": "未评分", "incomplete": "未完成"}
#: one uploaded piece of the microphone recording (the page sends one a second, ~4 kB of Opus)
MAX_CHUNK_BYTES = 1 << 20
#: a whole attempt (≈ 30 minutes of Opus at the browser's default rate)
MAX_ATTEMPT_BYTES = 32 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drill_scenarios (
  id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, title TEXT NOT NULL,
  data TEXT NOT NULL, created_by TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS drill_assignments (
  scenario_id INTEGER NOT NULL, trainee TEXT NOT NULL, PRIMARY KEY (scenario_id, trainee));
CREATE TABLE IF NOT EXISTS drill_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, scenario_id INTEGER NOT NULL, trainee TEXT NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, chunks INTEGER DEFAULT 0,
  bytes INTEGER DEFAULT 0, plays TEXT, score REAL, passed INTEGER DEFAULT 0,
  vetoed INTEGER DEFAULT 0, rules TEXT, message TEXT);
CREATE INDEX IF NOT EXISTS drill_attempts_by_trainee ON drill_attempts (trainee, scenario_id);
"""


class TooLarge(DrillError):
    """An attempt's recording over :data:`MAX_ATTEMPT_BYTES`."""


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class Play:
    """Customer turn ``turn`` started playing ``at_s`` seconds after the microphone recording
    started (the page's clock)."""

    turn: int
    at_s: float


@dataclass
class Attempt:
    id: int
    scenario_id: int
    trainee: str
    started_at: str
    finished_at: str | None
    status: str
    chunks: int
    bytes: int
    plays: list[Play]
    score: float | None
    passed: bool
    vetoed: bool
    rules: list[str] = field(default_factory=list)
    message: str | None = None

    @property
    def state_label(self) -> str:
        return ATTEMPT_STATES.get(self.status, self.status)

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> "Attempt":
        return cls(r["id"], r["scenario_id"], r["trainee"], r["started_at"], r["finished_at"],
                   r["status"], r["chunks"], r["bytes"],
                   [Play(**p) for p in json.loads(r["plays"] or "[]")], r["score"],
                   bool(r["passed"]), bool(r["vetoed"]), json.loads(r["rules"] or "[]"),
                   r["message"])


class DrillStore:
    """Drill tables on an open connection; files under ``out_dir/drills``."""

    def __init__(self, conn: sqlite3.Connection, out_dir: Path) -> None:
        self.conn = conn
        self.conn.row_factory = sqlite3.Row
        self.dir = Path(out_dir) / "drills"
        conn.executescript(_SCHEMA)

    # ------------------------------------------------------------------ scenarios

    def add_scenario(self, sc: Scenario) -> Scenario:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO drill_scenarios (call_id, title, data, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?)", (sc.call_id, sc.title, sc.to_json(), sc.created_by,
                                           now_iso()))
        sc.id = int(cur.lastrowid)
        self.assign(sc.id, sc.assigned)
        return sc

    def assign(self, scenario_id: int, trainees: list[str]) -> None:
        with self.conn:
            self.conn.executemany("INSERT OR IGNORE INTO drill_assignments VALUES (?, ?)",
                                  [(scenario_id, t) for t in trainees if t])

    def scenario(self, scenario_id: int) -> Scenario:
        r = self.conn.execute("SELECT * FROM drill_scenarios WHERE id = ?",
                              (scenario_id,)).fetchone()
        if r is None:
            raise DrillError(f"练习 {scenario_id}", "没有这个练习")
        return self._scenario(r)

    def _scenario(self, r: sqlite3.Row) -> Scenario:
        assigned = [a[0] for a in self.conn.execute(
            "SELECT trainee FROM drill_assignments WHERE scenario_id = ? ORDER BY trainee",
            (r["id"],))]
        return Scenario.from_json(r["data"], id=r["id"], assigned=assigned)

    def scenarios(self, trainee: str | None = None) -> list[Scenario]:
        """All scenarios, or those assigned to ``trainee``."""
        if trainee is None:
            rows = self.conn.execute("SELECT * FROM drill_scenarios ORDER BY id").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT s.* FROM drill_scenarios s JOIN drill_assignments a "
                "ON a.scenario_id = s.id WHERE a.trainee = ? ORDER BY s.id", (trainee,)).fetchall()
        return [self._scenario(r) for r in rows]

    # ------------------------------------------------------------------ attempts

    def attempt_dir(self, attempt_id: int) -> Path:
        return self.dir / "attempts" / str(attempt_id)

    def start_attempt(self, scenario_id: int, trainee: str) -> Attempt:
        """A new attempt; the trainee's earlier attempts still recording are kept as
        incomplete (only one call at a time)."""
        with self.conn:
            self.conn.execute(
                "UPDATE drill_attempts SET status = 'incomplete', message = ? "
                "WHERE trainee = ? AND status = 'recording'",
                ("通话中断：开始了新的练习，这次录音保留但不评分", trainee))
            cur = self.conn.execute(
                "INSERT INTO drill_attempts (scenario_id, trainee, started_at, status) "
                "VALUES (?, ?, ?, 'recording')", (scenario_id, trainee, now_iso()))
        a = self.attempt(int(cur.lastrowid))
        self.attempt_dir(a.id).mkdir(parents=True, exist_ok=True)
        return a

    def attempt(self, attempt_id: int) -> Attempt:
        r = self.conn.execute("SELECT * FROM drill_attempts WHERE id = ?",
                              (attempt_id,)).fetchone()
        if r is None:
            raise DrillError(f"练习记录 {attempt_id}", "没有这条练习记录")
        return Attempt.from_row(r)

    def attempts(self, trainee: str | None = None,
                 scenario_id: int | None = None) -> list[Attempt]:
        where, args = [], []
        if trainee is not None:
            where.append("trainee = ?"), args.append(trainee)
        if scenario_id is not None:
            where.append("scenario_id = ?"), args.append(scenario_id)
        sql = "SELECT * FROM drill_attempts" + (" WHERE " + " AND ".join(where) if where else "")
        return [Attempt.from_row(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def add_chunk(self, attempt_id: int, seq: int, data: bytes) -> Attempt:
        """Append piece ``seq`` of the microphone recording. A piece already received (the
        page resending after a network error) is ignored; one out of order is refused."""
        a = self.attempt(attempt_id)
        if a.status != "recording":
            raise DrillError(f"练习记录 {attempt_id}", f"这次练习已{a.state_label}，不能再上传录音")
        if seq < a.chunks:
            return a
        if seq != a.chunks:
            raise DrillError(f"练习记录 {attempt_id}", f"录音片段顺序不对：收到第 {seq + 1} 段，"
                                                     f"应为第 {a.chunks + 1} 段")
        if a.bytes + len(data) > MAX_ATTEMPT_BYTES:
            raise TooLarge(f"练习记录 {attempt_id}", f"录音超过上限 {MAX_ATTEMPT_BYTES >> 20} MB")
        with (self.attempt_dir(attempt_id) / "answers.webm").open("ab") as fh:
            fh.write(data)
        with self.conn:
            self.conn.execute("UPDATE drill_attempts SET chunks = chunks + 1, bytes = bytes + ? "
                              "WHERE id = ?", (len(data), attempt_id))
        return self.attempt(attempt_id)

    def set_plays(self, attempt_id: int, plays: list[Play]) -> None:
        with self.conn:
            self.conn.execute("UPDATE drill_attempts SET plays = ? WHERE id = ?",
                              (json.dumps([p.__dict__ for p in plays]), attempt_id))

    def set_status(self, attempt_id: int, status: str, message: str | None = None,
                   **values: Any) -> None:
        cols = ["status = ?", "message = ?"] + [f"{k} = ?" for k in values]
        args = [status, message, *values.values()]
        if status != "recording":
            cols.append("finished_at = COALESCE(finished_at, ?)"), args.append(now_iso())
        with self.conn:
            self.conn.execute(f"UPDATE drill_attempts SET {', '.join(cols)} WHERE id = ?",
                              (*args, attempt_id))
