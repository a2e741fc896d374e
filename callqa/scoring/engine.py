"""The scoring engine: transcript + rulebook → :class:`~callqa.result.CallResult`.

Pure: no audio, no I/O. Build one :class:`Scorer` per rulebook and reuse it for every call
(it owns the tokeniser with the rulebook's phrases registered).
"""

from __future__ import annotations

import string
from typing import Any

from callqa.result import CallResult, Finding
from callqa.scoring.checks import CHECKS, Call, Violation
from callqa.scoring.matching import Matcher
from callqa.scoring.metrics import conversation_metrics
from callqa.scoring.rulebook import Rule, Rulebook
from callqa.scoring.semantic import SemanticMatcher
from callqa.transcript import CUSTOMER, Transcript

__all__ = ["Scorer", "score_transcript"]


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:  # an unknown placeholder stays visible, not fatal
        return "{" + key + "}"


def _format(template: str, values: dict[str, Any]) -> str:
    try:
        return string.Formatter().vformat(template, (), _Placeholders(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


class Scorer:
    def __init__(self, rulebook: Rulebook, matcher: Matcher | None = None):
        self.rulebook = rulebook
        # A matcher built for a larger rulebook serves a subset of it (rule tests) unchanged.
        self.matcher = matcher or Matcher(rulebook.phrases())
        # Rules that match by meaning: their examples are embedded here, once (this loads the
        # sentence encoder, once per process); other rulebooks never load it.
        sets = rulebook.semantic_sets()
        self.semantic = SemanticMatcher(sets, speakers=rulebook.semantic_speakers()) \
            if sets else None

    def score(self, transcript: Transcript) -> CallResult:
        rb = self.rulebook
        call = Call(transcript, self.matcher, self.semantic)
        findings: list[Finding] = []
        not_applicable: list[str] = []
        vetoed: list[str] = []
        total = 0.0
        mono = CUSTOMER not in transcript.speakers
        for rule in rb.rules:
            if mono and rule.needs_customer():
                not_applicable.append(rule.id)
                continue
            taken = 0.0
            for v in CHECKS[rule.type](rule, call):
                deduction = rule.points
                if rule.cap is not None:
                    deduction = max(0.0, min(deduction, rule.cap - taken))
                taken += deduction
                findings.append(self._finding(rule, v, deduction))
                if rule.veto and rule.id not in vetoed:
                    vetoed.append(rule.id)
            total += taken
        findings.sort(key=lambda f: (f.start, f.rule_id))
        score = round(max(0.0, rb.base - total), 1)
        notes = list(transcript.notes)
        if not_applicable:
            notes.append("单声道录音：需要双方声道的规则不适用 (" + ", ".join(not_applicable) + ")")
        return CallResult(
            call_id=transcript.call_id, agent_id=transcript.agent_id,
            duration=transcript.duration, score=score,
            passed=score >= rb.pass_mark and not vetoed, findings=findings,
            utterances=list(transcript.utterances), vetoed=vetoed,
            not_applicable=not_applicable, notes=notes, rulebook=rb.info(),
            asr=dict(transcript.asr), roles=transcript.roles,
            metrics=conversation_metrics(transcript).to_dict(),
        )

    @staticmethod
    def _finding(rule: Rule, v: Violation, deduction: float) -> Finding:
        values = {"evidence": v.evidence, **v.values}
        return Finding(
            rule_id=rule.id, category=rule.category, severity=rule.severity,
            speaker=v.speaker if v.speaker in ("agent", "customer") else "agent",
            start=v.start, end=v.end, evidence=v.evidence,
            message=_format(rule.message, values), suggestion=rule.suggestion,
            standard=rule.standard, deduction=deduction, title=rule.title, matched=v.matched,
        )


_SCORERS: dict[tuple[str, int], Scorer] = {}


def score_transcript(transcript: Transcript, rulebook: Rulebook) -> CallResult:
    """Score one transcript. The :class:`Scorer` (its tokeniser takes a second or two to
    build) is kept for the next call with the same rulebook."""
    key = (rulebook.sha256, id(rulebook))
    scorer = _SCORERS.get(key)
    if scorer is None or scorer.rulebook is not rulebook:
        if len(_SCORERS) >= 4:
            _SCORERS.clear()
        scorer = _SCORERS[key] = Scorer(rulebook)
    return scorer.score(transcript)
