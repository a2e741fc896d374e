"""The scoring engine on hand-written transcripts: each rule type fires where it must, and only
there. Uses tests/data/mini_rules.yaml, a small rulebook with one rule of every type."""

from __future__ import annotations

from pathlib import Path

import pytest

from callqa.scoring import Scorer, load_rulebook
from callqa.transcript import Interval, Transcript, Utterance, Word

MINI = Path(__file__).parent / "data" / "mini_rules.yaml"


def first_hit(m, ut, phrases, mode="exact"):
    """The first place ``phrases`` match in ``ut`` (None when nowhere)."""
    hits = m.find(ut, phrases, mode)
    return hits[0] if hits else None


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


@pytest.mark.parametrize("text,expect,heard", [
    ("这个我不知道", 1, 1),
    ("不知道，不知道", 1, 2),           # one utterance, one finding: both hits quoted in it
    ("您知道不知道门牌号", 0, 0),        # exception phrase overlaps the hit
    ("您不知道门牌号吗?", 0, 0),         # exception regex: a question
    ("我不知道啊不知道啊不知道", 1, 3),   # three hits, one finding
])
def test_forbidden_phrase_hits_and_exceptions(scorer, text, expect, heard):
    result = scorer.score(call(GOOD[0], ("agent", 4.0, 7.0, text), GOOD[-1]))
    hits = [f for f in result.findings if f.rule_id == "FB01"]
    assert len(hits) == expect
    assert sum(f.deduction for f in hits) == 5 * expect
    if hits:
        assert 1 + len(hits[0].matched.get("also", [])) == heard


def test_one_finding_per_utterance_capped_across_utterances(scorer):
    turns = [GOOD[0]] + [("agent", 4.0 + 3 * k, 6.0 + 3 * k, "我不知道") for k in range(3)]
    hits = [f for f in scorer.score(call(*turns, GOOD[-1])).findings if f.rule_id == "FB01"]
    assert [f.deduction for f in hits] == [5, 5, 0]  # cap 10


def test_forbidden_phrase_said_by_customer_does_not_count(scorer):
    result = scorer.score(call(GOOD[0], ("customer", 4.0, 7.0, "我也不知道怎么回事"), GOOD[-1]))
    assert "FB01" not in ids(result)


def test_forbidden_phrase_whole_words_only(scorer):
    # 不知道 is not a word inside 不知道理 ... jieba keeps registered phrases whole; a phrase
    # embedded in a longer dictionary word (不在乎 for 不在) must not match.
    from callqa.scoring.matching import Matcher, UtteranceText

    m = Matcher(["不在"])
    assert first_hit(m, UtteranceText("我不在乎这个", m), ["不在"]) is None
    assert first_hit(m, UtteranceText("他现在不在", m), ["不在"]) is not None


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
    (("agent", 20.0, 22.0, "好的"), False, ["DA01"]),     # 6 s unannounced gap: dead air
    (("agent", 16.5, 18.0, "好的"), False, []),           # 2.5 s gap: fine
    (("agent", 40.0, 42.0, "让您久等了"), True, []),       # announced hold, 26 s, thanked
    (("agent", 40.0, 42.0, "查到了"), True, ["HD01"]),     # announced hold, not thanked
    (("agent", 90.0, 92.0, "让您久等了"), True, ["HD02"]),  # hold over 60 s: not dead air
])
def test_silence_is_dead_air_or_hold(scorer, gap_turn, hold, expect):
    first = ("agent", 12.0, 14.0, "请您稍等，我查一下" if hold else "我看看")
    result = scorer.score(call(*GOOD[:3], first, gap_turn, ("agent", gap_turn[2] + 0.5,
                                                            gap_turn[2] + 2.5, "再见")))
    assert [f.rule_id for f in result.findings if f.category in ("dead_air", "hold_etiquette")
            ] == expect


def test_one_event_one_finding_names_the_other_rule(scorer):
    """A long unthanked hold breaks HD01 and HD02: one finding (HD02, which supersedes HD01),
    naming HD01 in also_breaks, one deduction."""
    result = scorer.score(call(*GOOD[:3], ("agent", 12.0, 14.0, "请您稍等"),
                               ("agent", 90.0, 92.0, "查到了"), ("agent", 92.5, 94.5, "再见")))
    held = [f for f in result.findings if f.category == "hold_etiquette"]
    assert [(f.rule_id, f.also_breaks, f.deduction) for f in held] == [("HD02", ["HD01"], 3)]
    assert result.score == 97


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
    result = scorer.score(late)
    got = ids(result)
    # the 10 s wait is mutual silence: dead air, which supersedes the slow reply (one event)
    assert got.count("RL01") == 1 and got.count("RL02") == 0 and got.count("DA01") == 1
    dead = next(f for f in result.findings if f.rule_id == "DA01")
    assert dead.also_breaks == ["RL02"]
    assert result.score == 100 - 3 - 5  # RL01 and DA01: RL02 not charged
    held = call(GOOD[0], ("agent", 3.2, 4.0, "请您稍等"), ("customer", 4.2, 5.0, "好的"),
                ("agent", 15.0, 16.0, "让您久等了，再见"))
    assert "RL02" not in ids(scorer.score(held))


