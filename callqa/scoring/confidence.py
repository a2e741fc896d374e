"""How sure a finding is: a number in [0, 1] built from what the finding rests on.

A finding is only as good as its evidence: the words the recogniser barely heard, a phrase
matched by a near sound or by meaning just over the threshold, a silence barely over the limit
next to speech the recogniser found no words in, an overlap barely over its minimum, roles
guessed on a mono recording. Each of these is one *factor* in [0, 1]; the confidence is their
product, and the factors are kept (``basis``) so a reviewer sees why a finding is doubted.

A finding whose confidence is under the rulebook's ``scoring.review_below`` is 待复核 (needs
review): listed and explained like the others, but not deducted until a reviewer confirms it
(``scoring.review_deducts: true`` deducts it anyway). The factor curves below are deliberately
gentle: clear calls keep every factor near 1, and only evidence that is weak on its face brings a
finding under the threshold (calibration in docs/benchmarks.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from callqa.scoring.matching import Hit
from callqa.text import count_chars

__all__ = ["Confidence", "combine", "words_factor", "match_factor", "margin_factor",
           "heard_factor", "loop_factor", "stacked_chars", "timing_factor", "faint_factor",
           "stretch_factor", "onset_factor", "crammed_factor", "thin_factor", "roles_factor",
           "slot_factor", "SURE", "PARTIAL", "PHRASE_ROOM_S"]

#: the mean word probability at and above which words count as clearly heard (whisper-base on
#: clean telephone speech: median word probability 0.95, lowest decile 0.5)
WORDS_CLEAR = 0.6
#: the lowest the words factor goes (words heard at probability 0): whisper-base gives short,
#: clearly spoken words on a telephone line probabilities as low as 0.06 (喂，哪位 on a GSM
#: call), so poorly heard words alone never make a finding 待复核 — only with another doubt
WORDS_FLOOR = 0.5
#: how much a match by sound costs per unit of cost (phonetic.align_cost)
SOUND_WEIGHT = 0.5
#: a match by meaning this far above its threshold is as sure as a literal one
SEMANTIC_SPAN = 0.1
#: a required phrase missing where words that may stand for it were said (已记下 for a read-back)
PARTIAL = 0.4
#: a phrase required anywhere in the call (a read-back, an apology) takes this long to say: lost
#: speech shorter than this cannot have held it (the unwritten bits at turn edges, breaths and
#: backchannels of clear calls: up to 1.7 s on the labelled calls), while a turn lost whole
#: under colleagues' voices, or dropped as a recogniser loop, can
PHRASE_ROOM_S = 2.0
#: the longest one character lasts when said: a drawn-out syllable (拖腔) stays under a second,
#: so a character the aligner stretched over seconds stands for speech nobody wrote down
SYLLABLE_MAX_S = 1.0
#: a word heard at this probability or less may not have been said at all: background voices
#: decoded into words before the agent's own (现在不够了 at 0.00–0.29)
FAINT_P = 0.3
#: how many characters of a turn's opening an apology said there takes (对不起, 不好意思, 非常抱歉
#: before a refusal)
SLOT_CHARS = 4
#: characters per second no one speaks (fast agents on the labelled calls: 8 at most in an
#: overlap): words the recogniser squeezed into a moment it could not place them in
CRAMMED_CPS = 10.0
#: a turn written at this share of its speaker's usual characters per second or more is whole
THIN_FULL = 0.5
#: …and at this share or less lost most of its words (agents' turns on the labelled calls:
#: 0.6–2.0; 对不起，让您久等了…请您保持电话畅通 under colleagues' voices written as 请您保持变化畅通: 0.32)
THIN_EMPTY = 0.35


@dataclass(frozen=True)
class Confidence:
    """A finding's confidence and the factors it was built from (name → value)."""

    value: float = 1.0
    basis: dict[str, float] = field(default_factory=dict)


SURE = Confidence()


