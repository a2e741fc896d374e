"""Report tables on the known batch of test_report_data: every number below is computed by hand
from EXPECTED_FINDINGS and the hand-written transcripts (utterance times)."""

from __future__ import annotations

import dataclasses

import pytest

from callqa.report.tables import (COLUMNS, UNKNOWN_AGENT, build_tables, call_day, daily_overall,
                                  result_link, rule_matrix)
from test_report_data import FAILURES, batch, stored


@pytest.fixture(scope="module")
def tables():
    return build_tables(batch(), FAILURES, review_ids={"c2"})


def rows(df, key):
    return {r[key]: r for r in df.to_dict(orient="records")}


def test_columns_are_the_documented_contract(tables):
    for name, df in tables.items():
        assert list(df.columns) == COLUMNS[name], name


def test_per_agent_summary(tables):
    a = rows(tables.agents, "agent_id")
    assert list(a) == ["A1", "B7", UNKNOWN_AGENT]           # unknown last, never dropped
    # A1: c1 100, c2 100-50=50, c3 100-5=95
    assert a["A1"]["calls"] == 3
    assert a["A1"]["mean_score"] == 81.67
    assert a["A1"]["min_score"] == 50 and a["A1"]["max_score"] == 100
    assert a["A1"]["passed"] == 2 and a["A1"]["pass_rate"] == 0.6667
    assert a["A1"]["findings"] == 11 and a["A1"]["deduction"] == 55
    assert a["A1"]["vetoed"] == 0
    assert (a["A1"]["first_day"], a["A1"]["last_day"]) == ("2026-11-20", "2026-11-21")
    # B7: c4 95 (CL01), c5 50 vetoed by FB05
    assert (a["B7"]["calls"], a["B7"]["mean_score"], a["B7"]["min_score"]) == (2, 72.5, 50)
    assert (a["B7"]["passed"], a["B7"]["pass_rate"], a["B7"]["vetoed"]) == (1, 0.5, 1)
    assert (a[UNKNOWN_AGENT]["calls"], a[UNKNOWN_AGENT]["mean_score"]) == (1, 100)


def test_agent_talk_time_sums_agent_utterances(tables):
    a = rows(tables.agents, "agent_id")
    # full call: 4.5 + 3.5 + 5.5 + 3.5 = 17; c2: 2.5 + 3.5 + 1.5 = 7.5; c4 (no BYE): 13.5
    assert a["A1"]["agent_talk_s"] == 17 + 7.5 + 17
    assert a["B7"]["agent_talk_s"] == 13.5 + 17
    assert a[UNKNOWN_AGENT]["agent_talk_s"] == 17


def test_violations_per_category(tables):
    c = rows(tables.agent_categories, "agent_id")
    # (GR03, the offer of help, is a polite expression since issue 13)
    assert {k: v for k, v in c["A1"].items() if v and k != "agent_id"} == {
        "greeting": 2, "self_identification": 1, "closing": 2, "polite_expression": 3,
        "forbidden_phrase": 3, "total": 11}
    assert {k: v for k, v in c["B7"].items() if v and k != "agent_id"} == {
        "closing": 1, "forbidden_phrase": 1, "total": 2}
    assert c[UNKNOWN_AGENT]["total"] == 0


def test_violations_and_hit_rate_per_agent_and_rule(tables):
    ar = {(r["agent_id"], r["rule_id"]): r for r in tables.agent_rules.to_dict("records")}
    fb01 = ar[("A1", "FB01")]
    assert (fb01["findings"], fb01["calls_hit"], fb01["calls"], fb01["hit_rate"]) == \
        (3, 2, 3, 0.6667)
    assert fb01["deduction"] == 15
    assert ar[("B7", "CL01")]["hit_rate"] == 0.5
    assert ar[("B7", "FB05")]["findings"] == 1 and ar[("B7", "FB05")]["severity"] == "critical"
    assert ar[(UNKNOWN_AGENT, "FB01")]["hit_rate"] == 0
    # every agent has a row for every rule that fired anywhere
    assert len(tables.agent_rules) == 3 * 10


def test_rule_hit_rate_overall(tables):
    r = rows(tables.rules, "rule_id")
    assert sorted(r) == ["CL01", "CL02", "FB01", "FB05", "GR01", "GR02", "GR03", "PL01", "PL02",
                         "SI01"]
    assert (r["CL01"]["calls_hit"], r["CL01"]["calls"], r["CL01"]["hit_rate"],
            r["CL01"]["agents_hit"]) == (2, 6, 0.3333, 2)
    assert (r["FB01"]["findings"], r["FB01"]["calls_hit"], r["FB01"]["agents_hit"]) == (3, 2, 1)
    assert r["FB05"]["hit_rate"] == 0.1667
    m = rows(rule_matrix(tables), "rule_id")
    assert (m["CL01"]["overall"], m["CL01"]["A1"], m["CL01"]["B7"], m["CL01"][UNKNOWN_AGENT]) == \
        (0.3333, 0.3333, 0.5, 0.0)


