"""Pure logic over verdicts: pairing reviews with findings, the reviewed score, sampling."""

from __future__ import annotations

import random
from typing import Any, Iterable, Mapping, Sequence

from callqa.verdicts.records import MATCH_TOLERANCE_S, MissedFinding, Review

__all__ = ["match_reviews", "reviewed_score", "sample_calls"]


def match_reviews(findings: Sequence[Any], reviews: Iterable[Review],
                  tolerance_s: float = MATCH_TOLERANCE_S) -> tuple[dict[int, Review], list[Review]]:
    """Pair current findings (anything with ``rule_id`` and ``start``) with reviews.

    Returns ``{finding index: review}`` and the reviews no finding matched (history: the finding
    vanished after re-scoring). Closest pairs are taken first; each side is used at most once.

    >>> from types import SimpleNamespace as F
    >>> r = Review(1, "c", "FB01", 10.0, 11.0, "agent", "", "rejected", "", "qa", "")
    >>> match_reviews([F(rule_id="FB01", start=10.4)], [r])[0][0].id
    1
    >>> match_reviews([F(rule_id="GR01", start=10.0)], [r])[1][0].id
    1
    """
    pairs = sorted(
        (abs(f.start - r.start), i, r.id, r)
        for i, f in enumerate(findings) for r in reviews
        if f.rule_id == r.rule_id and abs(f.start - r.start) <= tolerance_s)
    matched: dict[int, Review] = {}
    used: set[int] = set()
    for _, i, rid, r in pairs:
        if i not in matched and rid not in used:
            matched[i] = r
            used.add(rid)
    return matched, [r for r in reviews if r.id not in used]


def reviewed_score(score: float | None, base: float, findings: Sequence[Any],
                   matched: dict[int, Review], missed: Iterable[MissedFinding],
                   caps: Mapping[str, tuple[float, float]] | None = None) -> float | None:
    """The score after review: rejected findings give their points back, confirmed 待复核
    findings take the points they held back, added findings take theirs (``base`` caps it; None
    for an unscored call).

    ``caps`` (rule id → (points, cap), for the rules with a cap that deduct) re-applies each cap
    to what is left: a finding that charged nothing because its rule's cap was full charges its
    points once a rejection frees room under the cap, and added findings count against it too.

    >>> from types import SimpleNamespace as F
    >>> r = Review(1, "c", "FB01", 1.0, 2.0, None, None, "rejected", "", "qa", "")
    >>> m = MissedFinding(1, "c", "GR01", "agent", 0.0, 1.0, 5.0, "", "qa", "")
    >>> reviewed_score(80.0, 100.0, [F(rule_id="FB01", deduction=10.0)], {0: r}, [m])
    85.0
    >>> three = [F(rule_id="FB04", deduction=d) for d in (10.0, 10.0, 0.0)]  # cap 20
    >>> reviewed_score(80.0, 100.0, three, {0: r}, [], caps={"FB04": (10.0, 20.0)})
    80.0

    A 待复核 finding (``held`` points, nothing deducted) counts against its rule's cap only once
    a reviewer confirms it:

    >>> pending = [F(rule_id="FB04", deduction=10.0), F(rule_id="FB04", deduction=0.0, held=10.0)]
    >>> ok = Review(2, "c", "FB04", 5.0, 6.0, None, None, "confirmed", "", "qa", "")
    >>> [reviewed_score(90.0, 100.0, pending, m, [], caps={"FB04": (10.0, 20.0)})
    ...  for m in ({}, {1: ok})]
    [90.0, 80.0]
    """
    if score is None:
        return None
    caps = caps or {}
    rejected = {i for i, r in matched.items() if r.verdict == "rejected"}
    confirmed = {i for i, r in matched.items() if r.verdict == "confirmed"}
    live = [m for m in missed if m.withdrawn_at is None]

    def counts(i: int, f: Any) -> bool:
        """Charged after review: not rejected, and a 待复核 finding only once confirmed."""
        return i not in rejected and (not getattr(f, "held", 0.0) or i in confirmed)

    def charge(i: int, f: Any) -> float:
        return f.deduction + (getattr(f, "held", 0.0) if i in confirmed else 0.0)

    before = sum(f.deduction for f in findings)
    after = sum(charge(i, f) for i, f in enumerate(findings)
                if counts(i, f) and f.rule_id not in caps)
    after += sum(m.deduction for m in live if m.rule_id not in caps)
    for rule_id, (points, cap) in caps.items():
        kept = sum(points for i, f in enumerate(findings)
                   if counts(i, f) and f.rule_id == rule_id)
        added = sum(m.deduction for m in live if m.rule_id == rule_id)
        after += min(cap, kept + added)
    return round(max(0.0, min(base, score + before - after)), 1)


def sample_calls(candidates: Iterable[tuple[str, str | None]], per_agent: int,
                 seed: int, first: Iterable[str] = ()) -> list[tuple[str, str | None]]:
    """Up to ``per_agent`` calls from each agent's candidates (stratified), in agent order:
    the calls in ``first`` (those with 待复核 findings, which deduct nothing until reviewed)
    before any other, the rest drawn at random; the same seed draws the same calls.

    >>> sample_calls([("a", "X"), ("b", "X"), ("c", "Y")], 1, seed=1)[1]
    ('c', 'Y')
    >>> sample_calls([("a", "X"), ("b", "X"), ("c", "X")], 2, seed=1, first={"c"})[0]
    ('c', 'X')
    """
    by_agent: dict[str | None, list[str]] = {}
    for call_id, agent in candidates:
        by_agent.setdefault(agent, []).append(call_id)
    urgent = set(first)
    rng = random.Random(seed)
    out: list[tuple[str, str | None]] = []
    for agent in sorted(by_agent, key=lambda a: (a is None, a or "")):
        calls = sorted(by_agent[agent])
        picked = [c for c in calls if c in urgent][:per_agent]
        rest = [c for c in calls if c not in urgent]
        picked += rng.sample(rest, min(per_agent - len(picked), len(rest)))
        out.extend((c, agent) for c in picked)
    return out
