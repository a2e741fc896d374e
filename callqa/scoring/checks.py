"""One check per rule type: pure functions from a call and a rule to violations.

A check yields :class:`Violation` records (where and what was heard); the engine turns them into
findings with deductions. Nothing here touches audio: timing comes from the transcript's speech
intervals and utterance times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from callqa.scoring.matching import Hit, Matcher, UtteranceText
from callqa.scoring.rulebook import PhraseSpec, Rule
from callqa.scoring.semantic import CallEmbeddings, SemanticMatcher
from callqa.text import count_chars
from callqa.transcript import AGENT, CUSTOMER, Interval, Transcript, Utterance, merge_intervals

__all__ = ["Call", "Violation", "CHECKS"]


@dataclass
class Violation:
    start: float
    end: float
    evidence: str
    speaker: str = AGENT
    values: dict[str, Any] = field(default_factory=dict)  # message placeholders
    matched: dict[str, Any] = field(default_factory=dict)


class Call:
    """A transcript prepared for matching: texts normalised once (and, for rules that match by
    meaning, every clause embedded once), shared by every rule."""

    def __init__(self, transcript: Transcript, matcher: Matcher,
                 semantic: SemanticMatcher | None = None):
        self.t = transcript
        self.matcher = matcher
        self.semantic = semantic
        self.utts = transcript.utterances
        self.texts = [UtteranceText(u.text, matcher) for u in self.utts]
        self._all_speech: list[Interval] | None = None
        self._indices: dict[str | None, list[int]] = {}
        self._embeddings: CallEmbeddings | None = None

    @property
    def embeddings(self) -> CallEmbeddings:
        """Clause vectors of the whole call, computed in one batch on first use."""
        if self._embeddings is None:
            if self.semantic is None:
                self.semantic = SemanticMatcher()
            self._embeddings = CallEmbeddings(self.semantic, self.texts,
                                              [u.speaker for u in self.utts])
        return self._embeddings

    def indices(self, speaker: str | None) -> list[int]:
        """Positions of ``speaker``'s utterances (all for ``any``); callers must not mutate."""
        got = self._indices.get(speaker)
        if got is None:
            got = self._indices[speaker] = [
                i for i, u in enumerate(self.utts) if speaker in (None, "any", u.speaker)]
        return got

    @property
    def all_speech(self) -> list[Interval]:
        """When anybody was speaking: the union of every party's speech intervals."""
        if self._all_speech is None:
            self._all_speech = merge_intervals(iv for ivs in self.t.speech.values() for iv in ivs)
        return self._all_speech

    def find(self, i: int, spec: PhraseSpec | None, rule: Rule, phrases=None, regex=None
             ) -> list[Hit]:
        """Hits in utterance ``i`` of ``spec`` (its phrases and regex) — or of ``phrases`` and
        ``regex`` when given, listened for as ``spec`` or else the rule says: word for word
        (``match``), by regex, and by meaning (``semantic_examples`` / ``match: semantic``)."""
        if phrases is None:
            phrases, regex = (spec.phrases, spec.regex) if spec is not None else ((), regex)
        examples = rule.examples(phrases, spec)
        if not examples:
            return self.matcher.find(self.texts[i], phrases, rule.match, regex)
        literal = rule.literal(phrases)
        hits = self.matcher.find(self.texts[i], literal, rule.match, regex) \
            if literal or regex is not None else []
        threshold = spec.threshold if spec is not None and spec.threshold is not None \
            else rule.threshold
        meant = self.embeddings.find(i, examples, threshold if threshold is not None else 1.0)
        # what was heard word for word is the better evidence of the same words
        meant = [m for m in meant if not any(h.begin < m.end and m.begin < h.end for h in hits)]
        return sorted(hits + meant, key=lambda h: h.begin) if meant else hits

    def hit_time(self, i: int, hit: Hit) -> tuple[float, float]:
        """Time span of a hit: from word timestamps when the words spell the text, else
        interpolated by character position within the utterance."""
        u, ut = self.utts[i], self.texts[i]
        text = ut.norm
        if u.words:
            pos, start, end = 0, None, None
            for w in u.words:
                n = len(self.matcher.norm_phrase(w.text))
                if start is None and pos + n > hit.begin:
                    start = w.start
                if pos < hit.end:
                    end = w.end
                pos += n
            if pos == len(text) and start is not None and end is not None:
                return start, end
        if not text:
            return u.start, u.end
        scale = (u.end - u.start) / len(text)
        return u.start + hit.begin * scale, u.start + hit.end * scale

    def matched(self, hit: Hit) -> dict[str, Any]:
        if hit.mode == "semantic":
            return {"phrase": hit.phrase, "heard": hit.heard, "mode": hit.mode,
                    "score": round(hit.score, 2)}
        return {"phrase": hit.phrase, "heard": hit.heard, "mode": hit.mode}

    @staticmethod
    def said(hit: Hit) -> str:
        """The phrase to quote in a message: a regex pattern means nothing to a trainer."""
        return hit.heard if hit.mode == "regex" else hit.phrase

    def longest_silence(self, start: float, end: float) -> float:
        """Longest stretch within ``[start, end]`` when nobody was speaking."""
        longest, t = 0.0, start
        for iv in self.all_speech:
            if iv.end <= t:
                continue
            if iv.start >= end:
                break
            longest = max(longest, iv.start - t)
            t = iv.end
        return max(longest, end - t)

    def silence_follows(self, i: int, min_s: float) -> bool:
        """Did a silence of ``min_s`` come after utterance ``i`` before its speaker spoke
        again? (A customer's 嗯，好 after 请您稍等 does not end the hold.)"""
        u = self.utts[i]
        back = next((v.start for v in self.utts[i + 1:] if v.speaker == u.speaker),
                    self.t.duration)
        return self.longest_silence(u.end, back) >= min_s

    def announced_hold(self, gap_start: float, phrases: tuple[str, ...], window_s: float,
                       rule: Rule) -> Hit | None:
        """A hold announcement by the agent ending within ``window_s`` before ``gap_start``."""
        for i in reversed(self.indices(AGENT)):
            u = self.utts[i]
            if u.start > gap_start + 0.5:
                continue
            if u.end < gap_start - window_s:
                break
            hits = self.find(i, None, rule, phrases)
            if hits:
                return hits[0]
        return None


