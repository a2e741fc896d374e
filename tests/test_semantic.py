"""Matching by meaning (issue 8), with the real encoder (no mocks): paraphrases match, near-misses
do not, evidence names the example and the score, ASR-noisy variants match, each clause of a call
is embedded once, bad thresholds are FILE:LINE errors, and the calibration figures reported in
docs/benchmarks.md do not regress."""

from __future__ import annotations

import pytest

from callqa.errors import RulebookError
from callqa.scoring import Scorer, load_rulebook, parse_rulebook
from callqa.scoring.calibration import judge, load_calibration, stats, threshold_of
from callqa.scoring.semantic import clause_spans, get_encoder
from callqa.scoring.matching import Matcher, UtteranceText
from callqa.transcript import Transcript, Utterance

HEAD = """\
rules:
  - id: SH01
    name: shirking.deflect
    title: 推诿
    category: shirking
    type: forbidden_phrase
    severity: major
    points: 5
    message: 推诿：{evidence}
    suggestion: s
    standard: {file: f.txt, text: t}
"""
SEMANTIC = HEAD + """\
    match: semantic
    phrases: [这个不归我们管, 你找别人去, 我也没办法]
    threshold: 0.6
"""
OFFER = """\
  - id: GR03
    name: greeting.offer_help
    title: 主动询问需求
    category: greeting
    type: required_phrase
    severity: minor
    points: 3
    match: pinyin
    phrases: [请问有什么可以帮您]
    semantic_examples: [请问有什么可以帮您的, 需要我帮您做什么吗]
    threshold: 0.55
    scope: {first_utterances: 2}
    message: m
    suggestion: s
    standard: {file: f.txt, text: t}
"""


def _call(*agent_texts: str, customer: str | None = None) -> Transcript:
    utts, t = [], 0.0
    for text in agent_texts:
        if customer is not None:
            utts.append(Utterance("customer", t, t + 1.5, customer))
            t += 2.0
        utts.append(Utterance("agent", t, t + 2.0, text))
        t += 2.5
    return Transcript("t", "A1", max(t, 5.0), utts)  # a call, not a misdial (min_call_s)


@pytest.fixture(scope="module")
def shirking():
    return Scorer(parse_rulebook(SEMANTIC, "book.yaml"))


@pytest.fixture(scope="module")
def offer():
    return Scorer(parse_rulebook(OFFER.replace("  - id", "rules:\n  - id", 1), "book.yaml"))


# --------------------------------------------------------------------------- matching

def test_paraphrase_matches_and_evidence_names_example_and_score(shirking):
    result = shirking.score(_call("那是市政的路灯，我们也管不着"))
    (f,) = result.findings
    assert f.rule_id == "SH01"
    assert f.matched["mode"] == "semantic"
    assert f.matched["phrase"] == "这个不归我们管"
    assert f.matched["heard"] == "我们也管不着"  # the clause, not the whole utterance
    assert 0.6 <= f.matched["score"] <= 1.0
    assert f.start > 0.0  # the hit's time is the clause's, within the utterance


def test_near_miss_does_not_match(shirking):
    for text in ("这个问题交给我吧，我帮您联系相关部门", "好的，不用了", "您别着急"):
        assert shirking.score(_call(text)).findings == [], text


def test_asr_noisy_variant_matches(shirking):
    (f,) = shirking.score(_call("这个不贵我们管")).findings  # 归 → 贵
    assert f.matched["phrase"] == "这个不归我们管" and f.matched["score"] >= 0.6


def test_semantic_examples_add_to_literal_phrases(offer):
    # literal (by sound) still works, the paraphrase is accepted by meaning, a near-miss is not
    assert offer.score(_call("您好，请问有什么可以邦您")).findings == []
    assert offer.score(_call("您好，有什么需要我帮忙的吗？")).findings == []
    (f,) = offer.score(_call("您好，这里是光明物业", "请问您住在哪一栋")).findings
    assert f.rule_id == "GR03"


def test_clause_spans_and_whole_utterance():
    ut = UtteranceText("您好，光明物业。请问有什么可以帮您？", Matcher())
    spans = clause_spans(ut)
    assert [ut.norm[a:b] for a, b in spans] == ["您好", "光明物业", "请问有什么可以帮您",
                                                "您好光明物业请问有什么可以帮您"]
    one = UtteranceText("不知道", Matcher())
    assert clause_spans(one) == [(0, 3)]


# --------------------------------------------------------------------------- cost