def combine(**factors: float | None) -> Confidence:
    """The product of the given factors (None: not applicable), each clipped to [0, 1].

    >>> combine(words=0.9, match=None, margin=0.5).value
    0.45
    """
    basis = {k: round(min(1.0, max(0.0, v)), 3) for k, v in factors.items() if v is not None}
    value = 1.0
    for v in basis.values():
        value *= v
    return Confidence(round(value, 3), basis)


def words_factor(probabilities: Iterable[float]) -> float | None:
    """How clearly the evidence words were heard: 1 at a mean word probability of
    :data:`WORDS_CLEAR` or more, falling linearly to :data:`WORDS_FLOOR` at 0. None when the
    recogniser gave no word probabilities (a hand-written transcript).

    >>> words_factor([0.9, 0.8]), words_factor([0.3]), words_factor([])
    (1.0, 0.75, None)
    """
    probs = list(probabilities)
    if not probs:
        return None
    mean = sum(probs) / len(probs)
    return round(min(1.0, WORDS_FLOOR + (1 - WORDS_FLOOR) * mean / WORDS_CLEAR), 3)


def match_factor(hit: Hit, threshold: float | None = None) -> float:
    """How far the heard words are from the rule's wording: 1 for a literal, homophone or regex
    match; less for a near sound (by its cost) or a meaning just over the threshold.

    >>> match_factor(Hit(0, 3, "不知答", "不知道", "phonetic", cost=0.3))
    0.85
    """
    if hit.mode == "semantic" and threshold is not None:
        return round(0.7 + 0.3 * min(1.0, max(0.0, hit.score - threshold) / SEMANTIC_SPAN), 3)
    if hit.cost:
        return round(max(0.0, 1.0 - SOUND_WEIGHT * hit.cost), 3)
    return 1.0


def margin_factor(value: float, limit: float, span: float) -> float:
    """How far a measurement is past its limit: 0.6 at the limit, 1 at ``span`` past it (a 5.2 s
    silence against a 5 s limit is a closer call than a 9 s one).

    >>> margin_factor(5.2, 5.0, 2.5), margin_factor(9.0, 5.0, 2.5)
    (0.632, 1.0)
    """
    if span <= 0:
        return 1.0
    return round(0.6 + 0.4 * min(1.0, max(0.0, abs(value - limit) / span)), 3)


def heard_factor(unheard_s: float) -> float:
    """Speech the detector found but the recogniser wrote no words for, next to the event (a
    quiet agent's turn lost under background voices): each second of it makes a silence or a
    missing phrase less certain, down to 0.4.

    >>> heard_factor(0.0), heard_factor(1.5)
    (1.0, 0.55)
    """
    return round(max(0.4, 1.0 - 0.3 * unheard_s), 3)


#: a phrase of 2–8 characters said three times running: the recogniser looping (就是蛮有趣的
#: 就是蛮有趣的…), not speech — its characters and words are no evidence of anything
_LOOP = re.compile(r"(.{2,8}?)\1{2,}")
#: a phrase of 5–10 characters three times in one turn, with other words between: babble
#: decoded as one phrase again and again (现在我已经发生了 … 现在我已经发生了…); nobody says a
#: clause three times in one turn
_SPREAD_LOOP = re.compile(r"(.{5,10}).*?\1.*?\1")


def loop_factor(*texts: str) -> float | None:
    """0.4 when the evidence holds a recogniser loop — a phrase three times running across the
    texts, or a long phrase three times within one text — None otherwise.

    >>> loop_factor("就是蛮有趣的就是蛮有趣的就是蛮有趣的"), loop_factor("好的好的，谢谢")
    (0.4, None)
    >>> loop_factor("现在我已经发生了您的费用是三百元现在我已经发生了现在我已经发生了")
    0.4
    """
    looped = _LOOP.search("".join(texts)) or any(_SPREAD_LOOP.search(t) for t in texts)
    return 0.4 if looped else None


#: the fewest words at one instant that the recogniser could not place in the audio
STACKED_RUN = 3


