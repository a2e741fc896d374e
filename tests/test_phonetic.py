"""Matching by sound with a cost (issue 19): the recogniser's near confusions match within a
rule's tolerance, farther ones do not, and the finding says how it matched."""

from __future__ import annotations

import pytest

from callqa.scoring.matching import Matcher, UtteranceText, allowed_cost
from callqa.scoring.phonetic import DROP, NEAR_FINAL, align_cost, syllable_cost


@pytest.mark.parametrize("heard,said,cost", [
    ("wei", "wei", 0.0),        # 喂 / 为: same syllable
    ("sou", "sao", NEAR_FINAL),  # 收 / 稍 (folded sh → s): same initial, near final
    ("mai", "ma", NEAR_FINAL),   # 卖 / 吗
    ("da", "dao", NEAR_FINAL),   # 答 / 道
    ("jiu", "ji", 0.6),          # 就 / 记: same initial, another final
    ("ta", "da", 0.4),           # near initial, same final
    ("ding", "ji", 1.0),         # nothing alike
    ("nin", "ni", 0.6),          # 您 / 你 stay apart: the polite and the rude form
])
def test_syllable_cost(heard, said, cost):
    assert syllable_cost(heard, said) == cost


def test_align_cost_counts_a_dropped_or_added_syllable():
    said = ("rang", "nin", "jiu", "deng", "le")
    assert align_cost(said[:4], said) == DROP                   # 让您久等 (了 dropped)
    assert align_cost(("rang", "nin", "jiu", "jiu", "deng", "le"), said) == DROP
    assert align_cost(("bu", "zi", "da"), ("bu", "zi", "dao")) == NEAR_FINAL
    assert align_cost(("a", "b"), ("c", "d"), limit=0.5) > 0.5  # stops early, still over


@pytest.fixture(scope="module")
def matcher():
    return Matcher(["不知道", "请您稍等", "让您久等了", "已经记下来了", "记下了", "您找谁"])


def find(m, text, phrase, tolerance):
    return m.find(UtteranceText(text, m), [phrase], mode="pinyin", tolerance=tolerance)


def test_near_sounds_match_within_the_tolerance_with_their_cost(matcher):
    [hit] = find(matcher, "这个我不知答应", "不知道", 0.3)
    assert (hit.heard, hit.mode, hit.cost) == ("不知答", "phonetic", NEAR_FINAL)
    [hit] = find(matcher, "好的请您收等", "请您稍等", 0.3)
    assert (hit.heard, hit.cost) == ("请您收等", NEAR_FINAL)
    [hit] = find(matcher, "好的，让您久等，查到了", "让您久等了", 0.5)  # a syllable dropped
    assert (hit.heard, hit.cost) == ("让您久等", DROP)


def test_forbidden_tolerance_is_stricter_than_required(matcher):
    # a dropped syllable costs 0.5: within a required phrase's tolerance, not a forbidden one's
    assert find(matcher, "好的，让您久等，查到了", "让您久等了", 0.3) == []
    assert find(matcher, "这个不只是", "不知道", 0.3) == []       # shi vs dao: too far
    assert find(matcher, "你找谁", "您找谁", 0.3) == []            # ni vs nin: another word
    assert find(matcher, "请您收等", "请您稍等", 0.0) == []        # no tolerance, no slack


def test_short_phrases_and_the_default_keep_their_old_slack():
    assert allowed_cost("不在", 0.5) == 0.0                 # two syllables: no slack at all
    assert allowed_cost("已经记下来了", None) == 0.6        # default: one near syllable, long
    assert allowed_cost("请您稍等", None) == 0.0


def test_a_final_question_particle_counts_by_sound():
    m = Matcher(["不知道"])
    assert UtteranceText("不知道您家里有人卖", m).asks(0)      # 吗 heard as 卖
    assert not UtteranceText("不知道你明天再打来吧", m).asks(0)
