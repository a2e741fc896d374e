"""``callqa report`` for a QA lead (issue 15): pages that work from any directory, every call
listed, agents ranked, unscored calls and uncertain roles said as such, conversation metrics,
and reviewer precision — on real batch stores, through the real CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from openpyxl import load_workbook
from typer.testing import CliRunner

from callqa.cli import app
from callqa.report.email import text_summary
from callqa.report.write import write_report
from callqa.verdicts import ReviewStore
from test_report_data import CALLS, batch, make_store, stored

runner = CliRunner()
CALLQA = [sys.executable, "-c", "from callqa.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[1]


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def by(rows, key="call_id"):
    return {r[key]: r for r in rows}


# ---------------------------------------------------------------- recordings from anywhere

def test_report_from_another_directory_keeps_the_players_and_says_what_is_missing(tmp_path):
    """The batch ran in WORK with relative recording paths; the report runs (a real process)
    from elsewhere: every page still plays its recording, and the one recording deleted since
    is named on stderr and on its page — not silently dropped."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "recordings").mkdir(parents=True)
    elsewhere.mkdir()
    for call_id in CALLS:
        if call_id != "c3":
            sf.write(work / "recordings" / f"{call_id}.wav", np.zeros(800, np.float32), 8000)
    cwd = os.getcwd()
    os.chdir(work)  # the store records each path as given and made absolute, here
    try:
        out = make_store(work / "out")
    finally:
        os.chdir(cwd)

    def report(where):
        r = subprocess.run([*CALLQA, "report", "--out", str(out), "--format", "html"],
                           cwd=where, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, r.stderr
        return r, {p.name: p.read_text(encoding="utf-8") for p in (out / "review").iterdir()}

    r, pages = report(elsewhere)
    assert "warning: recording not found: recordings/c3.wav (call c3)" in r.stderr
    assert r.stderr.count("recording not found") == 1
    src = pages["c2.html"].split('<audio id="audio" controls preload="auto" src="')[1]
    src = src.split('"')[0]
    assert ((out / "review" / src).resolve() == work / "recordings" / "c2.wav")
    assert "<audio" not in pages["c3.html"]
    assert "录音文件未找到：recordings/c3.wav" in pages["c3.html"]
    _, again = report(work)  # the same pages from the batch's own directory
    assert again == pages


# ---------------------------------------------------------------- every call, agents ranked

def test_every_call_listed_with_its_page_and_agents_ranked_by_score(tmp_path):
    z9 = dataclasses.replace(stored("c1"), call_id="z1", agent_id="Z9")  # 100 points
    out = make_store(tmp_path / "out", results=[*batch(), z9])
    r = runner.invoke(app, ["report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    agents = read_csv(out / "report" / "agents.csv")
    assert [(a["agent_id"], a["rank"]) for a in agents] == [
        ("Z9", "1"), ("A1", "2"), ("B7", "3"), ("（未知坐席）/unknown", "")]
    calls = read_csv(out / "report" / "calls.csv")
    assert [c["agent_id"] for c in calls][:2] == ["Z9", "A1"]            # by rank
    assert sorted(c["call_id"] for c in calls) == sorted([*CALLS, "z1"])
    assert by(calls)["c3"]["review_link"] == "review/c3.html"
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    section = html[html.index("全部通话（7）"):]
    for call_id in [*CALLS, "z1"]:
        assert f'href="../review/{call_id}.html"' in section, call_id
    assert "坐席排名（按平均分）" in html
    ws = load_workbook(out / "report" / "report.xlsx")["坐席汇总"]
    assert [ws.cell(row=i, column=1).value for i in range(2, 6)] == [
        "Z9", "A1", "B7", "（未知坐席）/unknown"]


# ---------------------------------------------------------------- unscored, uncertain roles

def unscored_and_uncertain():
    """A1 gets a misdial (unscored), B7 a mono call whose roles are uncertain."""
    base = stored("c1")
    u1 = dataclasses.replace(base, call_id="u1", started_at="2026-11-21T11:00:00",
                             result=dataclasses.replace(
                                 base.result, call_id="u1", score=None, passed=False,
                                 findings=[], unscored="无坐席语音（疑似空号）"))
    r1 = dataclasses.replace(base, call_id="r1", agent_id="B7",
                             started_at="2026-11-21T12:00:00",
                             result=dataclasses.replace(base.result, call_id="r1",
                                                        agent_id="B7", roles="uncertain"))
    return [*batch(), u1, r1]


def test_unscored_calls_stay_out_of_averages_and_say_why(tmp_path):
    out = make_store(tmp_path / "out", results=unscored_and_uncertain())
    r = runner.invoke(app, ["report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "8 calls (1 unscored), 3 agents" in r.stderr
    rep = out / "report"
    a1 = by(read_csv(rep / "agents.csv"), "agent_id")["A1"]
    # the same as without u1: 3 scored calls, mean 81.67, pass rate 2/3
    assert (a1["calls"], a1["mean_score"], a1["pass_rate"], a1["unscored"]) == \
        ("3", "81.67", "0.6667", "1")
    calls = by(read_csv(rep / "calls.csv"))
    assert (calls["u1"]["score"], calls["u1"]["passed"], calls["u1"]["unscored"]) == \
        ("", "False", "无坐席语音（疑似空号）")
    assert calls["r1"]["roles"] == "uncertain" and calls["r1"]["score"] == "100.0"
    assert "u1" not in {w["call_id"] for w in read_csv(rep / "worst_calls.csv")}
    assert all(t["calls"] != "2" or t["agent_id"] != "A1"
               for t in read_csv(rep / "trend.csv") if t["day"] == "2026-11-21")

    html = (rep / "report.html").read_text(encoding="utf-8")
    assert "<b>未评分</b>：无坐席语音（疑似空号）" in html
    assert "角色不确定" in html and "1 通电话角色不确定" in html
    assert "+ 1 未评分" in html
    wb = load_workbook(rep / "report.xlsx")
    ws = wb["通话明细"]
    head = [c.value for c in ws[1]]
    rows = {row[0].value: {h: c.value for h, c in zip(head, row)}
            for row in ws.iter_rows(min_row=2)}
    assert rows["u1"]["未评分原因"] == "无坐席语音（疑似空号）"
    assert rows["u1"]["得分"] == rows["u1"]["是否合格"] == "未评分"           # not 否
    assert rows["c1"]["得分"] == 100 and rows["c1"]["是否合格"] == "是"
    assert rows["r1"]["角色区分"] == "角色不确定" and rows["c1"]["角色区分"] == "双声道"
    u1_page = (out / "review" / "u1.html").read_text(encoding="utf-8")
    assert '<span class="verdict">未评分</span><span class="reason">无坐席语音（疑似空号）' \
        in u1_page
    assert "未评分：无坐席语音（疑似空号）。不计入坐席的平均分与合格率" in u1_page
    assert "没有扣分项" not in u1_page
    r1_page = (out / "review" / "r1.html").read_text(encoding="utf-8")
    assert 'id="roles"' in r1_page and "角色不确定：单声道录音中两个声音无法可靠区分" in r1_page
    assert 'id="roles"' not in (out / "review" / "c1.html").read_text(encoding="utf-8")


def test_email_summary_counts_unscored_calls_apart(tmp_path):
    files = write_report(unscored_and_uncertain(), [], out_dir=tmp_path, formats=["json"],
                         report_dir=tmp_path / "r")
    text = text_summary(files)
    assert "1. A1: 3 通, 平均分 81.7, 最低分 50, 合格率 66.7%, 未评分 1 通" in text
    assert "未评分 u1（A1）：无坐席语音（疑似空号）" in text


# ---------------------------------------------------------------- conversation metrics

def test_conversation_metrics_per_call_and_per_agent(tmp_path):
    """c1's speech (from its utterances): agent 17 s, customer 4 s of 25 s; nobody speaks for
    4 s; the longest pause inside the call is 0.5 s; both customer turns are answered 0.5 s
    later. Per agent: the mean over the agent's scored calls."""
    out = make_store(tmp_path / "out")
    r = runner.invoke(app, ["report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rep = out / "report"
    calls = by(read_csv(rep / "calls.csv"))
    c1 = {k: calls["c1"][k] for k in ("agent_talk_rate", "customer_talk_rate", "non_talk_rate",
                                      "overtalk_rate", "longest_silence_s", "mean_response_s")}
    assert c1 == {"agent_talk_rate": "0.68", "customer_talk_rate": "0.16",
                  "non_talk_rate": "0.16", "overtalk_rate": "0.0", "longest_silence_s": "0.5",
                  "mean_response_s": "0.5"}
    a1 = by(read_csv(rep / "agents.csv"), "agent_id")["A1"]
    for key in ("agent_talk_rate", "overtalk_rate", "mean_response_s"):
        mine = [float(calls[c][key]) for c in ("c1", "c2", "c3")]
        assert float(a1[key]) == pytest.approx(sum(mine) / 3, abs=1e-4), key
    ws = load_workbook(rep / "report.xlsx")["通话明细"]
    head = [c.value for c in ws[1]]
    cell = ws.cell(row=[r[0].value for r in ws.iter_rows()].index("c1") + 1,
                   column=head.index("坐席说话占比") + 1)
    assert cell.value == 0.68 and cell.number_format == "0.0%"
    html = (rep / "report.html").read_text(encoding="utf-8")
    assert "会话指标（按坐席平均）" in html
    row = html[html.index("全部通话（"):]
    row = row[row.index('href="../review/c1.html"'):]
    row = row[:row.index("</tr>")]
    # c1 in the list of every call: talk shares, non-talk, overtalk, longest silence, response
    assert ["68.0% / 16.0%", "16.0%", "0.0%", "0.5s", "0.5s"] == re.findall(
        r'<td style="[^"]*">([^<]*)</td>', row)[-5:]


# ---------------------------------------------------------------- reviewer precision

def test_rule_precision_and_reviews_exported_with_the_report(tmp_path):
    out = make_store(tmp_path / "out")
    c2 = stored("c2").result
    fb01 = [f for f in c2.findings if f.rule_id == "FB01"]
    gr02 = next(f for f in c2.findings if f.rule_id == "GR02")
    with ReviewStore.open(out / "callqa.db") as reviews:
        lead = reviews.add_user("王组长", "reviewer", "s3cret")
        reviews.set_verdict(lead, "c2", fb01[0], "confirmed")
        reviews.set_verdict(lead, "c2", fb01[1], "rejected", "客户说的，不是坐席")
        reviews.set_verdict(lead, "c2", gr02, "rejected", "<b>误报</b>")
        reviews.add_missed(lead, "c4", "FB01", "agent", 15.0, 16.0, 5.0, "漏检“不知道”")
        reviews.add_missed(lead, "c6", "FB01", "agent", 1.0, 2.0, 5.0, "")  # no agent id
    r = runner.invoke(app, ["report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rep = out / "report"
    rules = by(read_csv(rep / "rules.csv"), "rule_id")
    assert (rules["FB01"]["confirmed"], rules["FB01"]["rejected"], rules["FB01"]["precision"],
            rules["FB01"]["missed"]) == ("1", "1", "0.5", "2")
    assert rules["GR02"]["precision"] == "0.0" and rules["CL01"]["precision"] == ""
    agent_rules = {(a["agent_id"], a["rule_id"]): a for a in read_csv(rep / "agent_rules.csv")}
    assert agent_rules[("A1", "FB01")]["precision"] == "0.5"
    assert agent_rules[("B7", "FB01")]["missed"] == "1"
    # rule_precision gives both the all-agents row and the no-agent-id calls agent_id None
    assert agent_rules[("（未知坐席）/unknown", "FB01")]["missed"] == "1"
    assert agent_rules[("A1", "FB01")]["missed"] == "0"
    agents = by(read_csv(rep / "agents.csv"), "agent_id")
    assert (agents["A1"]["confirmed"], agents["A1"]["rejected"], agents["A1"]["precision"]) \
        == ("1", "2", "0.3333")
    assert agents["B7"]["precision"] == ""
    exported = read_csv(rep / "reviews.csv")
    assert sorted((e["kind"], e["call_id"], e["rule_id"], e["verdict"]) for e in exported) == [
        ("missed", "c4", "FB01", ""), ("missed", "c6", "FB01", ""),
        ("verdict", "c2", "FB01", "confirmed"),
        ("verdict", "c2", "FB01", "rejected"), ("verdict", "c2", "GR02", "rejected")]
    assert json.loads((rep / "reviews.json").read_text("utf-8"))[0]["reviewer"] == "王组长"
    ws = load_workbook(rep / "report.xlsx")["复核记录"]
    head = [c.value for c in ws[1]]
    assert {ws.cell(row=i, column=head.index("复核结论") + 1).value
            for i in range(2, ws.max_row + 1)} == {"属实", "误报", None}
    prec = load_workbook(rep / "report.xlsx")["规则命中率"]
    ph = [c.value for c in prec[1]]
    assert "准确率" in ph and "复核属实" in ph and "漏检补充" in ph
    html = (rep / "report.html").read_text(encoding="utf-8")
    assert "复核准确率" in html and "50.0% <span" in html
    assert "<b>误报</b>" not in html


def test_no_reviews_no_precision_column_in_html(tmp_path):
    out = make_store(tmp_path / "out")
    assert runner.invoke(app, ["report", "--out", str(out)]).exit_code == 0
    assert "复核准确率" not in (out / "report" / "report.html").read_text(encoding="utf-8")
    assert read_csv(out / "report" / "reviews.csv") == []


def test_findings_say_the_suggestion_and_the_standard_by_title(tmp_path):
    out = make_store(tmp_path / "out")
    assert runner.invoke(app, ["report", "--out", str(out), "--format", "csv,xlsx"]).exit_code == 0
    gr01 = next(f for f in read_csv(out / "report" / "findings.csv") if f["rule_id"] == "GR01")
    assert gr01["standard"].endswith("（《客服工作礼仪规范》）")
    assert "000_e20797404e905f3f" not in gr01["standard"]
    assert gr01["suggestion"].startswith("您好，这里是")
    ws = load_workbook(out / "report" / "report.xlsx")["问题明细"]
    head = [c.value for c in ws[1]]
    assert "依据" in head and "建议" in head