def stacked_chars(words: Iterable) -> int:
    """Characters of words the recogniser stacked at one instant (three or more words with no
    duration): words it could not place in the audio — a phrase decoded from background voices,
    or the first words of a turn whose detected start came late, squeezed together.

    >>> from types import SimpleNamespace as W
    >>> stacked_chars([W(text=t, start=2, end=2) for t in "您好这"] + [W(text="里是", start=2, end=3)])
    3
    """
    stacked, run = 0, []
    for w in list(words) + [None]:
        if w is not None and w.start == w.end and (not run or w.start == run[0].start):
            run.append(w)
            continue
        if len(run) >= STACKED_RUN:
            stacked += sum(count_chars(r.text) for r in run)
        run = [w] if w is not None and w.start == w.end else []
    return stacked


def onset_factor(words: Sequence) -> float | None:
    """0.4 when a turn opens with :data:`STACKED_RUN` or more words stacked at its first instant:
    the recogniser heard them in the audio before the detected start (the decoding context) and
    could not place them, so the turn began earlier than detected and its opening words — where
    a greeting belongs — were never heard (a quiet agent's 您好，请问 under colleagues' voices,
    有什么可以 stacked at 9.16 s); None otherwise.

    >>> from types import SimpleNamespace as W
    >>> onset_factor([W(text=t, start=9.16, end=9.16) for t in ("有", "什么", "可以")] + [W(text="帮", start=9.16, end=9.38)])
    0.4
    >>> onset_factor([W(text="您好", start=0.5, end=0.9), W(text="这里", start=0.9, end=1.1)]) is None
    True
    """
    first = list(words[:STACKED_RUN])
    if len(first) < STACKED_RUN:
        return None
    return 0.4 if all(w.start == w.end == first[0].start for w in first) else None


def slot_factor(words: Sequence) -> float | None:
    """A phrase required at the opening of a turn, missing there — the first :data:`SLOT_CHARS`
    characters of ``words``, the words a refusal's turn opens with before it (where its apology
    belongs) — while a word there was barely heard (at most :data:`FAINT_P`): the phrase may have
    been said and misheard (对不起 under colleagues' voices written as 最过去 at 0.21): 0.4;
    None otherwise, or with no words there. Callers ask only on a track with
    colleagues' voices under it: on a quiet line a barely-heard opening word is more often a
    name (黄女士 heard as 皇女是) than a misheard courtesy.

    >>> from types import SimpleNamespace as W
    >>> slot_factor([W(text="最", probability=0.76), W(text="过", probability=0.43), W(text="去", probability=0.21)])
    0.4
    >>> slot_factor([W(text="电话", probability=0.4), W(text="礼", probability=0.73)]) is None
    True
    """
    chars, faint = 0, False
    for w in words:
        if chars >= SLOT_CHARS:
            break
        chars += count_chars(w.text)
        faint = faint or w.probability <= FAINT_P
    return 0.4 if faint else None


def timing_factor(chars: int, seconds: float, stacked: int, limit_cpm: float) -> float | None:
    """How far a rate too fast rests on characters counted in no measured time (``stacked``):
    0.4 when, given the time they take at the limit rate, the rate would no longer exceed the
    limit; otherwise less the larger their share. None when there are none.

    >>> timing_factor(22, 3.42, 4, 320), timing_factor(60, 8.0, 4, 320), timing_factor(60, 8.0, 0, 320)
    (0.4, 0.867, None)
    """
    if not stacked or chars <= 0:
        return None
    if chars / (seconds + stacked * 60 / limit_cpm) * 60 <= limit_cpm:
        return 0.4
    return round(max(0.4, 1.0 - 2 * stacked / chars), 3)


