"""The report's read-only interface to verdicts (signatures stable for ``callqa report``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from callqa import db
from callqa.verdicts.records import MATCH_TOLERANCE_S, PrecisionRow, ReviewRow
from callqa.verdicts.store import _period_sql

__all__ = ["rule_precision", "review_rows"]


def _read_only(db_path: str | Path) -> sqlite3.Connection | None:
    """A read-only connection, or None when there is no database or no review tables yet."""
    conn = db.connect_read_only(db_path)
    if conn is None:
        return None
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
