"""What goes in and out of the workbench's JSON API (the HTML pages render the same records)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticUseDefault

from callqa.result import Finding
from callqa.verdicts import Appeal, MissedFinding, Review

__all__ = ["SORTS", "REVIEW_STATES", "MAX_PAGE", "MAX_TEXT", "MAX_ID", "MAX_QUERY",
           "CallFilter", "CallRow", "CallPage", "SearchHit",
           "SearchPage", "FindingOut", "CallDetail", "VerdictIn",
           "MissedIn", "AppealIn", "ResolveIn", "QueueIn", "PrecisionOut"]

SORTS = ("started_at", "score", "agent_id", "n_findings", "call_id", "duration")
#: unreviewed: nothing decided yet; in_progress: some verdicts or added findings;
#: reviewed: a reviewer marked the whole call done; appealed: an appeal is open.
REVIEW_STATES = ("unreviewed", "in_progress", "reviewed", "appealed")
#: Bounds on what comes in: a reason, note, comment or resolution (characters), an id (rule,
#: agent, desk), a search, a page number (OFFSET must stay far from SQLite's 64-bit limit), a
#: moment or deduction (no recording or rulebook comes near them).
MAX_TEXT = 2000
MAX_ID = 100
MAX_QUERY = 200
MAX_PAGE = 100_000
MAX_SECONDS = 24 * 3600.0
MAX_POINTS = 1000.0


class Inbound(BaseModel):
    """What a client sends: no infinities or NaN."""

    model_config = ConfigDict(allow_inf_nan=False)


class CallFilter(Inbound):
    """The calls list's filters, sort and page (query parameters of ``/calls`` and
    ``/api/calls``). Empty strings from a plain HTML form mean "no filter"."""

    since: Optional[str] = Field(None, description="first day (YYYY-MM-DD), inclusive")
    until: Optional[str] = Field(None, description="last day (YYYY-MM-DD), inclusive")
    agent: Optional[str] = Field(None, max_length=MAX_ID)
    desk: Optional[str] = Field(None, max_length=MAX_ID, description="calls of this desk")
    rule: Optional[str] = Field(None, max_length=MAX_ID,
                                description="calls with a finding of this rule id")
    category: Optional[str] = Field(None, max_length=MAX_ID,
                                    description="calls with a finding of this category")
    score_min: Optional[float] = None
    score_max: Optional[float] = None
    result: Optional[Literal["pass", "fail", "unscored"]] = None
    review: Optional[Literal["unreviewed", "in_progress", "reviewed", "appealed"]] = None
    sort: Literal["started_at", "score", "agent_id", "n_findings", "call_id",
                  "duration"] = "started_at"
    order: Literal["asc", "desc"] = "desc"
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(50, ge=1, le=500)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if value == "":
            raise PydanticUseDefault()
        return value

    @field_validator("since", "until")
    @classmethod
    def _day(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else date.fromisoformat(value).isoformat()


class CallRow(BaseModel):
    call_id: str
    agent_id: Optional[str]
    desk: Optional[str] = None
    started_at: Optional[str]
    duration: float
    score: Optional[float]
    passed: bool
    unscored: Optional[str]
    roles: str
    n_findings: int
    review: str
    rules: list[str]


class CallPage(BaseModel):
    total: int
    page: int
    per_page: int
    calls: list[CallRow]


class SearchHit(BaseModel):
    call_id: str
    agent_id: Optional[str]
    started_at: Optional[str]
    utterance: int
    speaker: str
    start: float
    end: float
    text: str
    #: ``text`` cut into (piece, is_hit) so a page can mark the hits without trusting HTML.
    segments: list[tuple[str, bool]]


class SearchPage(BaseModel):
    query: str
    speaker: Optional[str]
    total: int
    page: int
    per_page: int
    hits: list[SearchHit]


class FindingOut(BaseModel):
    """An automatic finding (its ``index`` on the call page) and its review, if any."""

    index: int
    finding: Finding
    review: Optional[Review] = None


class CallDetail(BaseModel):
    call_id: str
    agent_id: Optional[str]
    desk: Optional[str] = None
    rulebook: dict[str, Any] = Field(
        default_factory=dict, description="name, version, path and sha256 it was scored with")
    started_at: Optional[str]
    duration: float
    score: Optional[float]
    reviewed_score: Optional[float]
    passed: bool
    unscored: Optional[str]
    roles: str
    metrics: dict[str, Any]
    audio: Optional[str] = Field(None, description="URL of the recording, None when not found")
    findings: list[FindingOut]
    missed: list[MissedFinding]
    appeals: list[Appeal]
    history: list[Review] = Field(
        default_factory=list, description="reviews whose finding vanished after re-scoring")
    reviewed_by: Optional[str] = None


class VerdictIn(Inbound):
    rule_id: str = Field(min_length=1, max_length=MAX_ID)
    start: float = Field(ge=0, le=MAX_SECONDS)
    verdict: Literal["confirmed", "rejected"]
    reason: str = Field("", max_length=MAX_TEXT)


class MissedIn(Inbound):
    """A finding the rules missed; the moment must lie within the call (checked against it)."""

    rule_id: str = Field(min_length=1, max_length=MAX_ID)
    speaker: Literal["agent", "customer"] = "agent"
    start: float = Field(ge=0, le=MAX_SECONDS)
    end: Optional[float] = Field(None, ge=0, le=MAX_SECONDS)
    deduction: Optional[float] = Field(None, ge=0, le=MAX_POINTS,
                                       description="default: the rule's points; at most the "
                                                   "rulebook's base")
    note: str = Field("", max_length=MAX_TEXT)


class AppealIn(Inbound):
    rule_id: str = Field(min_length=1, max_length=MAX_ID)
    start: float = Field(ge=0, le=MAX_SECONDS)
    comment: str = Field(min_length=1, max_length=MAX_TEXT)
    missed_id: Optional[int] = Field(None, ge=1, le=2 ** 62)


class ResolveIn(Inbound):
    outcome: Literal["upheld", "overturned"]
    resolution: str = Field("", max_length=MAX_TEXT)


class QueueIn(Inbound):
    name: str = Field("抽检", max_length=MAX_ID)
    per_agent: int = Field(5, ge=1, le=1000)
    since: Optional[date] = None
    until: Optional[date] = None
    seed: Optional[int] = Field(None, ge=0, le=2 ** 62)


class PrecisionOut(BaseModel):
    """Per rule over all agents (``all_agents``), then per rule and agent (``agent_id`` None:
    calls without an agent id)."""

    rule_id: str
    agent_id: Optional[str]
    all_agents: bool
    title: str
    fired: int
    confirmed: int
    rejected: int
    missed: int
    precision: Optional[float]
