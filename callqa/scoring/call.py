"""A transcript prepared for the rules: texts normalised once, clauses cut at punctuation and at
pauses, the call's silences found once, and every phrase search in one place.

A rule type's check reads a :class:`Call` and yields :class:`Violation` records; nothing here
touches audio: timing comes from the transcript's speech intervals, utterances and word times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from callqa.privacy.detect import detect as detect_entities
from callqa.scoring.confidence import (FAINT_P, SURE, Confidence, combine, loop_factor,
                                       match_factor, words_factor)
from callqa.scoring.matching import Hit, Matcher, UtteranceText
from callqa.scoring.schema import PhraseSpec
from callqa.scoring.semantic import CallEmbeddings, SemanticMatcher
from callqa.text import count_chars
from callqa.transcript import (AGENT, ROLES_UNCERTAIN, Interval, Transcript, Utterance, Word,
                               merge_intervals)

if TYPE_CHECKING:
    from callqa.scoring.rule import Rule

__all__ = ["Call", "Gap", "Violation", "CLAUSE_PAUSE_S", "evidence"]

#: A pause between two words of one utterance this long is a clause break, as a comma would be:
#: the ASR often drops the comma (不知道，你明天再打来吧 heard as 不知道你明天再打来吧) but its word
#: times keep the pause. Within a clause whisper's words abut (gap 0); between clauses it leaves
#: 0.25–0.45 s.
CLAUSE_PAUSE_S = 0.25
#: The recogniser splits a turn into utterances at pauses; a phrase the agent must say may run
#: across such a cut (请您稍 | 等) when the next utterance follows this soon.
BRIDGE_GAP_S = 1.0


@dataclass
class Violation:
    start: float
    end: float
    evidence: str
    speaker: str = AGENT
    values: dict[str, Any] = field(default_factory=dict)  # message placeholders
    matched: dict[str, Any] = field(default_factory=dict)
    confidence: Confidence = SURE  # how sure: callqa.scoring.confidence


@dataclass(frozen=True)
class Gap:
    """A stretch when nobody spoke, between two stretches of speech.

    ``announced``: the hold announcement (utterance index and hit) in the agent's last words
    before it, or None: an unexplained silence."""

    start: float
    end: float
    announced: tuple[int, Hit] | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


def pauses(u: Utterance, norm: str, matcher: Matcher, min_s: float = CLAUSE_PAUSE_S
           ) -> tuple[int, ...]:
    """Positions in ``norm`` where the speaker paused >= ``min_s`` between two words (only when
    the words spell the text, so positions are exact)."""
    out, pos, prev_end = [], 0, None
    for w in u.words:
        if prev_end is not None and w.start - prev_end >= min_s and pos:
            out.append(pos)
        pos += len(matcher.norm_phrase(w.text))
        prev_end = w.end
    return tuple(out) if pos == len(norm) else ()


def evidence(utts: list[Utterance], limit: int = 60) -> str:
    text = " / ".join(u.text for u in utts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Call:
    """A transcript prepared for matching: texts normalised once (and, for rules that match by
    meaning, every clause embedded once), shared by every rule."""

    def __init__(self, transcript: Transcript, matcher: Matcher,
                 semantic: SemanticMatcher | None = None):
        self.t = transcript
        self.matcher = matcher
        self.semantic = semantic
        self.utts = transcript.utterances
        self.texts = []
        for u in self.utts:
            norm = matcher.norm_phrase(u.text)
            self.texts.append(UtteranceText(u.text, matcher, pauses(u, norm, matcher)))
        self._all_speech: list[Interval] | None = None
        self._indices: dict[str | None, list[int]] = {}
        self._embeddings: CallEmbeddings | None = None
        self.conditions: dict[str, bool] = {}  # named conditions, evaluated once per call
        # the personal data said (types and spans): for ``gave`` conditions and the result
        self.entities = detect_entities(transcript)

    @property
    def roles_known(self) -> bool:
        """False when the recording's two voices could not be told apart (who is the agent?)."""
        return self.t.roles != ROLES_UNCERTAIN

    def background_voices(self, speaker: str) -> bool:
        """Did the front end hear colleagues' voices under ``speaker``'s track (its noise-floor
        reading, ``asr.front_end.enhance``)? There a barely-heard word may be a misheard
        phrase; on a quiet line it is more often a name the recogniser did not know."""
        reading = (self.t.asr.get("front_end") or {}).get("enhance") or {}
        return bool((reading.get(speaker) or {}).get("background_voices"))

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

    # ------------------------------------------------------------------ phrases

    def find(self, i: int, spec: PhraseSpec | None, rule: "Rule", phrases=None, regex=None,
             tolerant: bool = True, bridge: bool = False) -> list[Hit]:
        """Hits in utterance ``i`` of ``spec`` (its phrases and regex) — or of ``phrases`` and
        ``regex`` when given, listened for as ``spec`` or else the rule says: word for word
        (``match``), by regex, and by meaning (``semantic_examples`` / ``match: semantic``).
        A ``question`` spec only counts in a clause that asks something. ``tolerant=False``
        ignores the rule's sound ``tolerance`` (exceptions: 您找谁 must not excuse 你找谁).
        ``bridge=True`` (for words the agent should say, never for what charges them): a phrase
        by sound may also run on into the speaker's next utterance when the recogniser cut it
        at a short pause (请您稍 | 等)."""
        tolerance = rule.tolerance if tolerant else None
        if phrases is None:
            phrases, regex = (spec.phrases, spec.regex) if spec is not None else ((), regex)
        # a regex's faint words heard clearly: no hit (nor one hiding a phrase heard there)
        admit = None if regex is None or "faint" not in regex.groupindex else \
            (lambda h: h.faint is None or self._faint(i, *h.faint))
        examples = rule.examples(phrases, spec)
        if not examples:
            hits = self.matcher.find(self.texts[i], phrases, rule.match, regex, tolerance, admit)
        else:
            literal = rule.literal(phrases)
            hits = self.matcher.find(self.texts[i], literal, rule.match, regex, tolerance,
                                     admit) if literal or regex is not None else []
            threshold = spec.threshold if spec is not None and spec.threshold is not None \
                else rule.threshold
            near = spec.near_misses if spec is not None else rule.params.get("near_misses", ())
            meant = self.embeddings.find(i, examples, threshold if threshold is not None else 1.0,
                                         near)
            # what was heard word for word is the better evidence of the same words
            meant = [m for m in meant
                     if not any(h.begin < m.end and m.begin < h.end for h in hits)]
            if meant:
                hits = sorted(hits + meant, key=lambda h: h.begin)
        if bridge and not hits and rule.match == "pinyin" and phrases:
            hits = self._bridged(i, rule.literal(phrases), tolerance)
        if spec is not None and spec.question:
            hits = [h for h in hits if self.texts[i].asks(h.begin)]
        return hits

    def _faint(self, i: int, begin: int, end: int) -> bool:
        """Were the words over ``[begin, end)`` of utterance ``i`` all barely heard (a regex's
        ``faint`` group: the frame 已经…了 heard, the verb inside it not)? False without word
        probabilities: a hand-written transcript says nothing of how words were heard."""
        probs = self.span_probabilities(i, begin, end)
        return bool(probs) and max(probs) <= FAINT_P

    def _bridged(self, i: int, phrases, tolerance: float | None) -> list[Hit]:
        """Hits of ``phrases`` that start in utterance ``i`` and run on into the same speaker's
        next utterance, when it follows within :data:`BRIDGE_GAP_S` with nobody else speaking
        in between; the hit is cut at the end of utterance ``i``."""
        j = i + 1
        if j >= len(self.utts) or self.utts[j].speaker != self.utts[i].speaker \
                or self.utts[j].start - self.utts[i].end > BRIDGE_GAP_S:
            return []
        n = len(self.texts[i].norm)
        joined = UtteranceText(self.utts[i].text + self.utts[j].text, self.matcher)
        return [Hit(h.begin, n, h.heard, h.phrase, h.mode, h.score, h.cost)
                for h in self.matcher.find(joined, phrases, "pinyin", None, tolerance)
                if h.begin < n < h.end]

    def said(self, spec: PhraseSpec, match: str, speaker: str | None = None) -> bool:
        """Did ``speaker`` (default: the spec's, else anyone) say something ``spec`` lists, word
        for word or by regex? (For conditions over the whole call.)"""
        who = speaker or spec.speaker or "any"
        return any(self.matcher.find(self.texts[i], spec.phrases, match, spec.regex)
                   for i in self.indices(who))

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

    @staticmethod
    def matched(hit: Hit) -> dict[str, Any]:
        if hit.mode == "semantic":
            return {"phrase": hit.phrase, "heard": hit.heard, "mode": hit.mode,
                    "score": round(hit.score, 2)}
        if hit.mode == "phonetic":
            return {"phrase": hit.phrase, "heard": hit.heard, "mode": hit.mode,
                    "cost": round(hit.cost, 2)}
        return {"phrase": hit.phrase, "heard": hit.heard, "mode": hit.mode}

    # ------------------------------------------------------------------ evidence quality

    def hit_probabilities(self, i: int, hit: Hit) -> list[float]:
        """Word probabilities of the words a hit was heard in (none when the transcript has no
        word times that spell the text)."""
        return self.span_probabilities(i, hit.begin, hit.end)

    def span_probabilities(self, i: int, begin: int, end: int) -> list[float]:
        """Word probabilities of the words over ``[begin, end)`` of utterance ``i``'s normalised
        text (none when the transcript has no word times that spell the text)."""
        return [w.probability for w in self.span_words(i, begin, end)]

    def span_words(self, i: int, begin: int, end: int) -> list[Word]:
        """The words over ``[begin, end)`` of utterance ``i``'s normalised text (none when the
        transcript has no word times that spell the text)."""
        u = self.utts[i]
        pos, out = 0, []
        for w in u.words:
            n = len(self.matcher.norm_phrase(w.text))
            if pos < end and pos + n > begin:
                out.append(w)
            pos += n
        return out if u.words and pos == len(self.texts[i].norm) else []

    def probabilities(self, indices: Iterable[int]) -> list[float]:
        """Word probabilities of whole utterances."""
        return [w.probability for i in indices for w in self.utts[i].words]

    def hit_confidence(self, i: int, hit: Hit, rule: "Rule", spec: PhraseSpec | None = None
                       ) -> Confidence:
        """How sure a phrase hit is: how clearly its words were heard, how close the match."""
        threshold = spec.threshold if spec is not None and spec.threshold is not None \
            else rule.threshold
        return combine(words=words_factor(self.hit_probabilities(i, hit)),
                       match=match_factor(hit, threshold),
                       loop=loop_factor(self.texts[i].norm))

    def density_ratio(self, i: int) -> float | None:
        """Characters per second of utterance ``i`` against its speaker's median over their
        turns of a second or more; None for a turn under 2 s (a short turn's rate says
        little) or a speaker with fewer than three such turns."""
        u = self.utts[i]
        if u.end - u.start < 2.0:
            return None
        rates = sorted(count_chars(v.text) / (v.end - v.start) for v in self.utts
                       if v.speaker == u.speaker and v.end - v.start >= 1.0)
        if len(rates) < 3:
            return None
        usual = rates[len(rates) // 2]
        return round(count_chars(u.text) / (u.end - u.start) / usual, 3) if usual > 0 else None

    def unheard_s(self, start: float, end: float, speaker: str | None = None,
                  min_piece_s: float = 0.0) -> float:
        """Seconds within ``[start, end]`` where the detector heard ``speaker`` (None: anyone;
        anyone too when the roles are uncertain) but the recogniser wrote no word (a turn lost
        under background voices), and segments the recogniser wrote but callqa dropped (loops,
        hallucinations) — evidence that something was said there. ``min_piece_s``: count only
        pieces at least that long (a detected turn's unwritten part, or one dropped segment)."""
        if not self.roles_known:
            speaker = None
        least = max(min_piece_s, 0.0)
        utts = [u for u in self.utts if speaker in (None, u.speaker)]
        words = merge_intervals(Interval(w.start, w.end) for u in utts for w in u.words) \
            if any(u.words for u in utts) else \
            merge_intervals(Interval(u.start, u.end) for u in utts)
        heard = self.all_speech if speaker is None else self.t.speech.get(speaker, [])
        total = 0.0
        for iv in heard:
            a, b = max(iv.start, start), min(iv.end, end)
            if b <= a:
                continue
            covered = sum(max(0.0, min(b, w.end) - max(a, w.start)) for w in words)
            piece = (b - a) - covered - 0.3  # VAD padding around words is no loss
            total += piece if piece >= least else 0.0
        for d in self.t.dropped:
            if speaker is not None and d.get("speaker", speaker) != speaker:
                continue
            a, b = max(float(d.get("start", 0)), start), min(float(d.get("end", 0)), end)
            total += b - a if b - a >= least else 0.0
        return round(total, 2)

    @staticmethod
    def quote(hit: Hit) -> str:
        """The phrase to quote in a message: a regex pattern means nothing to a trainer."""
        return hit.heard if hit.mode == "regex" else hit.phrase

    # ------------------------------------------------------------------ silence

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

    def gaps(self, min_s: float, hold: PhraseSpec | None, window_s: float, rule: "Rule"
             ) -> list[Gap]:
        """Every mutual silence of ``min_s`` or more between the first and the last speech,
        with the hold announcement (``hold``) that explains it, if any."""
        speech = self.all_speech
        out = []
        for prev, nxt in zip(speech, speech[1:]):
            if nxt.start - prev.end >= min_s:
                said = self.announcement(prev.end, hold, window_s, rule) if hold else None
                out.append(Gap(prev.end, nxt.start, said))
        return out

    def announcement(self, at: float, hold: PhraseSpec, window_s: float, rule: "Rule"
                     ) -> tuple[int, Hit] | None:
        """The hold announcement (请您稍等, 我帮您查一下 …) in the agent's last words before
        ``at``. The customer may answer it (嗯，好) or check in (喂？) before the silence, for at
        most ``window_s`` of speech in all; a silence of any length since then is the same hold.
        An announcement the agent has talked past explains nothing. When the roles are
        uncertain, either voice's last words count."""
        who = AGENT if self.roles_known else "any"
        last = [i for i in self.indices(who) if self.utts[i].start <= at + 0.5]
        if not last:
            return None
        i = last[-1]
        since = self.utts[i].end
        spoken = sum(min(iv.end, at) - max(iv.start, since) for iv in self.all_speech
                     if iv.end > since and iv.start < at)
        if spoken > window_s:
            return None
        hits = self.find(i, hold, rule, bridge=True)
        return (i, hits[0]) if hits else None
