"""The scoring engine on hand-written transcripts: each rule type fires where it must, and only
there. Uses tests/data/mini_rules.yaml, a small rulebook with one rule of every type."""

from __future__ import annotations

from pathlib import Path

import pytest

from callqa.scoring import Scorer, load_rulebook
from callqa.transcript import Interval, Transcript, Utterance, Word

MINI = Path(__file__).parent / "data" / "mini_rules.yaml"


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(load_rulebook(MINI))


def call(*turns, speakers=("agent", "customer"), speech=None, duration=None) -> Transcript:
    utts = [Utterance(s, a, b, t) for s, a, b, t in turns]
    return Transcript("t", "A1", duration or max(u.end for u in utts), utts,
                      speech=dict(speech or {}), speakers=speakers)


GOOD = [
    ("agent", 0.5, 3.3, "您好，这里是光明物业客服中心"),
    ("customer", 3.6, 6.0, "我家厨房水管漏水了"),
    ("agent", 6.5, 9.0, "好的，请问您的门牌号"),
    ("customer", 9.5, 11.0, "三栋二零一"),
    ("agent", 11.5, 14.0, "感谢您的来电，再见"),
]


def ids(result) -> list[str]:
    return [f.rule_id for f in result.findings]


def test_compliant_call_has_no_findings(scorer):
    result = scorer.score(call(*GOOD))
    assert ids(result) == []
    assert result.score == 100 and result.passed


def test_missing_greeting_fires_once_with_scope_times(scorer):
    turns = [("agent", 0.5, 3.0, "喂，哪位")] + GOOD[1:]
    result = scorer.score(call(*turns))
    assert ids(result) == ["GR01"]
    f = result.findings[0]
    assert (f.start, f.end) == (0.5, 3.0)
    assert f.message == "开场未问候（您好）"
    assert result.score == 90


def test_pinyin_match_accepts_homophone_and_reports_it(scorer):
    # 您好 and 你好 differ in sound (nin/ni); 您号 is a true homophone the ASR might write.
    result = scorer.score(call(("agent", 0.5, 3.0, "您号，这里是光明物业"), *GOOD[1:]))
    assert "GR01" not in ids(result)
    result = scorer.score(call(("agent", 0.5, 3.0, "你好，这里是光明物业"), *GOOD[1:]))
    assert "GR01" in ids(result)


@pytest.mark.parametrize("text,expect", [
    ("这个我不知道", 1),
    ("不知道，不知道", 2),
    ("您知道不知道门牌号", 0),          # exception phrase overlaps the hit
    ("您不知道门牌号吗?", 0),           # exception regex: a question
    ("我不知道啊不知道啊不知道", 3),     # three hits, capped deduction
])
def test_forbidden_phrase_hits_and_exceptions(scorer, text, expect):
    result = scorer.score(call(GOOD[0], ("agent", 4.0, 7.0, text), GOOD[-1]))
    hits = [f for f in result.findings if f.rule_id == "FB01"]
    assert len(hits) == expect
    assert sum(f.deduction for f in hits) == min(10, 5 * expect)


def test_forbidden_phrase_said_by_customer_does_not_count(scorer):
    result = scorer.score(call(GOOD[0], ("customer", 4.0, 7.0, "我也不知道怎么回事"), GOOD[-1]))
    assert "FB01" not in ids(result)


def test_forbidden_phrase_whole_words_only(scorer):
    # 不知道 is not a word inside 不知道理 ... jieba keeps registered phrases whole; a phrase
    # embedded in a longer dictionary word (不在乎 for 不在) must not match.
    from callqa.scoring.matching import Matcher, UtteranceText

    m = Matcher(["不在"])
    assert m.contains(UtteranceText("我不在乎这个", m), ["不在"]) is None
    assert m.contains(UtteranceText("他现在不在", m), ["不在"]) is not None