def test_missing_closing_and_mono_not_applicable(scorer):
    mono = call(("agent", 0.5, 3.0, "您好，这里是光明物业"), ("agent", 30.0, 32.0, "好的"),
                speakers=("agent",))
    result = scorer.score(mono)
    assert "CL01" in ids(result)
    assert "DA01" not in ids(result)  # the 27 s gap cannot be judged without the customer
    assert set(result.not_applicable) == {"DA01", "HD01", "HD02", "IN01", "RL02"}
    assert any("单声道" in n for n in result.notes)


def test_result_json_round_trip(scorer):
    from callqa.result import CallResult

    result = scorer.score(call(("agent", 0.5, 3.0, "喂"), ("agent", 4.0, 6.0, "我不知道")))
    again = CallResult.from_dict(result.to_dict())
    assert again.to_dict() == result.to_dict()


def test_inner_phrase_not_hidden_by_longer_registered_phrase():
    from callqa.scoring.matching import Matcher, UtteranceText

    m = Matcher(["请", "请您稍等", "不知道", "知道不知道"])
    assert first_hit(m, UtteranceText("请您稍等", m), ["请"]) is not None
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
    hit = first_hit(m, UtteranceText("请问您贵心", m), ["您贵姓"], mode="pinyin")
    assert hit is not None and (hit.heard, hit.mode) == ("您贵心", "pinyin")


def test_pinyin_hit_judged_on_the_phrase_written_right():
    """A misheard character changes the word cut (是物业 → 事务业 cuts 事务|业); the sound match
    is a whole word if it would be one with the phrase written in its place."""
    from callqa.scoring.matching import Matcher, UtteranceText

    m = Matcher(["物业"])
    hit = first_hit(m, UtteranceText("事务业，哪个单人", m), ["物业"], mode="pinyin")
    assert hit is not None and hit.heard == "务业"
    # still whole words only: the phrase written in place must stand as a word
    assert first_hit(m, UtteranceText("这是公务业务", m), ["物业"], mode="pinyin") is None
    assert first_hit(m, UtteranceText("事务业", m), ["物业"], mode="exact") is None


# --------------------------------------------------------------------------- calls that are no conversation

@pytest.mark.parametrize("turns,duration,reason", [
    ([("agent", 0.1, 0.4, "喂")], 0.5, "通话过短"),                       # a misdial
    ([("customer", 0.5, 3.0, "喂？喂？有人吗"), ("customer", 5.0, 6.0, "喂")], 20.0,
     "坐席未发言"),                                                       # nobody answered
])
def test_no_conversation_is_not_scored(scorer, turns, duration, reason):
    result = scorer.score(call(*turns, duration=duration))
    assert result.unscored is not None and reason in result.unscored
    assert (result.findings, result.score, result.passed) == ([], None, False)
    assert result.to_dict()["unscored"] == result.unscored


def test_minimum_call_length_is_configurable():
    from callqa.scoring import parse_rulebook

    text = MINI.read_text(encoding="utf-8").replace(
        "scoring: {base: 100, pass_mark: 80}", "scoring: {base: 100, pass_mark: 80, min_call_s: 10}")
    short = call(*GOOD)  # 14 s
    assert Scorer(parse_rulebook(text, "mini.yaml")).score(short).unscored is None
    text = text.replace("min_call_s: 10", "min_call_s: 20")
    assert "20" in Scorer(parse_rulebook(text, "mini.yaml")).score(short).unscored


def test_score_cli_shows_unscored(tmp_path):
    import json

    from typer.testing import CliRunner

    from callqa.cli import app
    from callqa.transcript import save_transcript

    path = tmp_path / "misdial.json"
    save_transcript(call(("agent", 0.1, 0.4, "喂"), duration=0.5), path)
    text = CliRunner().invoke(app, ["score", "--transcript", str(path), "-r", str(MINI)])
    assert text.exit_code == 0 and "未评分 NOT SCORED" in text.output and "通话过短" in text.output
    js = CliRunner().invoke(app, ["score", "--transcript", str(path), "-r", str(MINI),
                                  "--format", "json"])
    data = json.loads(js.output)
    assert data["score"] is None and data["passed"] is False and data["findings"] == []
    assert "通话过短" in data["unscored"]


# --------------------------------------------------------------------------- whose speech

