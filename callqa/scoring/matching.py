"""Phrase matching over utterances: exact or by sound (pinyin), whole words only.

Speed matters (thousands of calls a second with the full rulebook), so matching is two-stage:
a plain ``str.find`` over the normalised text — or over a *pinyin key*, one private-use
character per syllable, aligned with the text — finds candidates, and jieba tokenises an
utterance only when a candidate needs its word boundaries checked.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
import re
import unicodedata
from functools import lru_cache
from typing import Callable, Iterable, Iterator, NamedTuple

from callqa.scoring.phonetic import DROP, MIN_SYLLABLES, SAME_INITIAL, align_cost
from callqa.text import normalize_display, normalize_match

__all__ = ["Hit", "UtteranceText", "Matcher", "pinyin_key", "is_question", "allowed_cost"]

log = logging.getLogger("callqa.scoring")

_PUA = 0xE000  # syllables are encoded as private-use characters, one per Han character

# What makes a clause a question when the ASR dropped its question mark: a final particle, an
# A-not-A form (方不方便, 是不是, 知道不知道), an A-or-B form (纸质发票还是电子发票; not 你还是
# 去问别人吧, a suggestion) or a question word.
_QUESTION = re.compile(r"[吗呢么嘛]$|是否|方便|能否|可否|请问|(.{1,2})不\1|有没有|什么|哪|几|多少|怎么|如何|谁"
                       r"|.还是.*[^吧啊]$")


#: final particles of a question, as sound-key syllables (吗 ma, 么 me, 呢 ne; 卖/买 mai)
_QUESTION_SOUNDS = frozenset({"ma", "mai", "me", "mo", "ne"})


def is_question(clause: str) -> bool:
    """Does this clause (match form, no punctuation) ask something?

    >>> is_question("不知道您需要纸质发票还是电子发票"), is_question("不知道你还是去问别人吧")
    (True, False)
    >>> is_question("不知道您方便吗"), is_question("不知道你明天再打来吧")
    (True, False)
    """
    return _QUESTION.search(clause) is not None


class Hit(NamedTuple):
    """A phrase (or regex match) heard in an utterance: its span in the normalised text."""

    begin: int
    end: int
    heard: str
    phrase: str
    mode: str  # exact | pinyin (same sounds) | phonetic (near sounds, ``cost``) | regex | semantic
    score: float = 1.0  # semantic: cosine similarity of ``heard`` with the example ``phrase``
    cost: float = 0.0  # phonetic: how far the heard syllables are (callqa.scoring.phonetic)
    faint: tuple[int, int] | None = None  # regex: the span of its ``faint`` group (see Call.find)


_SYLLABLES: dict[str, str] = {}


@lru_cache(maxsize=None)
def fuzzy_syllable(syllable: str) -> str:
    """Fold the sound pairs that Mandarin speakers and the ASR both blur (模糊音): z/zh, c/ch,
    s/sh and the front/back nasals in/ing, en/eng (whisper-base writes 贵姓 gui xing as 贵心
    gui xin).

    >>> fuzzy_syllable("xing"), fuzzy_syllable("zhong"), fuzzy_syllable("sheng")
    ('xin', 'zong', 'sen')
    """
    if syllable[:2] in ("zh", "ch", "sh"):
        syllable = syllable[0] + syllable[2:]
    if syllable.endswith(("ing", "eng")):
        syllable = syllable[:-1]
    return syllable


@lru_cache(maxsize=None)
def _char_key(ch: str) -> str:
    """One key character per input character: Han → its toneless, fuzzy-folded syllable."""
    if not ("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"):
        return ch
    from pypinyin import Style, lazy_pinyin

    syllable = fuzzy_syllable(lazy_pinyin(ch, style=Style.NORMAL, errors="default")[0])
    return _SYLLABLES.setdefault(syllable, chr(_PUA + len(_SYLLABLES)))


def pinyin_key(text: str) -> str:
    """Sound key of normalised ``text``, same length, so spans map back to the text.

    >>> pinyin_key("已记下") == pinyin_key("以计下")
    True
    """
    return "".join(map(_char_key, text))


class UtteranceText:
    """The forms of one utterance's text that matching needs, each computed at most once."""

    __slots__ = ("display", "norm", "_key", "_bounds", "_breaks", "_offsets", "_matcher",
                 "_pauses", "_asked")

    def __init__(self, text: str, matcher: "Matcher", pauses: Iterable[int] = ()):
        """``pauses``: positions in ``norm`` where the speaker paused between words (from the
        ASR's word timing): clause breaks the ASR did not write as punctuation."""
        self.display = normalize_display(text)
        self.norm = normalize_match(text)
        self._key: str | None = None
        self._bounds: frozenset[int] | None = None
        self._breaks: tuple[int, ...] | None = None
        self._offsets: list[int] | None = None
        self._matcher = matcher
        self._pauses = tuple(pauses)
        self._asked: frozenset[int] = frozenset()

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

    def _walk(self) -> None:
        # One pass over the display text: where each display character lands in ``norm``,
        # and where punctuation stood.
        offsets, breaks, asked, pos = [], [], set(), 0
        for ch in self.display:
            offsets.append(pos)
            n = _kept(ch)
            if n > 0:
                pos += n
            elif n < 0 and pos and (not breaks or breaks[-1] != pos):
                breaks.append(pos)
            if ch == "?":
                asked.add(pos)
        offsets.append(pos)
        breaks = sorted(set(breaks) | {p for p in self._pauses if 0 < p < pos})
        self._offsets, self._breaks, self._asked = offsets, tuple(breaks), frozenset(asked)

    @property
    def breaks(self) -> tuple[int, ...]:
        """Positions in ``norm`` where the display text had punctuation: always word boundaries
        (不知道，不知道 is two refusals, not 不 + 知道不知道)."""
        if self._breaks is None:
            self._walk()
        return self._breaks  # type: ignore[return-value]

    def clause(self, pos: int) -> tuple[int, int]:
        """The clause of ``norm`` holding position ``pos``: between the breaks around it."""
        breaks = self.breaks
        i = bisect_right(breaks, pos)
        return (breaks[i - 1] if i else 0), (breaks[i] if i < len(breaks) else len(self.norm))

    def asks(self, pos: int) -> bool:
        """Is the clause holding ``pos`` a question (a question mark ends it, or its words ask)?
        A final particle counts by sound too: the recogniser writes 吗 as 卖/么/嘛 (不知道您家里
        有人吗 heard as …有人卖)."""
        a, b = self.clause(pos)
        return (b in self._asked or is_question(self.norm[a:b])
                or (b > a and _syllable(self.key[b - 1]) in _QUESTION_SOUNDS))

    def to_norm(self, display_pos: int) -> int:
        """Map a position in ``display`` (where regexes match) to ``norm``."""
        if self._offsets is None:
            self._walk()
        return self._offsets[display_pos]  # type: ignore[index]

    def whole(self, begin: int, end: int) -> bool:
        """True when ``[begin, end)`` starts and ends on word boundaries and stays within one
        clause: a phrase never spans punctuation (不知道，你等会儿 holds no 不知道你). A regex can
        match across punctuation where a rule needs it (喂，哪位)."""
        bounds = self._bounds if self._bounds is not None else self.bounds
        return begin in bounds and end in bounds and self.within_clause(begin, end)

    def within_clause(self, begin: int, end: int) -> bool:
        """True when no punctuation stands inside ``[begin, end)`` of ``norm``."""
        breaks = self.breaks
        i = bisect_right(breaks, begin)  # the first break after ``begin`` must not be inside
        return i == len(breaks) or breaks[i] >= end


