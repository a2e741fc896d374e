"""Filters for text Whisper invents when it hears noise or silence.

Whisper was trained on subtitled video, so on silence, hold music or line noise it tends to
"transcribe" subtitle credits and video outros. Three independent checks, each naming its
reason so a reviewer can see in ``Transcript.dropped`` what was removed:

- ``phantom``: known phantom strings (subtitle credits, "like and subscribe" outros) anywhere
  in the segment, or outro phrases such as 谢谢观看 when they are the whole segment;
- ``compression_ratio``: the text is highly repetitive (gzip ratio above the threshold, the
  classic looping failure);
- ``no_speech``: the model itself thinks there was no speech and is unsure of the text.

And one inside a segment, :func:`loop_span`: the words of a loop (一句话 repeated over and
over, 好,好,好,好,好 …) that background voices set off, too short for the gzip ratio, are dropped
with reason ``loop`` and the rest of the segment kept.

>>> HallucinationFilter().reason(SegmentInfo("字幕由Amara.org社群提供", 1.0, 0.1, -0.3))
'phantom'
>>> HallucinationFilter().reason(SegmentInfo("谢谢您的耐心等待", 1.0, 0.1, -0.3)) is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callqa.text import normalize_match

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


def loop_span(text: str) -> tuple[int, int] | None:
    """The longest looped run in ``text`` (normalised: punctuation and spaces removed) as
    (start, end) character offsets into the normalised text, or None.

    >>> loop_span("我以为我以为我以为，您好")
    (0, 9)
    >>> loop_span("好的好的好的") is None
    True
    """
    key = normalize_match(text)
    best = None
    for pattern in _LOOPS:
        for m in pattern.finditer(key):
            if _NUMBER.fullmatch(m.group(1)):
                continue
            if best is None or m.end() - m.start() > best[1] - best[0]:
                best = (m.start(), m.end())
    return best
