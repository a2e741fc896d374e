"""``callqa report`` end to end on a real batch store (callqa.batch.store) in a temp directory."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from callqa.cli import app
from callqa.cli.report import parse_since
from callqa.report.tables import UNKNOWN_AGENT
from test_report_data import make_store

runner = CliRunner()


@pytest.fixture()
def out(tmp_path):
    return make_store(tmp_path / "out")


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_report_writes_all_formats(out):
    r = runner.invoke(app, ["report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    report = out / "report"
    written = r.stdout.split()
    assert str(report / "report.html") in written and str(report / "report.xlsx") in written
    assert str(report / "agents.csv") in written and str(report / "agents.json") in written
    agents = {a["agent_id"]: a for a in read_csv(report / "agents.csv")}
    assert list(agents) == ["A1", "B7", UNKNOWN_AGENT]
    assert agents["A1"]["calls"] == "3" and agents["A1"]["mean_score"] == "81.67"
    failures = read_csv(report / "failures.csv")
    assert [(f["call_id"], f["status"]) for f in failures] == [("bad1", "failed")]
    html = (report / "report.html").read_text(encoding="utf-8")
    # links from OUT/report/report.html into OUT/results and OUT/review
    assert 'href="../results/c2.json"' in html and 'href="../review/c2.html"' in html
    assert (out / "results" / "c2.json").is_file()
    assert "callqa 质检日报 2026-11-20 至 2026-11-21" in html
    assert "callqa-default v1" in html
    assert load_workbook(report / "report.xlsx").sheetnames[0] == "坐席汇总"
    assert "6 calls, 3 agents, 1 failed files" in r.stderr


def test_since_filters_calls(out, tmp_path):
    r = runner.invoke(app, ["report", "--out", str(out), "--since", "2026-11-21",
                            "--format", "csv,json", "--report-dir", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    calls = read_csv(tmp_path / "r" / "calls.csv")
    assert sorted(c["call_id"] for c in calls) == ["c3", "c4", "c5", "c6"]   # not c1/c2 (11-20)
    agents = {a["agent_id"]: a for a in read_csv(tmp_path / "r" / "agents.csv")}
    assert (agents["A1"]["calls"], agents["A1"]["mean_score"]) == ("1", "95.0")
    assert len(read_csv(tmp_path / "r" / "trend.csv")) == 3                # one day per agent
    assert not (tmp_path / "r" / "report.html").exists()                   # only csv,json
    assert json.loads((tmp_path / "r" / "agents.json").read_text("utf-8"))[0]["calls"] == 1


def test_since_after_everything_writes_an_empty_report(out, tmp_path):
    r = runner.invoke(app, ["report", "--out", str(out), "--since", "2030-01-01",
                            "--report-dir", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert "no scored calls since 2030-01-01" in r.stderr
    assert read_csv(tmp_path / "r" / "agents.csv") == []
    assert "没有已评分的通话" in (tmp_path / "r" / "report.html").read_text("utf-8")


@pytest.mark.parametrize("args,message", [
    (["--format", "csv,pdf"], "unknown format pdf"),
    (["--since", "21/11/2026"], "--since: not a date"),
])
def test_usage_errors_exit_2(out, args, message):
    r = runner.invoke(app, ["report", "--out", str(out), *args])
    assert r.exit_code == 2 and message in r.stderr
    assert not (out / "report").exists()


def test_missing_store_exits_2_without_creating_it(tmp_path):
    r = runner.invoke(app, ["report", "--out", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no batch store" in r.stderr
    assert not (tmp_path / "nothing").exists()


def test_help_documents_exit_codes_and_env():
    r = runner.invoke(app, ["report", "--help"], terminal_width=200)
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for needle in ("Exit codes: 0", "2 usage", "3 report written but the e-mail failed",
                   "CALLQA_SMTP_USER", "CALLQA_SMTP_PASSWORD", "--starttls", "--smtp-cafile"):
        assert needle in text, needle


def test_parse_since():
    today = date(2026, 11, 21)
    assert parse_since("today", today) == today
    assert parse_since("yesterday", today) == date(2026, 11, 20)
    assert parse_since("-7", today) == date(2026, 11, 14)
    assert parse_since("2026-11-01", today) == date(2026, 11, 1)
    assert parse_since(None, today) is None
    with pytest.raises(ValueError):
        parse_since("last week", today)


def test_report_writes_a_review_page_per_call(out, tmp_path, monkeypatch):
    """The HTML report links one review page per call (OUT/review/<call>.html), written by
    the report with the recording linked relatively; a call whose recording is gone still
    gets a page, without a player."""
    import numpy as np
    import soundfile as sf

    monkeypatch.chdir(tmp_path)  # the stored paths are relative: recordings/<call>.wav
    (tmp_path / "recordings").mkdir()
    sf.write(tmp_path / "recordings" / "c2.wav", np.zeros(8000, np.float32), 8000)
    r = runner.invoke(app, ["report", "--out", str(out), "--format", "html"])
    assert r.exit_code == 0, r.output
    pages = sorted(p.name for p in (out / "review").glob("*.html"))
    assert pages == sorted(f"{c}.html" for c in ("c1", "c2", "c3", "c4", "c5", "c6"))
    c2 = (out / "review" / "c2.html").read_text(encoding="utf-8")
    assert 'src="../../recordings/c2.wav"' in c2
    assert "<audio" not in (out / "review" / "c1.html").read_text(encoding="utf-8")
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert 'href="../review/c2.html"' in html


def test_pass_mark_comes_from_the_results_not_the_rulebook_file(out, tmp_path):
    """The pass mark (chart line, review pages) is the one recorded in each result when it was
    scored: a rulebook file changed or gone since changes nothing. No line when the calls were
    scored with different pass marks, or before results recorded it."""
    import dataclasses

    from test_report_data import batch

    r = runner.invoke(app, ["report", "--out", str(out), "--format", "html"])
    assert r.exit_code == 0, r.output
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "虚线为合格线 80" in html
    assert "及格线 80" in (out / "review" / "c1.html").read_text(encoding="utf-8")

    def restamp(s, **rb):
        return dataclasses.replace(s, result=dataclasses.replace(
            s.result, rulebook={**s.result.rulebook, **rb}))

    gone = [restamp(s, path=str(tmp_path / "deleted.yaml"), sha256="0" * 64) for s in batch()]
    other = make_store(tmp_path / "gone", results=gone)
    assert runner.invoke(app, ["report", "--out", str(other), "--format", "html"]).exit_code == 0
    assert "虚线为合格线 80" in (other / "report" / "report.html").read_text(encoding="utf-8")
    assert "标准话术" in (other / "review" / "c2.html").read_text(encoding="utf-8")

    mixed = [restamp(s, sha256=f"{i % 2}" * 64, pass_mark=80 + i % 2)
             for i, s in enumerate(batch())]
    other = make_store(tmp_path / "mixed", results=mixed)
    assert runner.invoke(app, ["report", "--out", str(other), "--format", "html"]).exit_code == 0
    html = (other / "report" / "report.html").read_text(encoding="utf-8")
    assert "合格线" not in html and "callqa-default v1 (00000000)" in html

    old = [dataclasses.replace(s, result=dataclasses.replace(s.result, rulebook={
        k: v for k, v in s.result.rulebook.items() if k not in ("pass_mark", "base")}))
        for s in batch()]
    other = make_store(tmp_path / "old", results=old)
    assert runner.invoke(app, ["report", "--out", str(other), "--format", "html"]).exit_code == 0
    assert "合格线" not in (other / "report" / "report.html").read_text(encoding="utf-8")