def test_rule_about_the_customer_reports_but_never_deducts():
    from callqa.scoring import parse_rulebook

    text = MINI.read_text(encoding="utf-8").replace(
        "  - id: FB09\n", "  - id: FB09\n    speaker: customer\n")
    s = Scorer(parse_rulebook(text, "mini.yaml"))
    result = s.score(call(GOOD[0], ("customer", 4.0, 6.0, "你有病吧"),
                          ("agent", 6.5, 9.0, "感谢您的来电，再见")))
    (f,) = [f for f in result.findings if f.rule_id == "FB09"]
    assert (f.speaker, f.deduction) == ("customer", 0.0)
    assert result.score == 100 and result.passed and result.vetoed == []


def _mono_two_voices(roles, confidence=None):
    t = call(("agent", 0.5, 3.0, "喂，哪位"), ("customer", 3.5, 6.0, "我家水管坏了"),
             ("agent", 6.5, 8.0, "不知道"), ("agent", 20.0, 22.0, "好的"))
    t.roles, t.roles_confidence = roles, confidence
    return t


def test_uncertain_roles_charge_no_phrase_to_either_party(scorer):
    result = scorer.score(_mono_two_voices("uncertain", 0.52))
    # who said 喂，哪位 and 不知道 is unknown: no phrase finding, no role-based rule
    assert {f.rule_id for f in result.findings} <= {"DA01"}
    assert {"GR01", "FB01", "FB09", "CL01", "IN01", "RL01", "RL02", "HD01", "SR01"} \
        <= set(result.not_applicable)
    assert "DA01" not in result.not_applicable  # a mutual silence needs no roles
    assert any("角色无法区分" in n for n in result.notes)
    assert "DA01" in ids(result)  # the 12 s silence is still dead air


def test_separated_roles_score_normally_with_a_note(scorer):
    result = scorer.score(_mono_two_voices("separated", 0.91))
    assert {"GR01", "FB01"} <= set(ids(result))
    assert any("说话人分离" in n and "0.91" in n for n in result.notes)


def test_interruption_is_measured_from_the_words(scorer):
    """Background voices stretch a VAD interval: the agent's turn 'starts' at 5.0 while the
    caller still talks, but its first word comes after the caller's last. Only words
    overlapping the caller's words are an interruption."""
    from dataclasses import replace

    def worded(u, first, last):
        return replace(u, words=(Word(u.text[:2], first, first + 0.5),
                                 Word(u.text[2:], last - 0.5, last)))

    t = call(("agent", 0.5, 3.0, "您好，这里是光明物业，请问有什么可以帮您"),
             ("customer", 3.5, 9.0, "我家的水管坏了一直在漏水楼下都来敲门了"),
             ("agent", 5.0, 12.5, "非常抱歉给您带来不便，请问您贵姓"),
             ("agent", 13.0, 15.0, "感谢您的来电，再见"))
    assert "IN01" in ids(scorer.score(t))  # no words: the turn times are all there is
    t.utterances[1] = worded(t.utterances[1], 3.6, 8.0)
    t.utterances[2] = worded(t.utterances[2], 8.6, 12.4)  # after the caller's last word
    assert "IN01" not in ids(scorer.score(t))
    t.utterances[2] = worded(t.utterances[2], 5.2, 12.4)  # talks over the caller's words
    (f,) = [f for f in scorer.score(t).findings if f.rule_id == "IN01"]
    assert f.matched["overlap_s"] == pytest.approx(2.8, abs=0.1)


def test_interruptions_need_two_tracks(scorer):
    """The agent talking over the caller: found on two tracks; on a separated mono recording
    the same turns cannot show an overlap, so the rule says it could not judge, not 'none'."""
    t = call(("agent", 0.5, 3.0, "您好，这里是光明物业，请问有什么可以帮您"),
             ("customer", 3.5, 9.0, "我家的水管坏了一直在漏水楼下都来敲门了"),
             ("agent", 5.0, 9.5, "你别说了我们知道了马上派人"),
             ("agent", 10.0, 12.0, "感谢您的来电，再见"))
    assert "IN01" in ids(scorer.score(t))
    t.roles, t.roles_confidence = "separated", 0.9
    result = scorer.score(t)
    assert "IN01" not in ids(result) and "IN01" in result.not_applicable
    assert any("打断" in n for n in result.notes)


# --------------------------------------------------------------------------- conditions (when:)

WHEN = """
conditions:
  fault: {said: {speaker: customer, phrases: [坏了, 漏水]}}
  address: {said: {speaker: agent, regex: '几栋|门牌'}}
  long: {longer_than_s: 60}
rules:
  - id: CL02
    name: closing.readback
    title: 复述
    category: closing
    type: required_phrase
    severity: minor
    points: 2
    phrases: [确认一下]
    when: %s
    message: 未复述
    suggestion: 跟您确认一下
    standard: {file: x.txt, text: 复述}
"""