def _evidence(utts: list[Utterance], limit: int = 60) -> str:
    text = " / ".join(u.text for u in utts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- phrase rules

def check_required_phrase(rule: Rule, call: Call) -> Iterator[Violation]:
    idx = call.indices(rule.speaker)
    kind, n = rule.params.get("scope") or ("anywhere", None)
    if kind == "first_utterances":
        idx = idx[:n]
    elif kind == "last_utterances":
        idx = idx[-n:]
    elif kind == "first_seconds":
        idx = [i for i in idx if call.utts[i].start < n]
    elif kind == "last_seconds":
        idx = [i for i in idx if call.utts[i].end > call.t.duration - n]
    phrases, regex = rule.params.get("phrases", ()), rule.params.get("regex")
    missing: list[str] = []
    if rule.params.get("mode", "any") == "all":
        for phrase in phrases:
            if not any(call.find(i, None, rule, (phrase,)) for i in idx):
                missing.append(phrase)
        if regex is not None and not any(call.find(i, None, rule, (), regex) for i in idx):
            missing.append(regex.pattern)
    elif not any(call.find(i, None, rule, phrases, regex) for i in idx):
        missing = list(phrases) or list(rule.params.get("semantic_examples", ())) \
            or [regex.pattern]
    if not missing:
        return
    utts = [call.utts[i] for i in idx]
    if utts:
        start, end = utts[0].start, utts[-1].end
    elif kind in ("last_seconds", "last_utterances"):
        start, end = max(0.0, call.t.duration - (n or 0)), call.t.duration
    else:
        start, end = 0.0, min(call.t.duration, float(n or 0)) if kind == "first_seconds" else 0.0
    yield Violation(start, end, _evidence(utts) or "（无发言）", rule.speaker,
                    values={"phrase": "、".join(missing)},
                    matched={"missing": missing, "scope": kind, "searched": len(utts)})


def check_forbidden_phrase(rule: Rule, call: Call) -> Iterator[Violation]:
    exc: PhraseSpec | None = rule.params.get("exceptions")
    for i in call.indices(rule.speaker):
        hits = call.find(i, None, rule, rule.params.get("phrases", ()), rule.params.get("regex"))
        if not hits:
            continue
        if exc is not None:
            if exc.regex is not None and exc.regex.search(call.texts[i].display):
                continue
            cancels = call.find(i, exc, rule, exc.phrases)
            hits = [h for h in hits if not any(c.begin < h.end and h.begin < c.end
                                               for c in cancels)]
        for hit in hits:
            start, end = call.hit_time(i, hit)
            yield Violation(start, end, call.utts[i].text, call.utts[i].speaker,
                            values={"phrase": call.said(hit)}, matched=call.matched(hit))


def check_sequence(rule: Rule, call: Call) -> Iterator[Violation]:
    trigger: PhraseSpec = rule.params["trigger"]
    require: PhraseSpec = rule.params["require"]
    before = rule.params["direction"] == "before"
    k = rule.params.get("within_utterances")
    within_s = rule.params.get("within_s")
    req_speaker = require.speaker or rule.speaker
    for i in call.indices(trigger.speaker or rule.speaker):
        for hit in call.find(i, trigger, rule):
            t_start, t_end = call.hit_time(i, hit)
            u = call.utts[i]
            if trigger.followed_by_silence_s is not None and \
                    not call.silence_follows(i, trigger.followed_by_silence_s):
                continue
            if _required_near(call, rule, require, req_speaker, i, hit, before, k, within_s,
                              t_start, t_end):
                continue
            yield Violation(t_start, t_end, u.text, u.speaker,
                            values={"phrase": call.said(hit), "trigger": hit.heard,
                                    "required": "、".join(require.phrases
                                                         or require.semantic_examples)},
                            matched=call.matched(hit))


def _required_near(call: Call, rule: Rule, require: PhraseSpec, speaker: str, i: int, hit: Hit,
                   before: bool, k: int | None, within_s: float | None, t_start: float,
                   t_end: float) -> bool:
    # The trigger's own utterance counts: 对不起，这个不能办 has the apology before the refusal.
    if call.utts[i].speaker == speaker or speaker == "any":
        for h in call.find(i, require, rule):
            if (h.end <= hit.begin) if before else (h.begin >= hit.end):
                return True
    step = -1 if before else 1
    j, seen = i + step, 0
    while 0 <= j < len(call.utts):
        seen += 1
        u = call.utts[j]
        if k is not None and seen > k:
            break
        if within_s is not None and (t_start - u.end > within_s if before
                                     else u.start - t_end > within_s):
            break
        if (speaker == "any" or u.speaker == speaker) and call.find(j, require, rule):
            return True
        j += step
    return False


# --------------------------------------------------------------------------- timing rules

def check_silence(rule: Rule, call: Call) -> Iterator[Violation]:
    p = rule.params
    speech = call.all_speech
    for prev, nxt in zip(speech, speech[1:]):
        gap = nxt.start - prev.end
        if gap <= p["max_gap_s"]:
            continue
        hold = None
        if p.get("hold_phrases"):
            hold = call.announced_hold(prev.end, p["hold_phrases"], p.get("hold_window_s", 15.0),
                                       rule)
        if hold is not None and gap <= p.get("hold_max_s", p["max_gap_s"]):
            continue
        limit = p.get("hold_max_s", p["max_gap_s"]) if hold is not None else p["max_gap_s"]
        before = [u for u in call.utts if u.end <= prev.end + 0.05][-1:]
        yield Violation(prev.end, nxt.start, _evidence(before) or "（静音）", AGENT,
                        values={"gap_s": round(gap, 1), "limit": limit},
                        matched={"hold_announced": hold.heard if hold else None})


def check_interruption(rule: Rule, call: Call) -> Iterator[Violation]:
    p = rule.params
    min_overlap = p["min_overlap_ms"] / 1000
    grace = p.get("grace_ms", 0.0) / 1000
    customer = call.t.speech.get(CUSTOMER, [])
    excused: PhraseSpec | None = p.get("exceptions")
    for i in call.indices(AGENT):
        u = call.utts[i]
        if count_chars(u.text) < p.get("min_chars", 0):
            continue
        if excused is not None and call.find(i, excused, rule):
            continue  # 不好意思，打断一下: the seeds allow an interruption that apologises
        for iv in customer:
            if iv.start + grace <= u.start < iv.end:
                overlap = min(iv.end, u.end) - u.start
                if overlap >= min_overlap:
                    said = next((c.text for c in call.utts if c.speaker == CUSTOMER
                                 and c.start < iv.end and iv.start < c.end), "")
                    yield Violation(u.start, min(iv.end, u.end), u.text, AGENT,
                                    values={"value": round(overlap, 1)},
                                    matched={"overlap_s": round(overlap, 2),
                                             "customer_said": said})
                break


def check_speech_rate(rule: Rule, call: Call) -> Iterator[Violation]:
    p = rule.params
    lo, hi = p.get("min_cpm"), p.get("max_cpm")
    per = p.get("per", "both")
    idx = call.indices(rule.speaker)

    def judge(chars: int, seconds: float) -> tuple[float, float] | None:
        cpm = chars / seconds * 60
        if hi is not None and cpm > hi:
            return cpm, hi
        if lo is not None and cpm < lo:
            return cpm, lo
        return None

    if per in ("utterance", "both"):
        for i in idx:
            u = call.utts[i]
            if u.duration < p.get("min_utterance_s", 3.0):
                continue
            bad = judge(count_chars(u.text), u.duration)
            if bad:
                yield Violation(u.start, u.end, u.text, u.speaker,
                                values={"value": round(bad[0]), "limit": bad[1]},
                                matched={"cpm": round(bad[0], 1), "scope": "utterance"})
    if per in ("call", "both") and idx:
        seconds = sum(call.utts[i].duration for i in idx)
        if seconds >= p.get("min_utterance_s", 3.0):
            bad = judge(sum(count_chars(call.utts[i].text) for i in idx), seconds)
            if bad:
                yield Violation(call.utts[idx[0]].start, call.utts[idx[-1]].end,
                                f"全通话平均 {round(bad[0])} 字/分钟", rule.speaker,
                                values={"value": round(bad[0]), "limit": bad[1]},
                                matched={"cpm": round(bad[0], 1), "scope": "call"})


def check_response_latency(rule: Rule, call: Call) -> Iterator[Violation]:
    p = rule.params
    first_max = p.get("max_first_response_s")
    if first_max is not None:
        agent = call.t.speech.get(AGENT) or []
        first = agent[0].start if agent else None
        if first is None or first > first_max:
            end = first if first is not None else call.t.duration
            yield Violation(0.0, end, "（坐席未应答）" if first is None else "（开场静默）",
                            AGENT, values={"value": round(end, 1), "limit": first_max},
                            matched={"first_response_s": None if first is None else round(first, 2)})
    reply_max = p.get("max_reply_s")
    if reply_max is None or CUSTOMER not in call.t.speakers:
        return
    for prev, nxt in zip(call.utts, call.utts[1:]):
        if prev.speaker != CUSTOMER or nxt.speaker != AGENT:
            continue
        wait = nxt.start - prev.end
        if wait <= reply_max:
            continue
        if p.get("hold_phrases") and call.announced_hold(
                prev.end, p["hold_phrases"], p.get("hold_window_s", 15.0), rule):
            continue
        yield Violation(prev.end, nxt.start, prev.text, AGENT,
                        values={"value": round(wait, 1), "limit": reply_max},
                        matched={"reply_s": round(wait, 2)})


CHECKS: dict[str, Callable[[Rule, Call], Iterator[Violation]]] = {
    "required_phrase": check_required_phrase,
    "forbidden_phrase": check_forbidden_phrase,
    "sequence": check_sequence,
    "silence": check_silence,
    "interruption": check_interruption,
    "speech_rate": check_speech_rate,
    "response_latency": check_response_latency,
}
