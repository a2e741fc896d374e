"""Filters for text Whisper invents when it hears noise or silence.

Whisper was trained on subtitled video, so on silence, hold music or line noise it tends to
"transcribe" subtitle credits and video outros. Three independent checks, each naming its
reason so a reviewer can see in ``Transcript.dropped`` what was removed:

- ``phantom``: known phantom strings (subtitle credits, "like and subscribe" outros) anywhere
  in the segment, or outro phrases such as 谢谢观看 when they are the whole segment;
- ``compression_ratio``: the text is highly repetitive (gzip ratio above the threshold, the
  classic looping failure);
- ``no_speech``: the model itself thinks there was no speech and is unsure of the text.

And loops, :func:`loop_span`: the words of a loop (一句话 repeated over and over, 好,好,好,好,好
…, or a wandering one: 严谋的严谋严谋的严谋…) that background voices set off, too short for the gzip ratio, are dropped with reason
``loop`` and the rest kept — inside one segment while decoding, and again over the words of
one chunk of speech (:func:`drop_loops`), where Whisper often spreads a loop one phrase per
segment (就是 / 就是就是 / 就是就是 …).

>>> HallucinationFilter().reason(SegmentInfo("字幕由Amara.org社群提供", 1.0, 0.1, -0.3))
'phantom'
>>> HallucinationFilter().reason(SegmentInfo("谢谢您的耐心等待", 1.0, 0.1, -0.3)) is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import Any, Sequence

from callqa.text import normalize_match
from callqa.transcript import Interval, Word

__all__ = ["PHANTOM_SUBSTRINGS", "PHANTOM_WHOLE", "SegmentInfo", "HallucinationFilter",
           "loop_span"]

#: Dropped wherever they occur in a segment: nobody says these on a service call.
PHANTOM_SUBSTRINGS = (
    "字幕由Amara.org社群提供",
    "字幕由Amara.org社区提供",
    "由Amara.org社区提供的字幕",
    "Amara.org",
    "请不吝点赞 订阅 转发 打赏",
    "请不吝点赞订阅",
    "点赞订阅转发打赏",
    "明镜与点点栏目",
    "明镜需要您的支持",
    "MING PAO",
    "中文字幕志愿者",
    "字幕志愿者",
    "字幕制作",
    "字幕提供",
    "优优独播剧场",
    "YoYo Television Series",
    "订阅我的频道",
    "欢迎订阅",
)
#: Dropped only when they are the whole segment (they could be part of real speech).
PHANTOM_WHOLE = (
    "谢谢观看",
    "感谢观看",
    "谢谢收看",
    "谢谢大家观看",
    "谢谢大家收看",
    "下期再见",
    "我们下期再见",
    "字幕",
    "请订阅",
)

_SUBSTRINGS = tuple(normalize_match(p) for p in PHANTOM_SUBSTRINGS)
_WHOLE = frozenset(normalize_match(p) for p in PHANTOM_WHOLE)


@dataclass(frozen=True)
class SegmentInfo:
    """What the filters look at in a Whisper segment (``faster_whisper.Segment`` has these)."""

    text: str
    compression_ratio: float
    no_speech_prob: float
    avg_logprob: float


@dataclass(frozen=True)
class HallucinationFilter:
    """Thresholds, as in Whisper's own fallback logic.

    Attributes:
        compression_ratio_max: drop segments whose gzip compression ratio exceeds this.
        no_speech_prob_max: drop segments whose no-speech probability exceeds this ...
        avg_logprob_min: ... while their average token log-probability is below this.
    """

    compression_ratio_max: float = 2.4
    no_speech_prob_max: float = 0.6
    avg_logprob_min: float = -1.0

    def reason(self, seg: SegmentInfo) -> str | None:
        key = normalize_match(seg.text)
        if not key:
            return "empty"
        if key in _WHOLE or any(p in key for p in _SUBSTRINGS):
            return "phantom"
        if seg.compression_ratio > self.compression_ratio_max:
            return "compression_ratio"
        if seg.no_speech_prob > self.no_speech_prob_max and seg.avg_logprob < self.avg_logprob_min:
            return "no_speech"
        return None


#: Whisper's looping failure inside a segment: a phrase of 3+ characters three times running, or
#: one or two characters five times (好的好的好的 and 对对对对 are how people talk; 我以为我以为
#: 我以为 and 好好好好好 in a caller's pause are not). Numbers repeat for real (13800000000).
_LOOPS = (re.compile(r"(.{3,12}?)\1{2,}"), re.compile(r"(.{1,2}?)\1{4,}"))
_NUMBER = re.compile(r"[0-9零〇一二三四五六七八九十百千万幺两点]+")
#: A loop whose period wanders (严谋的严谋严谋的严谋…, 次第2次第2…: what Whisper makes of babble):
#: this many characters or more drawn from at most three. Speech never runs so long on so few
#: characters, except repeated backchannels (好的好的…, 对对对), which are left alone.
_FEW_CHARS_RUN = 10
_BACKCHANNEL_CHARS = frozenset("好的对嗯是啊行哦喂呃哎唉")


def _few_chars_span(key: str) -> tuple[int, int] | None:
    """The longest run of at least ``_FEW_CHARS_RUN`` characters using at most three distinct
    ones (not a number, not backchannels only)."""
    best, start, counts = None, 0, {}
    for end, ch in enumerate(key):
        counts[ch] = counts.get(ch, 0) + 1
        while len(counts) > 3:
            counts[key[start]] -= 1
            if not counts[key[start]]:
                del counts[key[start]]
            start += 1
        run = key[start:end + 1]
        if len(run) >= _FEW_CHARS_RUN and (best is None or len(run) > best[1] - best[0]) \
                and not _NUMBER.fullmatch(run) and not set(run) <= _BACKCHANNEL_CHARS:
            best = (start, end + 1)
    return best


def loop_span(text: str) -> tuple[int, int] | None:
    """The longest looped run in ``text`` (normalised: punctuation and spaces removed) as
    (start, end) character offsets into the normalised text, or None.

    >>> loop_span("我以为我以为我以为，您好")
    (0, 9)
    >>> loop_span("好的好的好的") is None
    True
    >>> loop_span("严谋的严谋严谋的严谋楼道里的都是物业负责")
    (0, 10)
    """
    key = normalize_match(text)
    best = None
    for pattern in _LOOPS:
        for m in pattern.finditer(key):
            if _NUMBER.fullmatch(m.group(1)):
                continue
            unit, end = m.group(1), m.end()
            while end < len(key) and unit.startswith(key[m.end():end + 1]):
                end += 1  # the unit's start repeated once more, cut off (第2次第2次第2次|第2)
            if best is None or end - m.start() > best[1] - best[0]:
                best = (m.start(), end)
    # a wandering loop only where no regular one is (that one is cut exactly)
    return best if best is not None else _few_chars_span(key)


#: Chunks of speech closer than this are searched for a loop together: babble cut into bursts
#: by the VAD carries one loop over several of them (第2次第 | 2次第2).
LOOP_JOIN_GAP_S = 1.5


def drop_loops(speaker: str, words: Sequence[Word], chunks: Sequence[Interval]
               ) -> tuple[list[Word], list[dict[str, Any]]]:
    """``words`` without the loops :func:`loop_span` finds in the text of each stretch of
    speech (chunks less than ``LOOP_JOIN_GAP_S`` apart together; the words whose middle falls
    in it), and a ``Transcript.dropped`` record per loop."""
    from callqa.asr.utterances import join_words, words_by_stretch

    stretches: list[Interval] = []
    for c in sorted(chunks, key=lambda c: c.start):
        if stretches and c.start - stretches[-1].end < LOOP_JOIN_GAP_S:
            stretches[-1] = Interval(stretches[-1].start, max(stretches[-1].end, c.end))
        else:
            stretches.append(c)
    kept: list[Word] = []
    dropped: list[dict[str, Any]] = []
    for group in words_by_stretch(words, stretches) if stretches else [list(words)]:
        while True:
            keys = [normalize_match(w.text) for w in group]
            span = loop_span("".join(keys))
            if span is None:
                break
            pos, loop, rest = 0, [], []
            for w, key in zip(group, keys):
                inside = bool(key) and span[0] <= pos and pos + len(key) <= span[1]
                (loop if inside else rest).append(w)
                pos += len(key)
            if not loop:  # the run cuts through every word: nothing to drop by word
                break
            dropped.append({"speaker": speaker, "start": loop[0].start, "end": loop[-1].end,
                            "text": join_words([w.text for w in loop]), "reason": "loop"})
            group = rest
        kept += group
    return sorted(kept, key=lambda w: (w.start, w.end)), dropped