def test_each_clause_embedded_once_per_call_in_one_batch():
    rb = parse_rulebook(SEMANTIC + OFFER, "book.yaml")
    scorer = Scorer(rb)  # embeds the examples (one encoder call)
    enc = get_encoder()
    call = _call("您好，这里是光明物业，请问有什么可以帮您？", "这个不归我们管，你找别人去",
                 "好的，再见", customer="我家水管坏了，你们管不管？")
    # the rules listen to the agent: the customer's clauses are not embedded
    clauses = {ut_norm for u in call.utterances if u.speaker == "agent"
               for ut_norm in _clause_texts(u.text, scorer.matcher)}
    calls, texts = enc.calls, enc.texts
    result = scorer.score(call)
    assert {f.rule_id for f in result.findings} == {"SH01"}
    assert enc.calls - calls == 1  # one batch for the whole call, shared by both rules
    assert enc.texts - texts == len(clauses)  # every distinct clause once
    calls = enc.calls
    assert scorer.score(call).findings == result.findings
    assert enc.calls == calls  # clauses seen in an earlier call are not embedded again
    Scorer(rb)  # a new scorer embeds the examples again, once ...
    assert enc.calls - calls == 1
    assert get_encoder() is enc  # ... but the model is loaded once per process


def _clause_texts(text, matcher):
    ut = UtteranceText(text, matcher)
    return [ut.norm[a:b] for a, b in clause_spans(ut)]


def test_rulebook_without_semantic_rules_does_not_embed():
    book = HEAD + "    phrases: [不归我们管]\n"
    scorer = Scorer(parse_rulebook(book, "book.yaml"))
    assert scorer.semantic is None
    enc = get_encoder()
    calls = enc.calls
    assert [f.rule_id for f in scorer.score(_call("这个不归我们管")).findings] == ["SH01"]
    assert enc.calls == calls


# --------------------------------------------------------------------------- schema

@pytest.mark.parametrize("text, message, line", [
    (SEMANTIC.replace("threshold: 0.6", "threshold: 1.5"), "must be in (0, 1]", 14),
    (SEMANTIC.replace("threshold: 0.6", "threshold: 0"), "must be in (0, 1]", 14),
    (SEMANTIC.replace("threshold: 0.6", "threshold: high"), "expected a cosine", 14),
    (SEMANTIC.replace("    threshold: 0.6\n", ""), "match: semantic needs a threshold", 12),
    (HEAD + "    phrases: [不知道]\n    threshold: 0.7\n", "only with semantic_examples", 13),
    (HEAD + "    phrases: [不知道]\n    semantic_examples: [我不清楚]\n",
     "semantic_examples: needs a threshold", 13),
    (HEAD + "    semantic_examples: [我不清楚, 3]\n    threshold: 0.7\n",
     "expected a list of non-empty strings", 12),
])
def test_schema_errors_have_file_and_line(text, message, line):
    with pytest.raises(RulebookError) as info:
        parse_rulebook(text, "book.yaml")
    errors = getattr(info.value, "errors", [info.value])
    assert any(message in str(e) and str(e).startswith(f"book.yaml:{line}:") for e in errors), \
        [str(e) for e in errors]


def test_sequence_spec_needs_a_threshold():
    book = """\
rules:
  - id: RF01
    name: refusal.apology_first
    title: 拒绝前先致歉
    category: refusal_without_apology
    type: sequence
    severity: major
    points: 5
    trigger: {phrases: [不行], speaker: agent}
    direction: before
    require:
      phrases: [对不起]
      semantic_examples: [给您添麻烦了]
    within_utterances: 2
    message: m
    suggestion: s
    standard: {file: f.txt, text: t}
"""
    with pytest.raises(RulebookError) as info:
        parse_rulebook(book, "book.yaml")
    assert str(info.value).startswith("book.yaml:12:") and "needs a threshold" in str(info.value)
    ok = parse_rulebook(book.replace("      semantic_examples", "      threshold: 0.65\n"
                                     "      semantic_examples"), "book.yaml")
    assert ok.rules[0].params["require"].threshold == 0.65


# --------------------------------------------------------------------------- calibration

CAL_SETS, FLOORS = load_calibration()


def test_calibration_set_size_and_kinds():
    items = [i for s in CAL_SETS for i in s.items]
    assert len(items) >= 150
    assert {k for _, k, _ in items} == {"paraphrase", "asr", "near_miss", "noted"}
    assert set(FLOORS) == {s.key for s in CAL_SETS}


def test_calibration_sentences_are_not_the_rules_own_examples():
    rb = load_rulebook()
    for cal in CAL_SETS:
        rule = rb.get(cal.rule_id)
        spec = rule.params[cal.spec] if cal.spec else None
        examples = set(rule.examples(spec.phrases if spec else rule.params.get("phrases", ()),
                                     spec))
        assert not examples & {t for t, _, _ in cal.items}, cal.key


@pytest.fixture(scope="module")
def default_scorer():
    return Scorer(load_rulebook())


@pytest.mark.parametrize("cal", CAL_SETS, ids=[s.key for s in CAL_SETS])
def test_calibration_does_not_drop_below_reported(default_scorer, cal):
    rule = default_scorer.rulebook.get(cal.rule_id)
    s = stats(judge(default_scorer, cal), threshold_of(rule, cal.spec))
    floor = FLOORS[cal.key]
    assert round(s.precision, 2) >= floor["precision"], f"{cal.key} precision {s.precision:.2f}"
    assert round(s.recall, 2) >= floor["recall"], f"{cal.key} recall {s.recall:.2f}"
