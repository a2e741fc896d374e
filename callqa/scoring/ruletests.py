"""Rule tests, semgrep-style: transcripts annotated with the findings a rule must (not) produce.

``rules/tests/<RULE_ID>.yaml`` holds the cases (format in ``docs/rulebook.md``). Each case is
scored with its rule alone, so a case tests one rule. The rulebook's own ``examples`` of phrase
rules are run too: a good example must not fire, a bad one must.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callqa.errors import RulebookError
from callqa.scoring.engine import Scorer
from callqa.scoring.matching import Matcher
from callqa.scoring.rule import Rule
from callqa.scoring.rulebook import Rulebook
from callqa.transcript import (ROLES, ROLES_CHANNELS, SPEAKERS, Interval, Transcript,
                               Utterance, Word)

__all__ = ["CaseResult", "run_rule_tests", "case_transcript"]

AT_TOLERANCE_S = 0.5


@dataclass
class CaseResult:
    rule_id: str
    name: str
    source: str
    ok: bool
    expect: int
    got: int
    detail: str = ""
    findings: list[Any] = field(default_factory=list)


def case_transcript(case: dict[str, Any], source: str) -> Transcript:
    """A case's turns as a transcript. A turn is ``[speaker, start, end, text]``; a fifth item,
    a list of ``[word, start, end]`` or ``[word, start, end, probability]``, gives word times (a
    pause between words is a clause break) and how sure the recogniser was of each word.
    ``roles`` and ``speakers`` set how the parties were told apart; ``speech`` (per party,
    ``[[start, end], ..]``) gives the voice detector's intervals where they differ from the turns
    (speech the recogniser wrote no words for); ``background_voices`` (``[agent, ..]``) names the
    tracks the front end heard colleagues' voices under."""
    turns = case.get("turns")
    name = case.get("name")
    if not isinstance(turns, list) or not turns:
        raise RulebookError(source, f"case {name!r}: needs a list of turns")
    utts = []
    for turn in turns:
        if (not isinstance(turn, list) or len(turn) not in (4, 5) or turn[0] not in SPEAKERS
                or not all(isinstance(x, (int, float)) for x in turn[1:3])):
            raise RulebookError(source, f"case {name!r}: a turn must be "
                                        f"[agent|customer, start, end, text(, words)], "
                                        f"got {turn!r}")
        words = ()
        if len(turn) == 5:
            try:
                words = tuple(Word(str(w[0]), float(w[1]), float(w[2]),
                                   float(w[3]) if len(w) == 4 else 1.0) for w in turn[4]
                              if 3 <= len(w) <= 4)
                if len(words) != len(turn[4]):
                    raise ValueError
            except (TypeError, ValueError):
                raise RulebookError(source, f"case {name!r}: words must be [[word, start, end"
                                            f"(, probability)], ..], got {turn[4]!r}") from None
        utts.append(Utterance(turn[0], float(turn[1]), float(turn[2]), str(turn[3]), words))
    duration = float(case.get("duration") or max(u.end for u in utts))
    speakers = tuple(case.get("speakers") or SPEAKERS)
    roles = case.get("roles") or ROLES_CHANNELS
    if roles not in ROLES:
        raise RulebookError(source, f"case {name!r}: roles must be one of {', '.join(ROLES)}")
    speech = {}
    for who, spans in (case.get("speech") or {}).items():
        try:
            if who not in SPEAKERS:
                raise ValueError
            speech[who] = [Interval(float(a), float(b)) for a, b in spans]
        except (TypeError, ValueError):
            raise RulebookError(source, f"case {name!r}: speech must map agent/customer to "
                                        f"[[start, end], ..], got {who!r}: {spans!r}") from None
    noisy = case.get("background_voices") or []
    if not isinstance(noisy, list) or not set(noisy) <= set(SPEAKERS):
        raise RulebookError(source, f"case {name!r}: background_voices must list agent/customer, "
                                    f"got {noisy!r}")
    asr = {"front_end": {"enhance": {who: {"background_voices": True} for who in noisy}}} \
        if noisy else {}
    return Transcript(f"{Path(source).stem}:{name}", "test", duration, utts,
                      speakers=speakers, roles=roles, speech=speech, asr=asr)


