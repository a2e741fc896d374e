"""Pure logic over verdicts: pairing reviews with findings, the reviewed score, sampling."""

from __future__ import annotations

import random
from typing import Any, Iterable, Sequence

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
                   matched: dict[int, Review], missed: Iterable[MissedFinding]) -> float | None:
    """The score after review: rejected findings give their points back, confirmed 待复核
    findings take the points they held back, added findings take theirs (``base`` caps it; None
    for an unscored call).

    >>> from types import SimpleNamespace as F
    >>> r = Review(1, "c", "FB01", 1.0, 2.0, None, None, "rejected", "", "qa", "")
    >>> m = MissedFinding(1, "c", "GR01", "agent", 0.0, 1.0, 5.0, "", "qa", "")
    >>> reviewed_score(80.0, 100.0, [F(deduction=10.0)], {0: r}, [m])
    85.0
    """
    if score is None:
        return None
    back = sum(findings[i].deduction for i, r in matched.items() if r.verdict == "rejected")
    # a 待复核 finding deducts what it held back once a reviewer confirms it
    back -= sum(getattr(findings[i], "held", 0.0) for i, r in matched.items()
                if r.verdict == "confirmed")
    taken = sum(m.deduction for m in missed if m.withdrawn_at is None)
    return round(max(0.0, min(base, score + back - taken)), 1)


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