def test_finding_time_from_words(scorer):
    words = (Word("这个", 4.0, 4.4), Word("我", 4.4, 4.6), Word("不", 4.6, 4.8),
             Word("知道", 4.8, 5.3))
    t = call(GOOD[0], GOOD[-1])
    t.utterances.append(Utterance("agent", 4.0, 5.3, "这个我不知道", words))
    t.utterances.sort(key=lambda u: u.start)
    f = next(f for f in scorer.score(t).findings if f.rule_id == "FB01")
    assert (f.start, f.end) == (4.6, 5.3)


def test_critical_veto_fails_call_even_with_high_score(scorer):
    result = scorer.score(call(GOOD[0], ("agent", 4.0, 6.0, "你有病吧"), GOOD[-1]))
    assert result.vetoed == ["FB09"]
    assert not result.passed


@pytest.mark.parametrize("gap_turn,hold,expect", [
    (("agent", 20.0, 22.0, "好的"), False, 1),          # 6 s unannounced gap
    (("agent", 16.5, 18.0, "好的"), False, 0),           # 2.5 s gap: fine
    (("agent", 40.0, 42.0, "让您久等了"), True, 0),      # announced hold, 26 s
    (("agent", 90.0, 92.0, "让您久等了"), True, 1),      # announced but over hold_max_s 60
])
def test_silence_with_hold_exemption(scorer, gap_turn, hold, expect):
    first = ("agent", 12.0, 14.0, "请您稍等，我查一下" if hold else "我看看")
    result = scorer.score(call(*GOOD[:3], first, gap_turn, ("agent", gap_turn[2] + 0.5,
                                                            gap_turn[2] + 2.5, "再见")))
    assert [f.rule_id for f in result.findings if f.rule_id == "DA01"] == ["DA01"] * expect


def test_silence_measured_on_speech_intervals_not_utterances(scorer):
    # VAD says the customer kept talking through the utterance gap: no dead air.
    t = call(GOOD[0], ("agent", 12.0, 13.0, "再见"),
             speech={"agent": [Interval(0.5, 3.0), Interval(12.0, 13.0)],
                     "customer": [Interval(3.2, 11.5)]})
    assert "DA01" not in ids(scorer.score(t))


def test_hold_requires_thanks_afterwards(scorer):
    base = [GOOD[0], ("agent", 4.0, 6.0, "请您稍等")]
    thanked = scorer.score(call(*base, ("agent", 20.0, 22.0, "让您久等了"), GOOD[-1]))
    unthanked = scorer.score(call(*base, ("agent", 20.0, 22.0, "查到了"), GOOD[-1]))
    no_wait = scorer.score(call(*base, ("agent", 6.5, 8.0, "查到了"), GOOD[-1]))
    assert "HD01" not in ids(thanked)
    assert ids(unthanked).count("HD01") == 1
    assert "HD01" not in ids(no_wait)  # 请您稍等 without an actual wait is no hold


@pytest.mark.parametrize("agent_turn,expect", [
    (("agent", 5.0, 8.0, "您先别说了听我讲"), 1),   # starts 1 s before customer ends
    (("agent", 5.0, 5.5, "嗯"), 0),                 # backchannel: too short
    (("agent", 5.8, 8.0, "您先别说了听我讲"), 0),   # overlap 0.2 s < 0.5 s
    (("agent", 6.5, 8.0, "您先别说了听我讲"), 0),   # after the customer ended
])
def test_interruption(scorer, agent_turn, expect):
    result = scorer.score(call(GOOD[0], ("customer", 3.5, 6.0, "我家厨房水管漏水了"), agent_turn,
                               GOOD[-1]))
    assert ids(result).count("IN01") == expect


