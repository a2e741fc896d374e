"""Phrase matching over utterances: exact or by sound (pinyin), whole words only.

Speed matters (thousands of calls a second with the full rulebook), so matching is two-stage:
a plain ``str.find`` over the normalised text — or over a *pinyin key*, one private-use
character per syllable, aligned with the text — finds candidates, and jieba tokenises an
utterance only when a candidate needs its word boundaries checked.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

from callqa.text import normalize_display, normalize_match

__all__ = ["Hit", "UtteranceText", "Matcher", "pinyin_key"]

log = logging.getLogger("callqa.scoring")

_PUA = 0xE000  # syllables are encoded as private-use characters, one per Han character


@dataclass(frozen=True)
class Hit:
    """A phrase heard in an utterance: character span in the normalised text."""

    begin: int
    end: int
    heard: str
    phrase: str
    mode: str  # exact | pinyin | regex


_SYLLABLES: dict[str, str] = {}


@lru_cache(maxsize=None)
def _char_key(ch: str) -> str:
    """One key character per input character: Han → its (toneless, default) syllable."""
    if not ("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"):
        return ch
    from pypinyin import Style, lazy_pinyin

    syllable = lazy_pinyin(ch, style=Style.NORMAL, errors="default")[0]
    return _SYLLABLES.setdefault(syllable, chr(_PUA + len(_SYLLABLES)))


def pinyin_key(text: str) -> str:
    """Sound key of normalised ``text``, same length, so spans map back to the text.

    >>> pinyin_key("已记下") == pinyin_key("以计下")
    True
    """
    return "".join(map(_char_key, text))


class UtteranceText:
    """The forms of one utterance's text that matching needs, each computed at most once."""

    __slots__ = ("display", "norm", "_key", "_bounds", "_breaks", "_matcher")

    def __init__(self, text: str, matcher: "Matcher"):
        self.display = normalize_display(text)
        self.norm = normalize_match(text)
        self._key: str | None = None
        self._bounds: frozenset[int] | None = None
        self._breaks: tuple[int, ...] | None = None
        self._matcher = matcher

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = pinyin_key(self.norm)
        return self._key

    @property
    def bounds(self) -> frozenset[int]:
        if self._bounds is None:
            # Tokenise clause by clause: punctuation is a boundary the tokeniser must not bridge.
            bounds: set[int] = set()
            cuts = (0, *self.breaks, len(self.norm))
            for a, b in zip(cuts, cuts[1:]):
                bounds.update(a + i for i in self._matcher.boundaries(self.norm[a:b]))
            self._bounds = frozenset(bounds)
        return self._bounds

    @property
    def breaks(self) -> tuple[int, ...]:
        """Positions in ``norm`` where the display text had punctuation: a phrase never spans
        one (不知道，不知道 is two refusals, not 知道不知道)."""
        if self._breaks is None:
            out, pos = [], 0
            for ch in self.display.lower():
                if normalize_match(ch):
                    pos += len(normalize_match(ch))
                elif unicodedata.category(ch)[0] == "P" and pos and (not out or out[-1] != pos):
                    out.append(pos)
            self._breaks = tuple(out)
        return self._breaks

    def whole(self, begin: int, end: int) -> bool:
        """True when ``[begin, end)`` starts and ends on word boundaries and spans no break."""
        return (begin in self.bounds and end in self.bounds
                and not any(begin < b < end for b in self.breaks))


class Matcher:
    """Finds rulebook phrases in utterances; one per rulebook (it owns a jieba tokeniser)."""

    def __init__(self, phrases: Iterable[str] = ()):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        self._norm: dict[str, str] = {}
        for phrase in phrases:
            norm = self.norm_phrase(phrase)
            if norm:
                # A high frequency keeps the phrase one token, so it is matched whole.
                self._tokenizer.add_word(norm, freq=100000)

    def norm_phrase(self, phrase: str) -> str:
        norm = self._norm.get(phrase)
        if norm is None:
            norm = self._norm[phrase] = normalize_match(phrase)
        return norm

    def boundaries(self, norm: str) -> frozenset[int]:
        bounds = {0}
        pos = 0
        for token in self._tokenizer.cut(norm, HMM=False):
            pos += len(token)
            bounds.add(pos)
        return frozenset(bounds)

    def find(self, ut: UtteranceText, phrases: Iterable[str], mode: str = "exact",
             regex: re.Pattern[str] | None = None) -> Iterator[Hit]:
        """Every whole-word occurrence of any phrase (and every regex match) in ``ut``."""
        for phrase in phrases:
            needle = self.norm_phrase(phrase)
            if not needle:
                continue
            yield from self._find_one(ut, phrase, needle, ut.norm, "exact")
            if mode == "pinyin":
                exact_at = {h.begin for h in self._find_one(ut, phrase, needle, ut.norm, "exact")}
                for hit in self._find_one(ut, phrase, pinyin_key(needle), ut.key, "pinyin"):
                    if hit.begin not in exact_at:
                        yield hit
        if regex is not None:
            for m in regex.finditer(ut.display):
                if m.end() > m.start():
                    yield Hit(m.start(), m.end(), m.group(0), regex.pattern, "regex")

    def _find_one(self, ut: UtteranceText, phrase: str, needle: str, hay: str,
                  mode: str) -> Iterator[Hit]:
        start = hay.find(needle)
        while start >= 0:
            end = start + len(needle)
            if ut.whole(start, end):
                yield Hit(start, end, ut.norm[start:end], phrase, mode)
            start = hay.find(needle, start + 1)

    def contains(self, ut: UtteranceText, phrases: Iterable[str], mode: str = "exact",
                 regex: re.Pattern[str] | None = None) -> Hit | None:
        return next(self.find(ut, phrases, mode, regex), None)
