"""How far heard syllables are from a phrase's: the cost of a match by sound.

The recogniser's typical confusions cost little, others much: a syllable written with the same
initial and a near final (稍 shao → 收 shou, 吗 ma → 卖 mai, 道 dao → 答 da) costs
:data:`NEAR_FINAL`; the same initial and another final, or the same final after a near initial
(b/p, d/t, l/n …), a little more; a syllable dropped or one too many (一个音节丢失或被并入相邻
音节) costs :data:`DROP`. A rule states the most it tolerates (``tolerance``); forbidden phrases
tolerate less than required ones, since a false charge costs more than a missed courtesy.

Syllables here are the matcher's sound-key syllables: toneless and already folded for the usual
fuzzy pairs (z/zh, c/ch, s/sh, in/ing, en/eng), which cost nothing.

>>> syllable_cost("sao", "sou"), syllable_cost("ma", "mai"), syllable_cost("dao", "da")
(0.3, 0.3, 0.3)
>>> align_cost(("bu", "zi", "dao"), ("bu", "zi", "da"))
0.3
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["NEAR_FINAL", "SAME_INITIAL", "NEAR_INITIAL", "DROP", "MIN_SYLLABLES",
           "syllable_cost", "align_cost", "split_syllable"]

#: same initial, a near final (ao/ou, a/ai, a/ao, e/ei …): the commonest mishearing
NEAR_FINAL = 0.3
#: same final after a near initial (b/p, d/t, g/k, l/n, f/h, j/q/x, z/c/s, r/l)
NEAR_INITIAL = 0.4
#: same initial, another final (记 ji → 就 jiu)
SAME_INITIAL = 0.6
#: a syllable missing from what was heard, or one too many
DROP = 0.5
#: phrases shorter than this many syllables match by sound only when every syllable agrees
MIN_SYLLABLES = 3

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q",
             "x", "r", "z", "c", "s", "y", "w")
_NEAR_INITIALS = [{"b", "p"}, {"d", "t"}, {"g", "k"}, {"l", "n"}, {"f", "h"}, {"j", "q", "x"},
                  {"z", "c", "s"}, {"r", "l"}, {"y", "w"}]
# finals one telephone band blurs: a vowel's glide or nasal tail lost or gained, o/ou/ao
# (not i/in: 你 ni and 您 nin are other words to a rule, the rude and the polite form)
_NEAR_FINALS = [{"a", "ai", "ao", "an", "ang"}, {"e", "ei", "en", "eng"}, {"o", "ou", "ao", "ong"},
                {"i", "ie"}, {"u", "un", "ou"}, {"ai", "ei"}, {"an", "en"}, {"ang", "eng"},
                {"ian", "iang", "ie"}, {"uan", "uang"}, {"iu", "ou"}]


@lru_cache(maxsize=None)
def split_syllable(syllable: str) -> tuple[str, str]:
    """(initial, final) of a toneless syllable; the initial is '' for a bare vowel.

    >>> split_syllable("shou"), split_syllable("an")
    (('sh', 'ou'), ('', 'an'))
    """
    for initial in _INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial):]
    return "", syllable


def _near(a: str, b: str, groups: list[set[str]]) -> bool:
    return any(a in g and b in g for g in groups)


@lru_cache(maxsize=65536)
def syllable_cost(heard: str, said: str) -> float:
    """Cost of hearing ``said`` as ``heard``: 0 when the same, 1 when nothing alike."""
    if heard == said:
        return 0.0
    if not heard.isascii() or not said.isascii():
        return 1.0  # a digit or Latin letter is no syllable
    (i1, f1), (i2, f2) = split_syllable(heard), split_syllable(said)
    if i1 == i2:
        return NEAR_FINAL if _near(f1, f2, _NEAR_FINALS) else SAME_INITIAL
    if f1 == f2 and _near(i1, i2, _NEAR_INITIALS):
        return NEAR_INITIAL
    return 1.0


def align_cost(heard: tuple[str, ...], said: tuple[str, ...], limit: float = 10.0) -> float:
    """Least cost of hearing the syllables ``said`` as ``heard`` (substitutions by
    :func:`syllable_cost`, a dropped or added syllable :data:`DROP`); anything above ``limit``
    comes back as ``limit`` plus one (the search stops early)."""
    n, m = len(heard), len(said)
    prev = [j * DROP for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [i * DROP] + [0.0] * m
        for j in range(1, m + 1):
            cur[j] = min(prev[j - 1] + syllable_cost(heard[i - 1], said[j - 1]),
                         prev[j] + DROP, cur[j - 1] + DROP)
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return round(prev[m], 3)
