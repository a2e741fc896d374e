"""Text normalisation as small named steps, composed into the two forms callqa uses.

- ``display``: what a person reads and what regexes run on: Simplified, half-width, one space.
- ``match``: what phrases are matched on: ``display`` without punctuation or spaces, lower case,
  because the ASR's punctuation and spacing in Chinese are arbitrary.

>>> normalize_display("您好，這裡是 光明物業！")
'您好,这里是 光明物业!'
>>> normalize_match("您好，這裡是 光明物業！")
'您好这里是光明物业'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Callable

__all__ = [
    "to_simplified",
    "to_halfwidth",
    "collapse_spaces",
    "strip_punctuation",
    "normalize_display",
    "normalize_match",
    "count_chars",
    "char_edits",
    "cer",
]


@lru_cache(maxsize=1)
def _t2s() -> Callable[[str], str]:
    # Loaded lazily: OpenCC reads its dictionaries on first use (~50 ms).
    from opencc import OpenCC

    return OpenCC("t2s").convert


@lru_cache(maxsize=1)
def _traditional_chars() -> frozenset[str]:
    """Every character OpenCC's t2s could change: text without any is already Simplified."""
    import opencc

    root = Path(opencc.__file__).parent / "dictionary"
    chars: set[str] = set()
    simplified: set[str] = set()
    for name in ("TSCharacters.txt", "TSPhrases.txt"):
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            key, _, values = line.partition("\t")
            value = values.split(" ")[0]
            if name == "TSCharacters.txt":
                simplified.update(value)
            if len(key) != len(value):
                chars.update(key)
            else:
                chars.update(k for k, v in zip(key, value) if k != v)
    # A few phrase entries rewrite characters that are themselves Simplified (么二 → 幺二);
    # those characters are everywhere in Simplified text and must not force a conversion.
    return frozenset(chars - (simplified - _single_traditional(root)))


def _single_traditional(root: Path) -> set[str]:
    out = set()
    for line in (root / "TSCharacters.txt").read_text(encoding="utf-8").splitlines():
        key, _, values = line.partition("\t")
        if key and key not in values.split(" "):
            out.add(key)
    return out


def to_simplified(text: str) -> str:
    """Traditional → Simplified (OpenCC t2s); Simplified text passes through unchanged.

    The converter is slow (pure Python), so text with no convertible character skips it.
    """
    if not text or _traditional_chars().isdisjoint(text):
        return text
    return _t2s()(text)


#: what NFKC leaves full-width: the ideographic full stop and enumeration comma (Whisper ends
#: sentences with 。 as often as with .; rules' regexes look for [,.!?;:] after a clause)
_CJK_PUNCT = str.maketrans({"\u3002": ".", "\uff61": ".", "\u3001": ","})


def to_halfwidth(text: str) -> str:
    """Full-width ASCII and punctuation (，！？：Ａ１。、) → half-width; CJK characters unchanged.

    >>> to_halfwidth("你自己去查。好，谢谢、再见！")
    '你自己去查.好,谢谢,再见!'
    """
    return unicodedata.normalize("NFKC", text).translate(_CJK_PUNCT)


_SPACES = re.compile(r"\s+")


def collapse_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def strip_punctuation(text: str) -> str:
    """Drop punctuation, symbols and spaces (Unicode categories P*, S*, Z*)."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZ")


@lru_cache(maxsize=65536)
def normalize_display(text: str) -> str:
    return collapse_spaces(to_halfwidth(to_simplified(text)))


@lru_cache(maxsize=65536)
def normalize_match(text: str) -> str:
    # Cached: the same utterance text is matched by every phrase rule of the rulebook.
    return strip_punctuation(normalize_display(text)).lower()


_COUNTED = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[a-z0-9]+", re.IGNORECASE)


@lru_cache(maxsize=65536)
def count_chars(text: str) -> int:
    """Spoken units for speech rate: each Han character, and each Latin word or number once."""
    return len(_COUNTED.findall(text))


def char_edits(ref: str, hyp: str) -> int:
    """Levenshtein distance between two strings, character by character."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def cer(ref: str, hyp: str) -> float:
    """Character error rate of ``hyp`` against ``ref``, both compared in match form
    (Simplified, no punctuation or spaces), so only the words count.

    >>> cer("您好，這裡是物業", "你好这里是物业")
    0.14285714285714285
    """
    ref, hyp = normalize_match(ref), normalize_match(hyp)
    return char_edits(ref, hyp) / max(len(ref), 1)
