"""Report files: CSV/JSON columns and values, XLSX sheets/headers/widths/links, and the HTML
report (escaped text, self-contained, well-formed)."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET

import pytest
from openpyxl import load_workbook

from callqa.labels import CATEGORY as CATEGORY_ZH
from callqa.report.files import MATRIX_SHEET, SHEET_ZH, write_csv, write_json, write_xlsx
from callqa.report.html import bar_chart, line_chart, render_html, talk_time
from callqa.report.tables import COLUMNS, UNKNOWN_AGENT, build_tables
from test_report_data import FAILURES, batch

EXPECTED_SHEETS = ["坐席汇总", "问题类别", "坐席规则", "规则命中率", MATRIX_SHEET, "最差通话",
                   "每日趋势", "通话明细", "问题明细", "处理失败", "复核记录"]


@pytest.fixture(scope="module")
def tables():
    return build_tables(batch(), FAILURES, review_ids={"c2"})


@pytest.fixture(scope="module")
def html(tables):
    return render_html(tables, title="callqa 质检日报 2026-11-21", link_base="../",
                       pass_mark=80, rulebooks=["callqa-default v1 (deadbeef)"])


def test_csv_one_file_per_table_with_english_columns(tables, tmp_path):
    paths = write_csv(tables, tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{n}.csv" for n in COLUMNS)
    with open(tmp_path / "agents.csv", encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS["agents"]
        got = {r["agent_id"]: r for r in reader}
    assert got["A1"]["mean_score"] == "81.67" and got["A1"]["pass_rate"] == "0.6667"
    assert UNKNOWN_AGENT in got
    raw = (tmp_path / "findings.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel on Chinese Windows reads UTF-8
    assert "<script>alert('x')</script> & 不知道" in raw.decode("utf-8-sig")
    assert all(p.read_bytes().startswith(b"\xef\xbb\xbfcall_id") for p in paths
               if p.name in ("calls.csv", "findings.csv"))


def test_json_records_with_nulls(tables, tmp_path):
    paths = write_json(tables, tmp_path)
    assert len(paths) == len(COLUMNS)
    agents = json.loads((tmp_path / "agents.json").read_text(encoding="utf-8"))
    assert [a["agent_id"] for a in agents] == ["A1", "B7", UNKNOWN_AGENT]
    assert agents[1] == {**agents[1], "calls": 2, "mean_score": 72.5, "passed": 1, "vetoed": 1}
    assert isinstance(agents[0]["calls"], int)
    failures = json.loads((tmp_path / "failures.json").read_text(encoding="utf-8"))
    assert failures[0]["agent_id"] is None and failures[0]["call_id"] == "bad1"
    worst = json.loads((tmp_path / "worst_calls.json").read_text(encoding="utf-8"))
    assert worst[0]["passed"] is False and worst[0]["review_link"] == "review/c2.html"


def test_xlsx_sheets_headers_widths_and_links(tables, tmp_path):
    path = write_xlsx(tables, tmp_path / "r.xlsx", link_base="../")
    wb = load_workbook(path)
    assert wb.sheetnames == EXPECTED_SHEETS
    assert set(SHEET_ZH.values()) | {MATRIX_SHEET} == set(wb.sheetnames)
    ws = wb["坐席汇总"]
    headers = [c.value for c in ws[1]]
    assert headers[:7] == ["坐席", "已评分通话数", "平均分", "最低分", "最高分", "合格数",
                           "合格率"]
    assert "坐席说话时长(秒)" in headers
    assert [ws.cell(row=i, column=1).value for i in (2, 3, 4)] == ["A1", "B7", UNKNOWN_AGENT]
    rate = ws.cell(row=2, column=headers.index("合格率") + 1)
    assert rate.value == 0.6667 and rate.number_format == "0.0%"
    assert ws.freeze_panes == "A2"
    # widths fit the CJK label "（未知坐席）/unknown" (counted as double-width characters)
    assert ws.column_dimensions["A"].width >= 20
    assert all(ws.column_dimensions[c].width >= 6 for c in "ABCDEFG")
    cats = [c.value for c in wb["问题类别"][1]]
    assert cats[:3] == ["坐席", "问候", "自报家门"] and cats[-1] == "合计"
    worst = wb["最差通话"]
    wh = [c.value for c in worst[1]]
    link = worst.cell(row=2, column=wh.index("结果文件") + 1)
    assert link.value == "results/c2.json" and link.hyperlink.target == "../results/c2.json"
    review = worst.cell(row=2, column=wh.index("复核页面") + 1)
    assert review.hyperlink.target == "../review/c2.html"
    assert worst.cell(row=2, column=wh.index("得分") + 1).value == 50
    matrix = wb[MATRIX_SHEET]
    assert [c.value for c in matrix[1]] == ["规则", "规则名称", "全部坐席", "A1", "B7",
                                            UNKNOWN_AGENT]
    assert wb["处理失败"].cell(row=2, column=1).value == "bad1"


def test_xlsx_codes_in_chinese_filters_and_verdict_column(tables, tmp_path):
    """People read the workbook: category/severity/speaker in Chinese, every sheet filterable,
    and a call's pass/fail column is 是否合格 (是/否), not the 合格数 count of the agents sheet."""
    wb = load_workbook(write_xlsx(tables, tmp_path / "r.xlsx"))
    for ws in wb.worksheets:
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
    assert wb["坐席汇总"].auto_filter.ref == "A1:{}4".format(
        wb["坐席汇总"].cell(row=1, column=wb["坐席汇总"].max_column).column_letter)
    f = wb["问题明细"]
    head = [c.value for c in f[1]]
    rows = [{h: c.value for h, c in zip(head, r)} for r in f.iter_rows(min_row=2)]
    fb01 = next(r for r in rows if r["规则"] == "FB01")
    assert (fb01["类别"], fb01["严重程度"], fb01["说话方"]) == ("禁用语", "一般", "坐席")
    assert {r["严重程度"] for r in rows} <= {"轻微", "一般", "严重"}
    assert {r["类别"] for r in rows} <= set(CATEGORY_ZH.values())
    calls = wb["通话明细"]
    ch = [c.value for c in calls[1]]
    assert "是否合格" in ch and "合格数" not in ch
    assert {calls.cell(row=i, column=ch.index("是否合格") + 1).value
            for i in range(2, calls.max_row + 1)} == {"是", "否"}
    assert [c.value for c in wb["坐席规则"][1]].count("类别") == 1