def test_worst_calls_lowest_first_with_links(tables):
    w = tables.worst_calls.to_dict("records")
    assert [(r["agent_id"], r["rank"], r["call_id"], r["score"]) for r in w] == [
        ("A1", 1, "c2", 50), ("A1", 2, "c3", 95), ("A1", 3, "c1", 100),
        ("B7", 1, "c5", 50), ("B7", 2, "c4", 95),
        (UNKNOWN_AGENT, 1, "c6", 100)]
    c2 = w[0]
    assert c2["result_link"] == "results/c2.json"
    assert c2["review_link"] == "review/c2.html"             # a review page exists for c2 only
    assert w[1]["review_link"] == ""
    assert c2["top_rules"].startswith("FB01×2, GR01, SI01")  # by deduction, then id
    assert w[3]["vetoed"] == "FB05" and not w[3]["passed"]
    two = build_tables(batch(), worst_n=1).worst_calls
    assert list(two["call_id"]) == ["c2", "c5", "c6"]


def test_trend_by_day(tables):
    assert tables.days == ["2026-11-20", "2026-11-21"] and tables.multi_day
    t = {(r["agent_id"], r["day"]): r for r in tables.trend.to_dict("records")}
    assert sorted(t) == [("A1", "2026-11-20"), ("A1", "2026-11-21"), ("B7", "2026-11-21"),
                         (UNKNOWN_AGENT, "2026-11-21")]
    assert (t[("A1", "2026-11-20")]["calls"], t[("A1", "2026-11-20")]["mean_score"],
            t[("A1", "2026-11-20")]["pass_rate"]) == (2, 75.0, 0.5)
    assert (t[("A1", "2026-11-21")]["mean_score"], t[("A1", "2026-11-21")]["pass_rate"]) == (95, 1)
    d = rows(daily_overall(tables), "day")
    assert (d["2026-11-20"]["calls"], d["2026-11-20"]["mean_score"]) == (2, 75.0)
    # 11-21: c3 95, c4 95, c5 50, c6 100 → 85, 3 of 4 passed
    assert (d["2026-11-21"]["calls"], d["2026-11-21"]["mean_score"],
            d["2026-11-21"]["pass_rate"]) == (4, 85.0, 0.75)


def test_single_day_is_not_a_trend():
    t = build_tables(batch("c3", "c4"))
    assert t.days == ["2026-11-21"] and not t.multi_day


def test_findings_and_failures_tables(tables):
    f = tables.findings
    # 待复核 findings (已记下 said, nothing read back) are listed, apart, and deduct nothing
    pending = f[f["review"]]
    assert len(pending) and (pending["deduction"] == 0).all() and (pending["confidence"] < 0.5).all()
    f = f[~f["review"]]
    assert len(f) == 13                                      # 10 + 1 + 1 + 1
    assert list(f[f["call_id"] == "c5"]["rule_id"]) == ["FB05"]
    assert "<script>" in f[f["rule_id"] == "FB01"].iloc[0]["evidence"]   # raw in the data
    assert tables.failures.to_dict("records") == [
        {"call_id": "bad1", "agent_id": None, "path": "recordings/bad1.wav", "status": "failed",
         "error": "recordings/bad1.wav: cannot decode <audio> & stuff"}]


def test_unknown_agent_from_blank_id_and_result_fallback():
    c1 = stored("c1")
    blank = dataclasses.replace(c1, call_id="x1", agent_id="  ")
    from_result = dataclasses.replace(c1, call_id="x2", agent_id=None)   # result says A1
    none = stored("c6")
    t = build_tables([blank, from_result, none])
    a = rows(t.agents, "agent_id")
    assert a["A1"]["calls"] == 1 and a[UNKNOWN_AGENT]["calls"] == 2


def test_empty_batch_gives_empty_tables_with_columns():
    t = build_tables([], [])
    for name, df in t.items():
        assert len(df) == 0 and list(df.columns) == COLUMNS[name]
    assert t.days == [] and len(daily_overall(t)) == 0 and len(rule_matrix(t)) == 0


@pytest.mark.parametrize("started_at,day", [
    ("2026-11-21", "2026-11-21"),
    ("2026-11-21T23:59:59+08:00", "2026-11-21"),
    ("2026-11-21 08:00:00", "2026-11-21"),
    (None, None), ("", None), ("yesterday", None),
])
def test_call_day(started_at, day):
    assert call_day(started_at) == day


def test_result_link_uses_the_store_file_name():
    assert result_link("a/b c") == "results/a_b_c.json"
    assert result_link("通话1") == "results/%E9%80%9A%E8%AF%9D1.json"
