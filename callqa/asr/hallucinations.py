"""Filters for text Whisper invents when it hears noise or silence.

Whisper was trained on subtitled video, so on silence, hold music or line noise it tends to
"transcribe" subtitle credits and video outros. Three independent checks, each naming its
reason so a reviewer can see in ``Transcript.dropped`` what was removed:

- ``phantom``: known phantom strings (subtitle credits, "like and subscribe" outros) anywhere
  in the segment, or outro phrases such as 谢谢观看 when they are the whole segment;
- ``compression_ratio``: the text is highly repetitive (gzip ratio above the threshold, the
  classic looping failure);
- ``no_speech``: the model itself thinks there was no speech and is unsure of the text.

>>> drop_reason(SegmentInfo("字幕由Amara.org社群提供", 1.0, 0.1, -0.3))
'phantom'
>>> drop_reason(SegmentInfo("谢谢您的耐心等待", 1.0, 0.1, -0.3)) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass

from callqa.text import normalize_match

__all__ = ["PHANTOM_SUBSTRINGS", "PHANTOM_WHOLE", "SegmentInfo", "HallucinationFilter",
           "drop_reason"]

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


def drop_reason(seg: SegmentInfo, flt: HallucinationFilter = HallucinationFilter()) -> str | None:
    """Why ``seg`` should be dropped, or None to keep it."""
    return flt.reason(seg)
