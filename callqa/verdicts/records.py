"""Reviewers' verdicts as records: users, verdicts, added findings, appeals, export rows."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

from callqa.errors import CallqaError

__all__ = ["ROLES", "VERDICTS", "APPEAL_OUTCOMES", "MATCH_TOLERANCE_S", "REVIEW_COLUMNS",
           "ReviewError", "User", "Review", "MissedFinding", "Appeal", "PrecisionRow",
           "ReviewRow"]

#: reviewer and agent (calls); trainer and trainee (drills, callqa.drill)
ROLES = ("reviewer", "agent", "trainer", "trainee", "privacy")
VERDICTS = ("confirmed", "rejected")
APPEAL_OUTCOMES = ("upheld", "overturned")
#: A review belongs to a finding of the same rule starting at most this far from the reviewed
#: moment (re-transcription moves boundaries by a fraction of a second).
MATCH_TOLERANCE_S = 1.0



class ReviewError(CallqaError):
    """A review action that cannot be done (unknown user, bad verdict, closed appeal ...)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class User:
    """Someone who may use the workbench. An agent sees only calls of ``agent_id``."""

    name: str
    role: str
    agent_id: str | None = None

    @property
    def is_reviewer(self) -> bool:
        return self.role == "reviewer"

    @property
    def sees_all_calls(self) -> bool:
        """Reviewers, and the privacy officer (``privacy``: reads every call and the audit
        trail, opens originals where the policy allows, records no verdict)."""
        return self.role in ("reviewer", "privacy")


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