@pytest.mark.parametrize("when,fires", [
    ("fault", True),                                  # the customer reported a fault
    ("address", False),                               # the agent took no address
    ("{not: address}", True),
    ("{all: [fault, {not: address}]}", True),         # Alibaba SCA's 1&&!2
    ("{all: [fault, address]}", False),
    ("{any: [address, long]}", False),
    ("{any: [address, {not: long}]}", True),
    ("{said: {speaker: agent, phrases: [坏了]}}", False),   # the agent did not say it
    ("{said: {speaker: any, phrases: [坏了]}}", True),
    ("{longer_than_s: 10}", True),
])
def test_when_conditions_over_both_parties_speech(when, fires):
    from callqa.scoring import parse_rulebook

    s = Scorer(parse_rulebook("name: w\n" + WHEN % when, "w.yaml"))
    result = s.score(call(("agent", 0.5, 3.0, "您好"), ("customer", 3.5, 6.0, "我家水管坏了"),
                          ("agent", 6.5, 12.0, "好的，再见")))
    assert ids(result) == (["CL02"] if fires else [])
    assert ("CL02" in result.not_applicable) == (not fires)


@pytest.mark.parametrize("when,message,line", [
    ("nosuch", "unknown condition 'nosuch'", 16),
    ("{sometimes: [fault]}", "expected a condition name or one of", 16),
    ("{all: []}", "expected a non-empty list", 16),
    ("{said: {speaker: boss, phrases: [x]}}", "'boss' is not one of", 16),
    ("{said: {semantic_examples: [x]}}", "unknown key 'semantic_examples'", 16),
])
def test_bad_conditions_are_errors_with_file_and_line(when, message, line):
    from callqa.errors import RulebookError
    from callqa.scoring import parse_rulebook

    with pytest.raises(RulebookError) as exc:
        parse_rulebook("name: w\n" + WHEN % when, "w.yaml")
    assert message in str(exc.value) and str(exc.value).startswith(f"w.yaml:{line}:")


def test_supersedes_must_name_another_rule():
    from callqa.errors import RulebookError
    from callqa.scoring import parse_rulebook

    text = MINI.read_text(encoding="utf-8").replace("supersedes: [RL02]", "supersedes: [XX99]")
    with pytest.raises(RulebookError, match="no other rule 'XX99'"):
        parse_rulebook(text, "mini.yaml")


# --------------------------------------------------------------------------- clauses

@pytest.mark.parametrize("words,fires", [
    ([("不知道", 0.0, 0.6), ("你", 1.0, 1.2), ("方便", 1.2, 1.8), ("吗", 1.8, 2.0)], True),
    ([("不知道", 0.0, 0.6), ("你", 0.6, 0.8), ("方便", 0.8, 1.4), ("吗", 1.4, 1.6)], False),
])
def test_pause_between_words_is_a_clause_break(words, fires):
    from callqa.scoring import parse_rulebook

    text = MINI.read_text(encoding="utf-8").replace(
        "exceptions: {phrases: [知道不知道], regex: \"不知道.*[吗呢?]$\"}",
        "exceptions: {phrases: [知道不知道, 不知道你], question: true}")
    s = Scorer(parse_rulebook(text, "mini.yaml"))
    t = call(GOOD[0], GOOD[-1])
    t.utterances.append(Utterance("agent", 4.0, 6.0, "不知道你方便吗",
                                  tuple(Word(w, 4 + a, 4 + b) for w, a, b in words)))
    t.utterances.sort(key=lambda u: u.start)
    assert ("FB01" in ids(s.score(t))) == fires


@pytest.mark.parametrize("text,asks", [
    ("不知道您方便吗", True), ("不知道你明天再打来吧", False), ("您知道不知道水表在哪", True),
    ("不知道您是几栋的", True), ("不知道方不方便", True), ("我不知道你等着吧", False),
])
def test_question_detection(text, asks):
    from callqa.scoring.matching import is_question

    assert is_question(text) == asks


def test_near_syllable_match_only_for_long_phrases_and_same_initial():
    from callqa.scoring.matching import Matcher, UtteranceText

    m = Matcher(["已经记下来了", "记下了"])
    find = lambda t, p: m.find(UtteranceText(t, m), [p], mode="pinyin")  # noqa: E731
    assert [h.mode for h in find("好的，已经就下来了", "已经记下来了")] == ["near"]  # ji → jiu
    assert find("好的，已经定下来了", "已经记下来了") == []  # ji → ding: another initial
    assert find("好的，就下了", "记下了") == []  # three syllables: no slack
    assert m.find(UtteranceText("已经就下来了", m), ["已经记下来了"], mode="exact") == []