def faint_factor(words: Sequence, chars: int, seconds: float, limit_cpm: float) -> float | None:
    """A rate too fast (``chars`` in ``seconds``) that rests on characters the recogniser
    barely heard (at most :data:`FAINT_P`): 0.4 when, without them, the rate is no longer over
    the limit — words decoded from background voices around a turn of ordinary pace (现在不够了
    before 您这个月的物业费是三百二十元); None otherwise, or without word probabilities.

    >>> from types import SimpleNamespace as W
    >>> turn = [W(text="现在不够了", probability=0.1), W(text="您这份业的物业会是三百二十元", probability=0.8)]
    >>> faint_factor(turn, 19, 3.34, 320), faint_factor(turn[1:], 14, 2.5, 320), faint_factor([], 19, 3.34, 320)
    (0.4, None, None)
    """
    faint = sum(count_chars(w.text) for w in words if w.probability <= FAINT_P)
    if not faint or seconds <= 0:
        return None
    return 0.4 if (chars - faint) / seconds * 60 <= limit_cpm else None


def stretch_factor(words: Sequence, seconds: float, limit_cpm: float) -> float | None:
    """How far a rate too slow rests on characters stretched past :data:`SYLLABLE_MAX_S` (a
    quiet agent under colleagues' voices written as 为什么是宝宝, the last 宝 spanning 9 s): 0.4
    when, each character held to that length, the rate is no longer under the limit; otherwise
    less the more of the time is stretch. None when no character is stretched.

    >>> from types import SimpleNamespace as W
    >>> heard = [W(text="为什么是宝宇", start=0.57, end=2.0), W(text="宝", start=2.0, end=5.28),
    ...          W(text="宝", start=5.28, end=14.15), W(text="的", start=14.15, end=14.15)]
    >>> stretch_factor(heard, 13.58, 60)
    0.4
    >>> stretch_factor([W(text="好的", start=0.0, end=1.2)], 30.0, 60) is None
    True
    """
    stretched = sum(max(0.0, (w.end - w.start) - SYLLABLE_MAX_S * max(1, count_chars(w.text)))
                    for w in words)
    if stretched <= 0 or seconds <= 0:
        return None
    chars = sum(count_chars(w.text) for w in words)
    if seconds <= stretched or chars / (seconds - stretched) * 60 >= limit_cpm:
        return 0.4
    return round(max(0.4, 1.0 - stretched / seconds), 3)


def crammed_factor(words: Sequence) -> float | None:
    """Words the recogniser squeezed together: five or more characters at over
    :data:`CRAMMED_CPS` per second from the first word's start to the last's end are not speech
    placed in time (babble decoded into a phrase before the agent's real answer: 在十分多人的
    要存在十分多 in 0.53 s), so a timing resting on them is doubted: 0.4; None otherwise.

    >>> from types import SimpleNamespace as W
    >>> crammed_factor([W(text="在十分多人的", start=18.97, end=18.97), W(text="要存在十分多", start=19.02, end=19.5)])
    0.4
    >>> crammed_factor([W(text="这个我们已经知道了", start=5.0, end=6.34)]) is None
    True
    """
    if not words:
        return None
    chars = sum(count_chars(w.text) for w in words)
    seconds = max(words[-1].end - words[0].start, 0.05)
    return 0.4 if chars >= 5 and chars / seconds > CRAMMED_CPS else None


def thin_factor(ratio: float | None) -> float | None:
    """Words the recogniser left out of a turn: written at a fraction of its speaker's usual
    characters per second (``ratio``, :meth:`callqa.scoring.call.Call.density_ratio`), the turn
    held speech nobody wrote down, and a phrase missing from it may have been said there. 1 at
    :data:`THIN_FULL` or more, 0.4 at :data:`THIN_EMPTY` or less; None when not measured.

    >>> thin_factor(1.0), thin_factor(0.32), thin_factor(0.425), thin_factor(None)
    (1.0, 0.4, 0.7, None)
    """
    if ratio is None:
        return None
    share = (ratio - THIN_EMPTY) / (THIN_FULL - THIN_EMPTY)
    return round(min(1.0, max(0.4, 0.4 + 0.6 * share)), 3)


def roles_factor(roles_confidence: float | None) -> float | None:
    """On a mono recording whose two voices were told apart by a model, how sure the roles are
    (None on separate channels)."""
    if roles_confidence is None:
        return None
    return round(min(1.0, 0.4 + 0.6 * roles_confidence / 0.8), 3)