def test_speech_rate(scorer):
    fast = "您好这里是光明物业客服中心请问有什么可以帮您的吗我们马上安排师傅上门"  # 34 chars
    slow_ok = scorer.score(call(GOOD[0], ("agent", 4.0, 12.0, fast), GOOD[-1]))   # 255 cpm
    too_fast = scorer.score(call(GOOD[0], ("agent", 4.0, 9.0, fast), GOOD[-1]))   # 408 cpm
    assert "SR01" not in ids(slow_ok)
    f = next(f for f in too_fast.findings if f.rule_id == "SR01")
    assert f.matched["cpm"] == pytest.approx(408, abs=1)
    assert f.message == "语速 408 字/分钟（上限 300.0）"


@pytest.mark.parametrize("turns,expect", [
    ([("agent", 4.0, 6.0, "这个不能办理")], 1),
    ([("agent", 4.0, 6.0, "对不起，这个不能办理")], 0),
    ([("agent", 3.0, 3.8, "非常抱歉"), ("agent", 4.0, 6.0, "这个不能办理")], 0),
    ([("agent", 4.0, 6.0, "这个不能办理，对不起")], 1),   # apology after the refusal
])
def test_refusal_needs_apology_before(scorer, turns, expect):
    result = scorer.score(call(GOOD[0], *turns, GOOD[-1]))
    assert ids(result).count("RF01") == expect


def test_response_latency_first_and_reply(scorer):
    late = call(("agent", 4.0, 6.0, "您好，光明物业"), ("customer", 6.5, 8.0, "你好"),
                ("agent", 18.0, 20.0, "再见"))
    got = ids(scorer.score(late))
    assert got.count("RL01") == 1 and got.count("RL02") == 1
    held = call(GOOD[0], ("agent", 3.2, 4.0, "请您稍等"), ("customer", 4.2, 5.0, "好的"),
                ("agent", 15.0, 16.0, "让您久等了，再见"))
    assert "RL02" not in ids(scorer.score(held))


def test_missing_closing_and_mono_not_applicable(scorer):
    mono = call(("agent", 0.5, 3.0, "您好，这里是光明物业"), ("agent", 30.0, 32.0, "好的"),
                speakers=("agent",))
    result = scorer.score(mono)
    assert "CL01" in ids(result)
    assert "DA01" not in ids(result)  # the 27 s gap cannot be judged without the customer
    assert set(result.not_applicable) == {"DA01", "IN01", "RL02"}
    assert any("单声道" in n for n in result.notes)


def test_result_json_round_trip(scorer):
    from callqa.result import CallResult

    result = scorer.score(call(("agent", 0.5, 3.0, "喂"), ("agent", 4.0, 6.0, "我不知道")))
    again = CallResult.from_dict(result.to_dict())
    assert again.to_dict() == result.to_dict()


def test_inner_phrase_not_hidden_by_longer_registered_phrase():
    from callqa.scoring.matching import Matcher, UtteranceText

    m = Matcher(["请", "请您稍等", "不知道", "知道不知道"])
    assert m.contains(UtteranceText("请您稍等", m), ["请"]) is not None
    # punctuation is a word boundary: two refusals, not 不 + 知道不知道
    assert len(m.find(UtteranceText("不知道，不知道", m), ["不知道"])) == 2
    assert m.find(UtteranceText("不知道，不知道", m), ["知道不知道"]) == []


def test_overlapping_hits_of_one_rule_count_once():
    from callqa.scoring.matching import Matcher, UtteranceText
    import re

    m = Matcher(["有什么事就说嘛", "你有什么事就说嘛"])
    ut = UtteranceText("你有什么事就说嘛", m)
    hits = m.find(ut, ["有什么事就说嘛", "你有什么事就说嘛"], regex=re.compile("什么事"))
    assert [(h.begin, h.end, h.phrase) for h in hits] == [(0, 8, "你有什么事就说嘛")]


def test_rules_test_command_on_default_rulebook_passes():
    """The default rulebook's own cases and examples (rules/tests) all pass."""
    from typer.testing import CliRunner

    from callqa.cli import app

    res = CliRunner().invoke(app, ["rules", "test"])
    assert res.exit_code == 0, res.output
    passed = int(res.output.strip().splitlines()[-1].split()[0])
    assert passed >= 40  # every rule: a firing case, a quiet case, and examples


