"""The report of a batch with desks: each call's desk and rulebook in the calls table (CSV,
XLSX, HTML) and each desk's rulebook in the header."""

from __future__ import annotations

import csv
from dataclasses import replace

from typer.testing import CliRunner

from callqa.cli import app
from callqa.scoring import Scorer, load_rulebook

from test_batch_desks import gas_rulebook
from test_report_data import make_store, stored, transcript


def test_report_shows_desk_and_rulebook(tmp_path):
    gas = load_rulebook(gas_rulebook(tmp_path / "gas.yaml", version=3))
    results = []
    for cid, desk in (("c1", "物业"), ("c3", "物业"), ("c4", "燃气"), ("c5", "燃气")):
        s = stored(cid)
        result = Scorer(gas).score(transcript(cid)) if desk == "燃气" else replace(s.result)
        result.desk = desk
        results.append(replace(s, result=result))
    out = make_store(tmp_path / "out", results, failures=[])
    res = CliRunner().invoke(app, ["report", "--out", str(out)])
    assert res.exit_code == 0, res.output

    with open(out / "report" / "calls.csv", encoding="utf-8-sig") as fh:
        rows = {r["call_id"]: r for r in csv.DictReader(fh)}
    assert {c: (r["desk"], r["rulebook"]) for c, r in rows.items()} == {
        "c1": ("物业", "callqa-default v1"), "c3": ("物业", "callqa-default v1"),
        "c4": ("燃气", "燃气热线 v3"), "c5": ("燃气", "燃气热线 v3")}
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "坐席组 / 规则库" in html and "燃气 / 燃气热线 v3" in html
    assert f"燃气：燃气热线 v3 ({gas.sha256[:8]})" in html
    assert "物业：callqa-default v1" in html


def test_report_without_desks_has_no_desk_column(tmp_path):
    out = make_store(tmp_path / "out", [stored("c1"), stored("c4")], failures=[])
    res = CliRunner().invoke(app, ["report", "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "坐席组" not in html
