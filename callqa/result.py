"""What scoring produces: findings and the per-call result, with one JSON form for every report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from callqa.transcript import Entity, Utterance, utterance_from_dict, utterance_to_dict

__all__ = ["CATEGORIES", "SEVERITIES", "Finding", "CallResult", "read_result"]

# The fixed category vocabulary reports group by (more may be added, never renamed).
CATEGORIES = (
    "greeting",
    "self_identification",
    "closing",
    "polite_expression",
    "forbidden_phrase",
    "dead_air",
    "hold_etiquette",
    "interruption",
    "speech_rate",
    "refusal_without_apology",
    "response_latency",
    "shirking",
)
SEVERITIES = ("minor", "major", "critical")


@dataclass(frozen=True)
class Finding:
    """One violation of one rule, with the evidence a reviewer needs to check it.

    ``matched`` says how the evidence matched the rule: the phrase it matched and the mode
    (``exact``/``pinyin``/...), so a homophone match is visible as such. ``also_breaks`` lists
    rules the same moment also breaks (one event, one finding: a 14 s silence after the
    customer's question is dead air, DA01, and also a slow reply, RL02 — charged once).

    ``confidence`` (0–1) says how sure the finding is, from what it rests on; ``basis`` holds
    the factors it was built from (``words``: how clearly the evidence was heard, ``match``: how
    close a sound or meaning match, ``margin``: how far past a limit, ``unheard``: speech the
    recogniser lost next to it, ``partial``: words that may stand for a missing phrase,
    ``roles``: roles told apart on a mono recording — callqa.scoring.confidence). A finding
    under the rulebook's ``review_below`` is 待复核 (``review``): not deducted until a reviewer
    confirms it; ``held`` is what it deducts then.
    """

    rule_id: str
    category: str
    severity: str
    speaker: str
    start: float
    end: float
    evidence: str
    message: str
    suggestion: str
    standard: str
    deduction: float
    title: str = ""
    matched: dict[str, Any] = field(default_factory=dict)
    also_breaks: list[str] = field(default_factory=list)
    confidence: float = 1.0
    review: bool = False
    basis: dict[str, float] = field(default_factory=dict)
    held: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = round(self.start, 3), round(self.end, 3)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class CallResult:
    """The verdict on one call.

    ``vetoed`` lists critical rules that failed the call outright (一票否决) whatever the score;
    ``not_applicable`` lists rules that could not be checked (e.g. interruption on a mono
    recording), so a missing finding is never mistaken for compliance. ``unscored`` is the
    reason a call was not scored (no conversation: a misdial, no agent speech, too short), None
    for a scored call; an unscored call has no findings, ``score`` None and ``passed`` False, and
    stays out of agents' averages and pass rates. ``roles``
    is the transcript's (how the parties were told apart, ``callqa.transcript.ROLES``);
    ``metrics`` the call's conversation metrics (talk time, overtalk, silence, response time).
    ``desk`` is the desk the call belongs to (``callqa batch --desks``), whose rulebook scored
    it (``rulebook``: name, version, path, sha256); None when the batch has no desks.
    ``entities`` the personal data said in the call (:mod:`callqa.privacy.detect`), by which
    reports mask it; None for results written before detection existed (detected when read).
    """

    call_id: str
    agent_id: str | None
    duration: float
    score: float | None
    passed: bool
    findings: list[Finding]
    utterances: list[Utterance]
    vetoed: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rulebook: dict[str, Any] = field(default_factory=dict)
    asr: dict[str, Any] = field(default_factory=dict)
    unscored: str | None = None
    roles: str = "channels"
    metrics: dict[str, Any] = field(default_factory=dict)
    desk: str | None = None
    entities: list[Entity] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "agent_id": self.agent_id,
            "desk": self.desk,
            "duration": round(self.duration, 3),
            "score": self.score,
            "passed": self.passed,
            "unscored": self.unscored,
            "roles": self.roles,
            "metrics": self.metrics,
            "vetoed": self.vetoed,
            "findings": [f.to_dict() for f in self.findings],
            "not_applicable": self.not_applicable,
            "notes": self.notes,
            "rulebook": self.rulebook,
            "asr": self.asr,
            "utterances": [utterance_to_dict(u) for u in self.utterances],
            "entities": None if self.entities is None else [e.to_dict() for e in self.entities],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CallResult":
        return cls(
            call_id=d["call_id"],
            agent_id=d.get("agent_id"),
            duration=float(d["duration"]),
            score=None if d.get("score") is None else float(d["score"]),
            passed=bool(d["passed"]),
            findings=[Finding.from_dict(f) for f in d.get("findings", [])],
            utterances=[utterance_from_dict(u, d["call_id"]) for u in d.get("utterances", [])],
            vetoed=list(d.get("vetoed", [])),
            not_applicable=list(d.get("not_applicable", [])),
            notes=list(d.get("notes", [])),
            rulebook=dict(d.get("rulebook", {})),
            asr=dict(d.get("asr", {})),
            unscored=d.get("unscored"),
            roles=d.get("roles", "channels"),
            metrics=dict(d.get("metrics") or {}),
            desk=d.get("desk"),
            entities=None if d.get("entities") is None
            else [Entity.from_dict(e) for e in d["entities"]],
        )


def read_result(path: Path | None) -> CallResult | None:
    """A stored result JSON, or None when there is none or it cannot be read (a missing or
    damaged file is the caller's to report, not a crash)."""
    if path is None:
        return None
    try:
        return CallResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
