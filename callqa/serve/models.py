"""What goes in and out of the workbench's JSON API (the HTML pages render the same records)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticUseDefault

from callqa.result import Finding
from callqa.verdicts import Appeal, MissedFinding, Review

__all__ = ["SORTS", "REVIEW_STATES", "CallFilter", "CallRow", "CallPage", "SearchHit",
           "SearchPage", "FindingOut", "CallDetail", "VerdictIn",
           "MissedIn", "AppealIn", "ResolveIn", "QueueIn", "PrecisionOut"]

SORTS = ("started_at", "score", "agent_id", "n_findings", "call_id", "duration")
#: unreviewed: nothing decided yet; in_progress: some verdicts or added findings;
#: reviewed: a reviewer marked the whole call done; appealed: an appeal is open.
REVIEW_STATES = ("unreviewed", "in_progress", "reviewed", "appealed")


class CallFilter(BaseModel):
    """The calls list's filters, sort and page (query parameters of ``/calls`` and
    ``/api/calls``). Empty strings from a plain HTML form mean "no filter"."""

    since: Optional[str] = Field(None, description="first day (YYYY-MM-DD), inclusive")
    until: Optional[str] = Field(None, description="last day (YYYY-MM-DD), inclusive")
    agent: Optional[str] = None
    rule: Optional[str] = Field(None, description="calls with a finding of this rule id")
    category: Optional[str] = Field(None, description="calls with a finding of this category")
    score_min: Optional[float] = None
    score_max: Optional[float] = None
    result: Optional[Literal["pass", "fail", "unscored"]] = None
    review: Optional[Literal["unreviewed", "in_progress", "reviewed", "appealed"]] = None
    sort: Literal["started_at", "score", "agent_id", "n_findings", "call_id",
                  "duration"] = "started_at"
    order: Literal["asc", "desc"] = "desc"
    page: int = Field(1, ge=1)
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


class VerdictIn(BaseModel):
    rule_id: str
    start: float
    verdict: Literal["confirmed", "rejected"]
    reason: str = ""


class MissedIn(BaseModel):
    rule_id: str = Field(min_length=1)
    speaker: Literal["agent", "customer"] = "agent"
    start: float = Field(ge=0)
    end: Optional[float] = None
    deduction: Optional[float] = Field(None, ge=0, description="default: the rule's points")
    note: str = ""


class AppealIn(BaseModel):
    rule_id: str
    start: float
    comment: str = Field(min_length=1)
    missed_id: Optional[int] = None


class ResolveIn(BaseModel):
    outcome: Literal["upheld", "overturned"]
    resolution: str = ""


class QueueIn(BaseModel):
    name: str = "抽检"
    per_agent: int = Field(5, ge=1, le=1000)
    since: Optional[date] = None
    until: Optional[date] = None
    seed: Optional[int] = None


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