def test_rules_test_command_fails_when_a_rule_stops_firing(tmp_path):
    """A rulebook whose rule no longer fires (phrase removed) makes `rules test` exit 1."""
    import shutil

    from typer.testing import CliRunner

    from callqa.cli import app
    from callqa.scoring.rulebook import DEFAULT_RULEBOOK

    text = DEFAULT_RULEBOOK.read_text(encoding="utf-8")
    broken = tmp_path / "default.yaml"
    broken.write_text(text.replace("max_gap_s:", "max_gap_s: 1000 #", 1), encoding="utf-8")
    shutil.copytree(DEFAULT_RULEBOOK.parent / "tests", tmp_path / "tests")
    res = CliRunner().invoke(app, ["rules", "test", "-r", str(broken)])
    assert res.exit_code == 1
    assert "FAIL DA01" in res.output


def test_interruption_excused_by_apology_and_regex_message_quotes_heard_text():
    from callqa.scoring import parse_rulebook

    text = (MINI.read_text(encoding="utf-8")
            .replace("    min_chars: 4\n", "    min_chars: 4\n    exceptions: {phrases: [打断一下]}\n")
            .replace("    phrases: [你有病]\n", "    regex: '你有病吧?'\n"))
    s = Scorer(parse_rulebook(text, "mini.yaml"))
    cust = ("customer", 3.5, 6.0, "我家厨房水管漏水了")
    excused = s.score(call(GOOD[0], cust, ("agent", 5.0, 8.0, "不好意思，打断一下，您是几栋"), GOOD[-1]))
    assert "IN01" not in ids(excused)
    rude = s.score(call(GOOD[0], ("agent", 4.0, 6.0, "你有病吧"), GOOD[-1]))
    f = next(f for f in rude.findings if f.rule_id == "FB09")
    assert f.matched == {"phrase": "你有病吧?", "heard": "你有病吧", "mode": "regex"}
    assert f.message == "辱骂客户（你有病吧）"


def test_phrases_do_not_span_punctuation():
    from callqa.scoring.matching import Matcher, UtteranceText

    m = Matcher(["不知道", "不知道你"])
    for text in ("这个我不知道，你等会儿", "这个我不知道。你等会儿"):
        assert m.find(UtteranceText(text, m), ["不知道你"]) == []
        assert len(m.find(UtteranceText(text, m), ["不知道"])) == 1
    assert len(m.find(UtteranceText("我不知道你说的是哪栋", m), ["不知道你"])) == 1


def test_pinyin_folds_fuzzy_pairs():
    from callqa.scoring.matching import Matcher, UtteranceText, pinyin_key

    assert pinyin_key("贵姓") == pinyin_key("贵心") == pinyin_key("贵信")
    assert pinyin_key("中心") == pinyin_key("宗心")
    assert pinyin_key("您好") != pinyin_key("你好")  # nin/ni is not a fuzzy pair
    m = Matcher(["您贵姓"])
    hit = m.contains(UtteranceText("请问您贵心", m), ["您贵姓"], mode="pinyin")
    assert hit is not None and (hit.heard, hit.mode) == ("您贵心", "pinyin")


def test_pinyin_hit_judged_on_the_phrase_written_right():
    """A misheard character changes the word cut (是物业 → 事务业 cuts 事务|业); the sound match
    is a whole word if it would be one with the phrase written in its place."""
    from callqa.scoring.matching import Matcher, UtteranceText

    m = Matcher(["物业"])
    hit = m.contains(UtteranceText("事务业，哪个单人", m), ["物业"], mode="pinyin")
    assert hit is not None and hit.heard == "务业"
    # still whole words only: the phrase written in place must stand as a word
    assert m.contains(UtteranceText("这是公务业务", m), ["物业"], mode="pinyin") is None
    assert m.contains(UtteranceText("事务业", m), ["物业"], mode="exact") is None