class Matcher:
    """Finds rulebook phrases in utterances; one per rulebook (it owns a jieba tokeniser)."""

    def __init__(self, phrases: Iterable[str] = ()):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        self._norm: dict[str, str] = {}
        self._sets: dict[tuple[tuple[str, ...], str], _PhraseSet] = {}
        self._bounds_cache: dict[str, frozenset[int]] = {}
        registered = {n for n in map(self.norm_phrase, phrases) if n}
        for norm in registered:
            # A high frequency keeps the phrase one token, so it is matched whole.
            self._tokenizer.add_word(norm, freq=100000)
        # A registered phrase must not hide a shorter one inside it (请 in 请您稍等): keep the
        # inner phrase's boundaries within the longer token.
        self._inner: dict[str, tuple[int, ...]] = {}
        for outer in registered:
            cuts = {i + k for inner in registered if inner != outer
                    for i in _occurrences(outer, inner) for k in (0, len(inner))}
            cuts.discard(0)
            cuts.discard(len(outer))
            if cuts:
                self._inner[outer] = tuple(sorted(cuts))

    def norm_phrase(self, phrase: str) -> str:
        norm = self._norm.get(phrase)
        if norm is None:
            norm = self._norm[phrase] = normalize_match(phrase)
        return norm

    def boundaries(self, norm: str) -> frozenset[int]:
        """Word boundaries of one clause (offsets into it), cached: agents repeat their
        scripted clauses call after call, and jieba is the costliest step of matching."""
        bounds = self._bounds_cache.get(norm)
        if bounds is None:
            if len(self._bounds_cache) > 100_000:
                self._bounds_cache.clear()
            bounds = self._bounds_cache[norm] = self._cut(norm)
        return bounds

    def _cut(self, norm: str) -> frozenset[int]:
        bounds = {0}
        pos = 0
        for token in self._tokenizer.cut(norm, HMM=False):
            bounds.update(pos + k for k in self._inner.get(token, ()))
            pos += len(token)
            bounds.add(pos)
        return frozenset(bounds)

    def find(self, ut: UtteranceText, phrases: Iterable[str], mode: str = "exact",
             regex: re.Pattern[str] | None = None, tolerance: float | None = None,
             admit: Callable[[Hit], bool] | None = None) -> list[Hit]:
        """Whole-word occurrences of any phrase (and regex matches) in ``ut``, in order.

        ``tolerance`` (by sound only): the largest cost (:mod:`callqa.scoring.phonetic`) of a
        phrase heard with near syllables, or a syllable dropped or added; None keeps the
        default, one near syllable in phrases of :data:`NEAR_MIN_CHARS` or more.
        Overlapping hits are one hit: the earliest, then the longest, then the cheapest wins
        (有什么事就说嘛 inside 你有什么事就说嘛 is not a second offence). ``admit`` drops hits
        before that (a regex hit whose ``faint`` words were heard clearly must not hide a phrase
        heard by sound over the same words)."""
        ps = self._compiled(phrases if isinstance(phrases, tuple) else tuple(phrases), mode,
                            tolerance)
        # One regex search rejects the common case (none of the phrases is here) before the
        # per-phrase search with its boundary checks.
        candidate = ps.any is not None and ps.any.search(ut.key if ps.by_sound else ut.norm)
        if not candidate and ps.near_any is not None:
            candidate = ps.near_any.search(ut.key)
        if not candidate and (regex is None or regex.search(ut.display) is None):
            return []
        hits = sorted((h for h in self._find_all(ut, ps if candidate else None, regex)
                       if admit is None or admit(h)),
                      key=lambda h: (h.begin, -(h.end - h.begin), h.cost, h.mode != "exact"))
        kept: list[Hit] = []
        for hit in hits:
            if not kept or hit.begin >= kept[-1].end:
                kept.append(hit)
        return kept

    def _compiled(self, phrases: tuple[str, ...], mode: str, tolerance: float | None
                  ) -> "_PhraseSet":
        key = (phrases, mode, tolerance)
        ps = self._sets.get(key)
        if ps is None:
            ps = self._sets[key] = _PhraseSet(self, phrases, mode, tolerance)
        return ps

    def _find_all(self, ut: UtteranceText, ps: "_PhraseSet | None",
                  regex: re.Pattern[str] | None) -> Iterator[Hit]:
        if ps is not None:
            norm = ut.norm
            key = ut.key if ps.by_sound else ""
            for phrase, needle, sound in ps.items:
                exact = needle in norm  # cheap tests first: most phrases are not here
                if exact:
                    yield from self._find_one(ut, phrase, needle, norm, "exact")
                if sound is not None and sound in key:
                    exact_at = {h.begin for h in self._find_one(ut, phrase, needle, norm,
                                                                "exact")} if exact else ()
                    for hit in self._find_one(ut, phrase, sound, key, "pinyin", needle):
                        if hit.begin not in exact_at:
                            yield hit
            for phrase, needle, sound, limit in ps.near:
                found = {h.begin for h in self._find_one(ut, phrase, sound, key, "pinyin",
                                                         needle)}
                for begin, end, cost in _near(key, sound, limit):
                    if begin not in found and self._whole_if_heard_right(ut, begin, end, needle):
                        yield Hit(begin, end, ut.norm[begin:end], phrase, "phonetic", cost=cost)
        if regex is not None:
            faint = "faint" in regex.groupindex
            for m in regex.finditer(ut.display):
                begin, end = ut.to_norm(m.start()), ut.to_norm(m.end())
                if end > begin:
                    span = (ut.to_norm(m.start("faint")), ut.to_norm(m.end("faint"))) \
                        if faint and m.group("faint") else None
                    yield Hit(begin, end, m.group(0), regex.pattern, "regex", faint=span)

    def _find_one(self, ut: UtteranceText, phrase: str, needle: str, hay: str,
                  mode: str, written: str | None = None) -> Iterator[Hit]:
        start = hay.find(needle)
        while start >= 0:
            end = start + len(needle)
            if ut.whole(start, end) or (written is not None
                                        and self._whole_if_heard_right(ut, start, end, written)):
                yield Hit(start, end, ut.norm[start:end], phrase, mode)
            start = hay.find(needle, start + 1)

    def _whole_if_heard_right(self, ut: UtteranceText, begin: int, end: int,
                              written: str) -> bool:
        """For a sound match: would the phrase be a whole word had the ASR written it right?

        A misheard character also changes how the sentence is cut into words (是物业 heard as
        事务业 cuts 事务|业), so the heard text's boundaries cannot judge a homophone; the clause
        with the phrase written in its place can."""
        if not ut.within_clause(begin, end):
            return False
        cuts = (0, *ut.breaks, len(ut.norm))
        a = max(c for c in cuts if c <= begin)
        z = min(c for c in cuts if c >= end)
        fixed = ut.norm[a:begin] + written + ut.norm[end:z]
        bounds = self.boundaries(fixed)
        return begin - a in bounds and begin - a + len(written) in bounds


