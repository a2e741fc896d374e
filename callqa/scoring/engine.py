"""The scoring engine: transcript + rulebook → :class:`~callqa.result.CallResult`.

Pure: no audio, no I/O. Build one :class:`Scorer` per rulebook and reuse it for every call
(it owns the tokeniser with the rulebook's phrases registered).
"""

from __future__ import annotations

import string
from typing import Any

from callqa.result import CallResult, Finding
from callqa.scoring.call import Call, Violation
from callqa.scoring.confidence import Confidence, combine, roles_factor
from callqa.scoring.matching import Matcher
from callqa.scoring.metrics import conversation_metrics
from callqa.scoring.rule import Rule
from callqa.scoring.rulebook import Rulebook
from callqa.scoring.semantic import SemanticMatcher, get_encoder
from callqa.transcript import AGENT, CUSTOMER, ROLES_CHANNELS, ROLES_SEPARATED, Transcript

__all__ = ["Scorer", "load_matching", "score_transcript"]


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:  # an unknown placeholder stays visible, not fatal
        return "{" + key + "}"


def _format(template: str, values: dict[str, Any]) -> str:
    try:
        return string.Formatter().vformat(template, (), _Placeholders(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


def load_matching(rulebook: Rulebook) -> Matcher:
    """What building a :class:`Scorer` for ``rulebook`` spends its time loading — the phrase
    matcher (jieba's dictionary) and, when a rule matches by meaning, the sentence encoder —
    without computing anything, so that a thread can load it while the ASR computes. Pass the
    matcher to ``Scorer(rulebook, matcher)``."""
    if rulebook.semantic_sets():
        get_encoder()
    return Matcher(rulebook.phrases())


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
        unscored = self.unscored(transcript)
        notes = list(transcript.notes)
        not_applicable: list[str] = []
        found: list[tuple[Rule, Violation]] = []
        if unscored is None:
            skipped: dict[str, list[str]] = {}
            for rule in rb.rules:
                why = self._not_applicable(rule, call)
                if why is not None:
                    not_applicable.append(rule.id)
                    skipped.setdefault(why, []).append(rule.id)
                    continue
                found += [(rule, v) for v in rule.kind.check(rule, call)]
            notes += [f"{why} ({', '.join(ids)})" for why, ids in skipped.items()]
            if transcript.roles == ROLES_SEPARATED:
                conf = transcript.roles_confidence
                notes.append("单声道录音：双方语音经说话人分离后按角色评分" +
                             (f"（角色判定置信度 {conf:.2f}）" if conf is not None else ""))
        roles_conf = transcript.roles_confidence if transcript.roles == ROLES_SEPARATED else None
        findings, vetoed, total = self._deduct(found, roles_conf)
        score = None if unscored else round(max(0.0, rb.base - total), 1)
        return CallResult(
            call_id=transcript.call_id, agent_id=transcript.agent_id,
            duration=transcript.duration, score=score,
            passed=score is not None and score >= rb.pass_mark and not vetoed,
            findings=findings, utterances=list(transcript.utterances), vetoed=vetoed,
            not_applicable=not_applicable, notes=notes, rulebook=rb.info(),
            asr=dict(transcript.asr), unscored=unscored, roles=transcript.roles,
            metrics=conversation_metrics(transcript).to_dict(), entities=call.entities,
        )

    def unscored(self, transcript: Transcript) -> str | None:
        """Why a recording is no conversation to score (a misdial, a hang-up), or None."""
        if transcript.duration < self.rulebook.min_call_s:
            return (f"通话过短（{transcript.duration:.1f} 秒，不足 "
                    f"{self.rulebook.min_call_s:g} 秒）：未接通或误拨")
        if not any(u.text.strip() for u in transcript.utterances if u.speaker == AGENT):
            return "坐席未发言：不是一通对话"
        return None

    @staticmethod
    def _not_applicable(rule: Rule, call: Call) -> str | None:
        """Why ``rule`` cannot judge this call (the note's wording), or None."""
        if CUSTOMER not in call.t.speakers and rule.needs_customer():
            return "单声道录音：需要双方声道的规则不适用"
        if call.t.roles != ROLES_CHANNELS and rule.needs_two_tracks():
            return "单声道录音：一条音轨上看不出谁打断了谁，规则不适用"
        if not call.roles_known and rule.needs_roles():
            return "双方角色无法区分：依赖角色的规则不适用，不向任何一方计分"
        if rule.when is not None and not rule.when.holds(call):
            return "适用条件不满足：规则不适用"
        return None

    def _deduct(self, found: list[tuple[Rule, Violation]], roles_confidence: float | None = None
                ) -> tuple[list[Finding], list[str], float]:
        """Findings with their deductions. One event, one finding: where a rule that
        ``supersedes`` another found the same moment, only it is reported (naming the other in
        ``also_breaks``) and only it deducts. A rule about the customer reports, never deducts."""
        also: dict[int, list[str]] = {}
        dropped: set[int] = set()
        for k, (rule, v) in enumerate(found):
            for j, (other, w) in enumerate(found):
                if other.id in rule.supersedes and j not in dropped and k not in dropped \
                        and _same_moment(v, w):
                    dropped.add(j)
                    also.setdefault(k, []).append(other.id)
        taken: dict[str, float] = {}
        findings: list[Finding] = []
        vetoed: list[str] = []
        rb = self.rulebook
        for k, (rule, v) in enumerate(found):
            if k in dropped:
                continue
            conf = self._confidence(rule, v, roles_confidence)
            review = bool(conf.value < rb.review_below)
            points = 0.0 if rule.speaker == CUSTOMER else rule.points
            if rule.cap is not None:
                points = max(0.0, min(points, rule.cap - taken.get(rule.id, 0.0)))
            held = points if review and not rb.review_deducts else 0.0
            deduction = points - held  # 待复核: deducted once a reviewer confirms it
            taken[rule.id] = taken.get(rule.id, 0.0) + deduction
            findings.append(self._finding(rule, v, deduction, list(dict.fromkeys(also.get(k, ()))),
                                          conf, review, held))
            if rule.veto and rule.speaker != CUSTOMER and rule.id not in vetoed and not held:
                vetoed.append(rule.id)
        findings.sort(key=lambda f: (f.start, f.rule_id))
        return findings, vetoed, sum(taken.values())

    @staticmethod
    def _confidence(rule: Rule, v: Violation, roles_confidence: float | None) -> Confidence:
        """The violation's confidence, and on a mono recording whose voices were told apart,
        how sure the roles are (for rules that depend on who the agent is)."""
        if roles_confidence is None or not rule.needs_roles():
            return v.confidence
        return combine(**v.confidence.basis, roles=roles_factor(roles_confidence))

    @staticmethod
    def _finding(rule: Rule, v: Violation, deduction: float, also_breaks: list[str],
                 conf: Confidence, review: bool, held: float) -> Finding:
        values = {"evidence": v.evidence, **v.values}
        return Finding(
            rule_id=rule.id, category=rule.category, severity=rule.severity,
            speaker=v.speaker if v.speaker in ("agent", "customer") else "agent",
            start=v.start, end=v.end, evidence=v.evidence,
            message=_format(rule.message, values), suggestion=rule.suggestion,
            standard=rule.standard, deduction=deduction, title=rule.title, matched=v.matched,
            also_breaks=also_breaks, confidence=conf.value, review=review, basis=conf.basis,
            held=held,
        )


def _same_moment(a: Violation, b: Violation) -> bool:
    """Two findings describe the same moment when their times overlap (or coincide)."""
    return (a.start < b.end and b.start < a.end) or (a.start, a.end) == (b.start, b.end)


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