def _run_case(scorer: Scorer, rule: Rule, case: dict[str, Any], source: str) -> CaseResult:
    name = str(case.get("name", "?"))
    expect = case.get("expect")
    if not isinstance(expect, int) or isinstance(expect, bool) or expect < 0:
        raise RulebookError(source, f"case {name!r}: expect must be a count >= 0")
    review = case.get("review")
    if review is not None and (not isinstance(review, int) or isinstance(review, bool)
                               or not 0 <= review <= expect):
        raise RulebookError(source, f"case {name!r}: review must be a count from 0 to expect")
    result = scorer.score(case_transcript(case, source))
    got = [f for f in result.findings if f.rule_id == rule.id]
    ok, detail = len(got) == expect, ""
    if not ok:
        detail = f"expected {expect} finding(s), got {len(got)}"
    pending = sum(f.review for f in got)
    if ok and review is not None and pending != review:
        ok, detail = False, (f"expected {review} finding(s) 待复核 (needs review), got {pending} — "
                             + "; ".join(f"confidence {f.confidence} {f.basis}" for f in got))
    at = case.get("at")
    if ok and at:
        starts = sorted(f.start for f in got)
        for want, have in zip(sorted(at), starts):
            if abs(want - have) > AT_TOLERANCE_S:
                ok, detail = False, f"finding at {have:.1f}s, expected {want}s"
                break
    if not ok and got:
        detail += " — " + "; ".join(f"{f.start:.1f}s {f.evidence}" for f in got)
    return CaseResult(rule.id, name, source, ok, expect, len(got), detail, got)


def _alone(rulebook: Rulebook, rule: Rule) -> Rulebook:
    """The rulebook with only ``rule``. Cases are snippets of a call (a turn or two), so the
    minimum call length does not apply; a case without agent speech is still no conversation."""
    alone = rulebook.only([rule.id])
    alone.min_call_s = 0.0
    return alone


def _run_examples(rulebook: Rulebook, rule: Rule, matcher: Matcher) -> list[CaseResult]:
    """A rule's good examples, said alone, must not fire; its bad ones must."""
    if not rule.kind.phrase_examples or rule.when is not None:
        return []  # examples said alone cannot meet a condition about the rest of the call
    scorer = Scorer(_alone(rulebook, rule), matcher)
    speaker = rule.speaker if rule.speaker != "any" else "agent"
    out = []
    for kind, texts in (("good", rule.examples_good), ("bad", rule.examples_bad)):
        for text in texts:
            t = Transcript(f"{rule.id}:example", "test", 5.0,
                           [Utterance(speaker, 0.0, 5.0, text)])
            got = [f for f in scorer.score(t).findings if f.rule_id == rule.id]
            ok = bool(got) == (kind == "bad")
            out.append(CaseResult(rule.id, f"example {kind}: {text}", rulebook.path, ok,
                                  int(kind == "bad"), len(got),
                                  "" if ok else f"{kind} example {'did not fire' if kind == 'bad' else 'fired'}",
                                  got))
    return out


def run_rule_tests(rulebook: Rulebook, tests_dir: str | Path) -> tuple[list[CaseResult], list[str]]:
    """Run every case file in ``tests_dir`` and the rulebook's examples.

    Returns the case results and a list of problems that are not single cases (a rule without
    a firing or a non-firing case, a case file for an unknown rule).
    """
    tests_dir = Path(tests_dir)
    results: list[CaseResult] = []
    problems: list[str] = []
    covered: dict[str, set[str]] = {r.id: set() for r in rulebook.rules}
    matcher = Matcher(rulebook.phrases())
    files = sorted(tests_dir.glob("*.yaml")) if tests_dir.is_dir() else []
    if not files:
        problems.append(f"{tests_dir}: no rule test files (*.yaml)")
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise RulebookError(str(path), f"invalid YAML: {getattr(exc, 'problem', exc)}",
                                line=mark.line + 1 if mark else None) from None
        if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
            raise RulebookError(str(path), "expected a mapping with 'rule' and 'cases'")
        rule = rulebook.get(str(data.get("rule")))
        if rule is None:
            problems.append(f"{path}: unknown rule {data.get('rule')!r}")
            continue
        scorer = Scorer(_alone(rulebook, rule), matcher)
        for case in data["cases"]:
            if not isinstance(case, dict):
                raise RulebookError(str(path), f"a case must be a mapping, got {case!r}")
            res = _run_case(scorer, rule, case, str(path))
            covered[rule.id].add("fire" if res.expect > 0 else "quiet")
            results.append(res)
    for rule in rulebook.rules:
        results.extend(_run_examples(rulebook, rule, matcher))
        missing = {"fire", "quiet"} - covered[rule.id]
        if missing:
            problems.append(f"rule {rule.id}: no {' and no '.join(sorted(missing))} case in "
                            f"{tests_dir}")
    return results, problems
