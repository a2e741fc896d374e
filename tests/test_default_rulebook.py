"""The default rulebook ``rules/default.yaml``: it is derived from the seed etiquette documents
(every cited sentence is found verbatim in its seed file), every rule is tested both ways by
``rules/tests/<RULE_ID>.yaml``, and the whole rulebook scores a model call, a rude call and an
abusive call as the seeds would."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from callqa.result import CATEGORIES, SEVERITIES
from callqa.scoring import DEFAULT_RULEBOOK, Scorer, load_rulebook
from callqa.scoring.ruletests import run_rule_tests
from callqa.transcript import Transcript, Utterance

REPO = Path(__file__).resolve().parents[1]
SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
RULE_TESTS = REPO / "rules" / "tests"

RAW = yaml.safe_load(DEFAULT_RULEBOOK.read_text(encoding="utf-8"))
RAW_RULES = RAW["rules"]
RULE_IDS = [r["id"] for r in RAW_RULES]


@pytest.fixture(scope="module")
def rulebook():
    return load_rulebook(DEFAULT_RULEBOOK)


@pytest.fixture(scope="module")
def scorer(rulebook):
    return Scorer(rulebook)


def _cases() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for path in sorted(RULE_TESTS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.setdefault(str(data["rule"]), []).extend(data["cases"])
    return out


# --------------------------------------------------------------------------- provenance

@pytest.mark.parametrize("rule", RAW_RULES, ids=RULE_IDS)
def test_standard_text_is_verbatim_in_seed(rule):
    if not SEEDS.is_dir():
        pytest.skip(f"seed documents not available at {SEEDS}")
    std = rule["standard"]
    seed = SEEDS / std["file"]
    assert seed.is_file(), f"{rule['id']}: no seed file {std['file']}"
    content = seed.read_text(encoding="utf-8")
    assert std["text"] in content, f"{rule['id']}: standard.text not found verbatim in {seed.name}"


@pytest.mark.parametrize("rule", RAW_RULES, ids=RULE_IDS)
def test_rule_is_complete(rule):
    assert rule["category"] in CATEGORIES
    assert rule["severity"] in SEVERITIES
    assert rule.get("message", "").strip() and rule.get("suggestion", "").strip()
    assert rule.get("examples", {}).get("good") and rule.get("examples", {}).get("bad")
    if rule.get("veto"):
        assert rule["severity"] == "critical", f"{rule['id']}: veto only with severity critical"


def test_ids_and_names_unique():
    for key in ("id", "name"):
        dupes = [k for k, n in Counter(r[key] for r in RAW_RULES).items() if n > 1]
        assert not dupes, f"duplicate {key}s: {dupes}"


def test_rulebook_header(rulebook):
    assert RAW["vocabulary"] == []
    assert (rulebook.base, rulebook.pass_mark) == (100, 80)
    assert len(rulebook.rules) == len(RAW_RULES)


# --------------------------------------------------------------------------- rule tests

def test_every_rule_has_a_firing_and_a_quiet_case():
    cases = _cases()
    assert set(cases) <= set(RULE_IDS), f"cases for unknown rules: {set(cases) - set(RULE_IDS)}"
    for rule_id in RULE_IDS:
        expects = [c["expect"] for c in cases.get(rule_id, [])]
        assert any(e >= 1 for e in expects), f"{rule_id}: no case that must fire"
        assert any(e == 0 for e in expects), f"{rule_id}: no case that must not fire"


def test_rule_tests_pass(rulebook):
    results, problems = run_rule_tests(rulebook, RULE_TESTS)
    failed = [f"{r.rule_id} {r.name}: {r.detail}" for r in results if not r.ok]
    assert not problems, problems
    assert not failed, "\n".join(failed)


# --------------------------------------------------------------------------- whole rulebook

def _call(*turns, speakers=("agent", "customer")) -> Transcript:
    utts = [Utterance(s, a, b, t) for s, a, b, t in turns]
    return Transcript("t", "A1", max(u.end for u in utts), utts, speakers=speakers)


# A call that follows the seeds' phrasing end to end (greeting, self-identification, offer of
# help, asking the caller's name, an announced hold thanked afterwards, read-back, farewell).
MODEL_CALL = [
    ("agent", 0.8, 6.0, "您好，这里是光明物业客服中心，请问有什么可以帮您？"),
    ("customer", 6.5, 9.5, "我家厨房水管漏水了，能不能派人来修一下"),
    ("agent", 10.0, 13.0, "好的，请问先生您贵姓？"),
    ("customer", 13.5, 14.5, "我姓王"),
    ("agent", 15.0, 18.0, "王先生，请问您的门牌号是多少？"),
    ("customer", 18.5, 19.5, "三栋五零二"),
    ("agent", 20.0, 22.5, "好的，请您稍等，我帮您查一下"),
    ("agent", 40.0, 46.0, "对不起，让您久等了，维修师傅今天下午两点上门"),
    ("customer", 46.5, 48.0, "好的，谢谢"),
    ("agent", 48.5, 57.5, "跟您确认一下，三栋五零二厨房水管漏水，下午两点上门，请保持电话畅通"),
    ("customer", 58.0, 59.0, "好的，再见"),
    ("agent", 59.5, 62.5, "感谢您的来电，再见！"),
]


def test_model_call_scores_full_marks(scorer):
    result = scorer.score(_call(*MODEL_CALL))
    assert [(f.rule_id, f.evidence) for f in result.findings] == []
    assert result.score == 100 and result.passed


def test_rude_call_fails(scorer):
    result = scorer.score(_call(
        ("agent", 5.0, 6.0, "喂，哪位？"),
        ("customer", 6.5, 8.0, "你们经理在吗？"),
        ("agent", 8.5, 9.5, "不在"),
        ("customer", 10.0, 12.0, "那他什么时候回来？"),
        ("agent", 12.5, 13.5, "不知道"),
        ("customer", 14.0, 15.5, "我家停电了怎么办"),
        ("agent", 16.0, 18.0, "下班了，明天再打"),
    ))
    fired = {f.rule_id for f in result.findings}
    assert {"RL01", "GR01", "GR02", "SI01", "FB01", "FB02", "FB04", "CL01"} <= fired
    assert result.score < RAW["scoring"]["pass_mark"] and not result.passed


def test_abusive_call_is_vetoed_even_with_a_high_score(scorer):
    turns = list(MODEL_CALL)
    turns.insert(2, ("agent", 9.8, 9.95, "神经病"))
    result = scorer.score(_call(*turns))
    assert "FB05" in result.vetoed and not result.passed


def test_mono_recording_skips_two_party_rules(scorer):
    result = scorer.score(_call(*[t for t in MODEL_CALL if t[0] == "agent"],
                                speakers=("agent",)))
    assert {"DA01", "IN01", "RL02"} <= set(result.not_applicable)
    assert result.passed


def test_standards_titles_name_each_cited_document():
    """依据 names the document by its title (rulebook ``standards:``), never by the hashed file
    name, and the title is the document's own (it appears in the seed)."""
    from callqa.scoring import load_rulebook

    rb = load_rulebook()
    for rule in rb.rules:
        assert rule.standard_title, f"{rule.id}: {rule.standard_file} has no title in standards:"
        assert rule.standard == f"{rule.standard_text}（《{rule.standard_title}》）"
        assert rule.standard_file not in rule.standard
        if SEEDS.is_dir():
            seed = (SEEDS / rule.standard_file).read_text(encoding="utf-8")
            assert rule.standard_title.split("与")[0] in seed, rule.standard_title