@lru_cache(maxsize=None)
def _kept(ch: str) -> int:
    """How many characters ``ch`` (already in display form) leaves in the match form;
    -1 for punctuation, which also marks a clause break."""
    n = len(normalize_match(ch))
    return -1 if n == 0 and unicodedata.category(ch)[0] == "P" else n


def _occurrences(text: str, needle: str) -> Iterator[int]:
    i = text.find(needle)
    while i >= 0:
        yield i
        i = text.find(needle, i + 1)


class _PhraseSet:
    """A rule's phrase list prepared once: normalised needles, their sound keys, and one
    alternation regex that tells whether any of them can be in an utterance at all."""

    __slots__ = ("items", "any", "by_sound", "near", "near_any")

    def __init__(self, matcher: Matcher, phrases: tuple[str, ...], mode: str,
                 tolerance: float | None = None):
        self.by_sound = mode == "pinyin"
        self.items = []
        for phrase in phrases:
            needle = matcher.norm_phrase(phrase)
            if needle:
                self.items.append((phrase, needle, pinyin_key(needle) if self.by_sound else None))
        alts = sorted({(s if self.by_sound else n) for _, n, s in self.items}, key=len,
                      reverse=True)
        self.any = re.compile("|".join(map(re.escape, alts))) if alts else None
        # phrases by sound also match heard with near syllables, up to the tolerance (below)
        self.near = []
        for p, n, s in self.items:
            limit = allowed_cost(n, tolerance) if self.by_sound else 0.0
            if limit > 0 and all(_is_han(c) for c in n):
                self.near.append((p, n, s, limit))
        # a near match with one edit keeps the phrase's head or its tail intact (below)
        ends = {e for _, _, s, _ in self.near for e in _anchors(s)}
        self.near_any = re.compile("|".join(map(re.escape, sorted(ends, key=len, reverse=True)))) \
            if ends else None