def test_html_escapes_all_text(html):
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; 不知道" in html
    assert "cannot decode &lt;audio&gt; &amp; stuff" in html      # failure errors too


def test_html_is_self_contained_and_well_formed(html):
    # no scripts, no external resources: the only URL is the SVG namespace
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(link|img|iframe|object|embed)\b|\bsrc=|url\(", html, re.I)
    assert "<style" not in html                             # inline styles only (e-mail)
    assert html.startswith("<!DOCTYPE html>")
    root = ET.fromstring(html[html.index("<html"):])        # every tag closed, entities valid
    svgs = root.findall(".//{http://www.w3.org/2000/svg}svg")
    assert len(svgs) == 4                                   # score, pass rate, categories, trend


def test_html_content(html):
    for text in ("callqa 质检日报 2026-11-21", "坐席排名", "81.7", "66.7%", "A1", "B7",
                 "（未知坐席）/unknown", "每日趋势", "处理失败的文件", "callqa-default v1"):
        assert text in html, text
    assert 'href="../results/c2.json"' in html and 'href="../review/c2.html"' in html
    assert 'href="../review/c3.html"' not in html           # no page, no link
    assert ">0:42</td>" in html                              # A1 talk time 41.5 s
    assert "虚线为合格线 80" in html                          # pass mark on the score chart


def test_html_single_day_has_no_trend_and_empty_report_renders():
    one_day = render_html(build_tables(batch("c3", "c4")), title="t")
    assert "每日趋势" not in one_day
    empty = render_html(build_tables([], []), title="t")
    assert "没有已评分的通话" in empty
    ET.fromstring(empty[empty.index("<html"):])


def test_charts_escape_labels():
    svg = bar_chart([("<b>&", 50)], max_value=100, title="a<b")
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
    svg = line_chart(["2026-11-20", "2026-11-21"], [("x<y", [50, None])])
    assert "x&lt;y" in svg
    ET.fromstring(str(svg))


def test_talk_time():
    assert (talk_time(41.5), talk_time(3725), talk_time(None)) == ("0:42", "1:02:05", "0:00")


def test_trend_chart_is_capped_to_the_lowest_agents():
    import dataclasses

    from test_report_data import stored
    many = [dataclasses.replace(stored("c1" if i % 2 else "c2"), call_id=f"x{i}",
                                agent_id=f"Z{i:02d}", started_at=f"2026-11-{20 + i % 2}")
            for i in range(20)]
    html = render_html(build_tables(many), title="t")
    assert "平均分最低的 8 位坐席" in html
    root = ET.fromstring(html[html.index("<html"):])
    trend = root.findall(".//{http://www.w3.org/2000/svg}svg")[-1]
    assert len(trend.findall("{http://www.w3.org/2000/svg}rect")) == 9   # legend: all + 8