# --------------------------------------------------------------------------- issue 13 policy

OPENING = [("agent", 0.5, 4.0, "您好，这里是光明物业客服中心，请问有什么可以帮您？"),
           ("customer", 4.5, 7.0, "我想问一下这个月的物业费是多少")]
FAREWELL = ("agent", 0.0, 0.0, "感谢您的来电，再见")


def _with(*turns):
    last = turns[-1][2]
    return _call(*OPENING, *turns, ("agent", last + 0.5, last + 3.0, FAREWELL[3]))


@pytest.mark.parametrize("turns,hold,dead,also", [
    # 我查一下 announces a hold: 9 s, unthanked → hold etiquette, not dead air
    ([("agent", 7.5, 9.0, "好的，我查一下"), ("agent", 18.0, 21.0, "物业费是三百二十元")], 1, 0, []),
    # thanked: nothing
    ([("agent", 7.5, 9.0, "好的，我查一下"), ("agent", 18.0, 21.0, "让您久等了，物业费是三百二十元")],
     0, 0, []),
    # 6.6 s with no announcement after the customer's question → dead air
    ([("agent", 13.6, 16.0, "物业费是三百二十元")], 0, 1, []),
    # 14 s: dead air, and also a slow reply (RL02): one finding naming RL02
    ([("agent", 21.0, 24.0, "物业费是三百二十元")], 0, 1, ["RL02"]),
    # a 70 s unthanked hold: one hold finding (HD01) naming HD02, charged once
    ([("agent", 7.5, 9.0, "请您稍等"), ("agent", 79.0, 82.0, "物业费是三百二十元")], 1, 0, ["HD02"]),
])
def test_silence_policy(scorer, turns, hold, dead, also):
    result = scorer.score(_with(*turns))
    holds = [f for f in result.findings if f.category == "hold_etiquette"]
    deads = [f for f in result.findings if f.category == "dead_air"]
    assert (len(holds), len(deads)) == (hold, dead), [(f.rule_id, f.start) for f in result.findings]
    assert [r for f in holds + deads for r in f.also_breaks] == also
    assert "RL02" not in {f.rule_id for f in result.findings} or not deads


def test_long_thanked_hold_is_a_latency_lapse_not_hold_etiquette(scorer):
    result = scorer.score(_with(("agent", 7.5, 9.0, "请您稍等"),
                                ("agent", 79.0, 82.0, "让您久等了，物业费是三百二十元")))
    assert [(f.rule_id, f.category) for f in result.findings
            if f.category in ("hold_etiquette", "dead_air", "response_latency")
            ] == [("HD02", "response_latency")]


def test_fee_question_needs_no_read_back_but_a_repair_does(scorer):
    fee = scorer.score(_with(("agent", 7.5, 10.0, "物业费是三百二十元")))
    assert not {"CL02", "PL02"} & {f.rule_id for f in fee.findings}
    assert {"CL02", "PL02"} <= set(fee.not_applicable)
    repair = scorer.score(_call(
        ("agent", 0.5, 4.0, "您好，这里是光明物业客服中心，请问有什么可以帮您？"),
        ("customer", 4.5, 7.0, "我家厨房的水管漏水了"),
        ("agent", 7.5, 10.0, "好的，我马上安排维修师傅过去"),
        ("agent", 10.5, 13.0, "感谢您的来电，再见")))
    assert {"CL02", "PL02"} <= {f.rule_id for f in repair.findings}