#: Without a rule's own ``tolerance``, phrases of this many characters or more, matched by sound,
#: also match with one syllable heard as a near one — the same initial consonant (已经记下来了
#: heard as 已经就下来了, ji → jiu): whisper-base mishears one syllable in a long phrase far more
#: often than two.
NEAR_MIN_CHARS = 5


def allowed_cost(needle: str, tolerance: float | None) -> float:
    """The largest sound cost a phrase may be heard with: the rule's ``tolerance`` for phrases
    of :data:`~callqa.scoring.phonetic.MIN_SYLLABLES` or more, none for shorter ones (two
    syllables with one off are too many other words); without a tolerance, one syllable with
    the same initial in phrases of :data:`NEAR_MIN_CHARS` or more.

    >>> allowed_cost("不知道", 0.3), allowed_cost("不在", 0.3), allowed_cost("已经记下来了", None)
    (0.3, 0.0, 0.6)
    """
    if tolerance is None:
        return SAME_INITIAL if len(needle) >= NEAR_MIN_CHARS else 0.0
    return tolerance if len(needle) >= MIN_SYLLABLES else 0.0


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def _syllable(key_char: str) -> str:
    """The syllable a sound-key character stands for (the character itself if none)."""
    if not _REVERSE or len(_REVERSE) != len(_SYLLABLES):
        _REVERSE.clear()
        _REVERSE.update({c: s for s, c in _SYLLABLES.items()})
    return _REVERSE.get(key_char, key_char)


