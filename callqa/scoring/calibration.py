"""Calibration of matching by meaning: a labelled set of sentences per rule, judged by the engine.

``rules/semantic/calibration.yaml`` pairs sentences with a rule's standard: paraphrases and
ASR-noisy variants the rule must accept, near-misses it must not. Each sentence is judged as the
engine judges an utterance — literal phrases, regex, then meaning — so the figures are the rule's,
not the encoder's alone. Used by ``bench/semantic_calibration.py`` and ``tests/test_semantic.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from callqa.errors import RulebookError
from callqa.scoring.call import Call
from callqa.scoring.engine import Scorer
from callqa.scoring.rule import Rule
from callqa.scoring.rulebook import RULES_DIR
from callqa.scoring.schema import PhraseSpec
from callqa.transcript import AGENT, Transcript, Utterance

__all__ = ["CALIBRATION", "CalibrationSet", "Judged", "Stats", "load_calibration", "judge",
           "stats"]

CALIBRATION = RULES_DIR / "semantic" / "calibration.yaml"


@dataclass(frozen=True)
class CalibrationSet:
    rule_id: str
    spec: str | None  # trigger/require of a sequence rule; None: the rule's own phrases
    items: tuple[tuple[str, str, bool], ...]  # (text, kind, must match)

    @property
    def key(self) -> str:
        return self.rule_id + (f".{self.spec}" if self.spec else "")


@dataclass(frozen=True)
class Judged:
    text: str
    kind: str
    expect: bool
    literal: bool  # matched word for word or by regex (whatever the threshold)
    score: float  # best cosine of a clause (or the whole) with the examples
    example: str
    heard: str

    def matches(self, threshold: float) -> bool:
        return self.literal or self.score >= threshold


@dataclass(frozen=True)
class Stats:
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load_calibration(path: str | Path = CALIBRATION
                     ) -> tuple[list[CalibrationSet], dict[str, dict[str, float]]]:
    """The labelled sets and the reported floors (``{key: {precision, recall}}``)."""
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("sets"), list):
        raise RulebookError(str(path), "expected a mapping with 'sets' (and 'floors')")
    sets = []
    for raw in data["sets"]:
        items = []
        for label, expect in (("match", True), ("no_match", False)):
            for kind, texts in (raw.get(label) or {}).items():
                items += [(str(t), kind, expect) for t in texts]
        sets.append(CalibrationSet(str(raw["rule"]), raw.get("spec"), tuple(items)))
    return sets, dict(data.get("floors") or {})


def _target(rule: Rule, spec_name: str | None) -> tuple[PhraseSpec | None, tuple[str, ...], Any]:
    if spec_name:
        spec = rule.params[spec_name]
        return spec, spec.phrases, spec.regex
    return None, rule.params.get("phrases", ()), rule.params.get("regex")


def threshold_of(rule: Rule, spec_name: str | None) -> float:
    spec, _, _ = _target(rule, spec_name)
    if spec is not None and spec.threshold is not None:
        return spec.threshold
    if rule.threshold is None:
        raise ValueError(f"{rule.id}: no threshold (not a semantic rule)")
    return rule.threshold


def judge(scorer: Scorer, cal: CalibrationSet) -> list[Judged]:
    """Every sentence of ``cal`` as one agent utterance, scored against the rule's standard."""
    rule = scorer.rulebook.get(cal.rule_id)
    if rule is None:
        raise KeyError(f"calibration set for unknown rule {cal.rule_id}")
    spec, phrases, regex = _target(rule, cal.spec)
    examples = rule.examples(phrases, spec)
    if not examples:
        raise ValueError(f"{cal.key}: the rule does not match by meaning")
    utts = [Utterance(AGENT, 2.0 * k, 2.0 * k + 1.5, text)
            for k, (text, _, _) in enumerate(cal.items)]
    call = Call(Transcript(f"calibration:{cal.key}", "cal", 2.0 * len(utts), utts),
                scorer.matcher, scorer.semantic)
    literal = rule.literal(phrases)
    near = spec.near_misses if spec is not None else rule.params.get("near_misses", ())
    out = []
    for k, (text, kind, expect) in enumerate(cal.items):
        lit = bool(scorer.matcher.find(call.texts[k], literal, rule.match, regex)) \
            if literal or regex is not None else False
        score, example, heard = call.embeddings.best(k, examples)
        if near:  # a span closer to a near miss than to the examples is no match, as in find()
            kept = call.embeddings.find(k, examples, -1.0, near)
            best = max(kept, key=lambda h: h.score, default=None)
            score, example, heard = (best.score, best.phrase, best.heard) if best \
                else (0.0, "", "")
        out.append(Judged(text, kind, expect, lit, score, example, heard))
    return out


def stats(judged: Iterable[Judged], threshold: float) -> Stats:
    tp = fp = fn = tn = 0
    for j in judged:
        got = j.matches(threshold)
        if got and j.expect:
            tp += 1
        elif got:
            fp += 1
        elif j.expect:
            fn += 1
        else:
            tn += 1
    return Stats(threshold, tp, fp, fn, tn)
