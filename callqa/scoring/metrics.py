"""Conversation metrics of one call: who talked how much, over whom, the silences and how fast
the agent answered — measured on the transcript's per-party speech intervals (VAD), not on the
words.

The talk-time and non-talk-time shares follow Amazon Connect Contact Lens ("sum all the
intervals in which the agent was engaged in conversation; divide the sum by the total
conversation duration"; docs/report.md cites the page), with the recording's length as the
conversation duration. Pure: a function of a :class:`~callqa.transcript.Transcript`.

    m = conversation_metrics(transcript)
    m.agent_talk_rate, m.overtalk_rate, m.mean_response_s   # → 0.42, 0.03, 0.8
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable

from callqa.transcript import (AGENT, CUSTOMER, ROLES_UNCERTAIN, Interval, Transcript,
                               merge_intervals)

__all__ = ["ConversationMetrics", "conversation_metrics"]


@dataclass(frozen=True)
class ConversationMetrics:
    """Talk, silence and response time of one call. Rates are fractions of ``duration_s``.

    A value is None where it cannot be measured: anything about the customer (and non-talk,
    overtalk, silence, response) on a recording without the customer's channel; the agent's and
    customer's shares and the response time when the roles are uncertain (who is who is unknown,
    though when somebody spoke is not).

    Attributes:
        duration_s: the recording's length (the denominator of every rate).
        agent_talk_rate: time the agent speaks / duration.
        customer_talk_rate: time the customer speaks / duration.
        non_talk_rate: time nobody speaks / duration (includes silence before the first and
            after the last speech, as Contact Lens counts it).
        overtalk_rate: time both speak at once / duration.
        longest_silence_s: the longest stretch with nobody speaking between the first and the
            last speech of the call (the ring before and the hang-up after are not dead air).
        mean_response_s: mean time from the end of a customer's turn to the start of the
            agent's next one; only turn changes where the agent starts after the customer stops
            count (talking over the customer is overtalk, not a fast answer).
        responses: how many such turn changes there were.
    """

    duration_s: float
    agent_talk_rate: float | None
    customer_talk_rate: float | None
    non_talk_rate: float | None
    overtalk_rate: float | None
    longest_silence_s: float | None
    mean_response_s: float | None
    responses: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConversationMetrics | None":
        """The record stored in ``CallResult.metrics``; None for an empty (older) dict."""
        if not d:
            return None
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


def _total(intervals: Iterable[Interval]) -> float:
    return sum(i.duration for i in intervals)


def _intersection(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Where both (each already merged and sorted) speak."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if start < end:
            out.append(Interval(start, end))
        if a[i].end < b[j].end:
            i += 1
        else:
            j += 1
    return out


def _responses(agent: list[Interval], customer: list[Interval]) -> list[float]:
    """Gaps from each customer turn's end to the agent's next start, when the agent takes the
    turn after the customer stops (not while the agent already speaks, and before the customer
    speaks again)."""
    starts = [a.start for a in agent]
    gaps = []
    for n, c in enumerate(customer):
        k = bisect_left(starts, c.end)  # the agent's first interval starting at or after c.end
        if k and agent[k - 1].end > c.end:
            continue  # the agent already has the floor
        again = customer[n + 1].start if n + 1 < len(customer) else float("inf")
        if k < len(agent) and agent[k].start < again:
            gaps.append(agent[k].start - c.end)
    return gaps


def _r(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def conversation_metrics(transcript: Transcript) -> ConversationMetrics:
    """The conversation metrics of ``transcript`` from its ``speech`` intervals."""
    duration = float(transcript.duration)
    agent = merge_intervals(transcript.speech.get(AGENT, ()))
    both_parties = CUSTOMER in transcript.speakers
    customer = merge_intervals(transcript.speech.get(CUSTOMER, ())) if both_parties else []
    sure = transcript.roles != ROLES_UNCERTAIN

    def rate(seconds: float) -> float | None:
        return seconds / duration if duration > 0 else None

    anyone = merge_intervals([*agent, *customer])
    silences = [b.start - a.end for a, b in zip(anyone, anyone[1:])]
    gaps = _responses(agent, customer) if both_parties and sure else []
    return ConversationMetrics(
        duration_s=round(duration, 3),
        agent_talk_rate=_r(rate(_total(agent))) if sure else None,
        customer_talk_rate=_r(rate(_total(customer))) if both_parties and sure else None,
        non_talk_rate=_r(rate(max(0.0, duration - _total(anyone)))) if both_parties else None,
        overtalk_rate=_r(rate(_total(_intersection(agent, customer)))) if both_parties
        else None,
        longest_silence_s=_r(max(silences, default=0.0), 3) if both_parties else None,
        mean_response_s=_r(sum(gaps) / len(gaps), 3) if gaps else None,
        responses=len(gaps),
    )