_REVERSE: dict[str, str] = {}


def _anchors(sound: str) -> tuple[str, str]:
    """The head and tail of a phrase's sound key that one edit leaves one of intact: its first
    and last two syllables (one syllable each in a three-syllable phrase)."""
    k = 2 if len(sound) >= 4 else 1
    return sound[:k], sound[-k:]


@lru_cache(maxsize=65536)  # agents repeat their scripted clauses call after call
def _near(key: str, sound: str, limit: float) -> tuple[tuple[int, int, float], ...]:
    """Spans of ``key`` that sound like ``sound`` at a cost of at most ``limit`` (and more than
    0): near syllables, or one dropped or added when the phrase has four or more. Only spans
    keeping the phrase's head or tail intact are compared (one edit keeps one of them); the
    cheapest span per start wins."""
    n = len(sound)
    said = tuple(_syllable(c) for c in sound)
    lengths = (n - 1, n, n + 1) if n >= 4 and limit >= DROP else (n,)
    head, tail = _anchors(sound)
    spans: set[tuple[int, int]] = set()
    for i in _occurrences(key, head):
        spans.update((i, i + m) for m in lengths)
    for j in _occurrences(key, tail):
        spans.update((j + len(tail) - m, j + len(tail)) for m in lengths)
    best: dict[int, tuple[float, int]] = {}
    for a, b in spans:
        if a < 0 or b > len(key) or b - a < 2:
            continue
        heard = tuple(_syllable(c) for c in key[a:b])
        cost = align_cost(heard, said, limit)
        if 0 < cost <= limit and (a not in best or cost < best[a][0]):
            best[a] = (cost, b)
    return tuple((a, best[a][1], best[a][0]) for a in sorted(best))
