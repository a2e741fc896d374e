"""``callqa explain``: the trainer's terminal view and the "what would have raised it" maths."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from rich.console import Console
from typer.testing import CliRunner

from callqa.cli import app
from callqa.report.explain import explain_lines, improvements, print_explain
from callqa.report.text import timeline
from callqa.result import CallResult, Finding
from callqa.scoring import load_rulebook
from callqa.scoring.rulebook import Rulebook
from callqa.transcript import Utterance, save_transcript

MINI = Path(__file__).parent / "data" / "mini_rules.yaml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def explain_text(result, rulebook=None):
    return "\n".join(text for _, _, text in explain_lines(result, rulebook))


def finding(rule_id: str, start: float, deduction: float, severity: str = "major",
            title: str = "") -> Finding:
    return Finding(rule_id=rule_id, category="forbidden_phrase", severity=severity,
                   speaker="agent", start=start, end=start + 1.0, evidence="不知道",
                   message=f"{rule_id} message", suggestion=f"{rule_id} suggestion",
                   standard=f"{rule_id} standard", deduction=deduction, title=title or rule_id)


def call(findings: list[Finding], score: float, passed: bool, vetoed=()) -> CallResult:
    utts = [Utterance("agent", 0.5, 3.0, "喂，哪位"), Utterance("customer", 3.5, 6.0, "漏水了"),
            Utterance("agent", 6.5, 9.0, "这个我不知道")]
    return CallResult("c1", "A1", 10.0, score, passed, findings, utts, vetoed=list(vetoed))


def rulebook(base=100.0, pass_mark=80.0) -> Rulebook:
    return Rulebook("t", 1, [], base=base, pass_mark=pass_mark)


@pytest.mark.parametrize("findings, score, passed, vetoed, expected", [
    # rule -> (points lost, score if followed, passes if followed)
    ([finding("FB01", 7, 5), finding("FB01", 8, 5), finding("GR01", 1, 10)], 80, True, (),
     {"FB01": (10, 90, True), "GR01": (10, 90, True)}),
    ([finding("FB01", 7, 5), finding("GR01", 1, 10), finding("SI01", 1, 10)], 75, False, (),
     {"GR01": (10, 85, True), "SI01": (10, 85, True), "FB01": (5, 80, True)}),
    ([finding("GR01", 1, 10), finding("SI01", 1, 10), finding("PL01", 1, 3)], 77, False, (),
     {"GR01": (10, 87, True), "SI01": (10, 87, True), "PL01": (3, 80, True)}),
    ([finding("GR01", 1, 15), finding("SI01", 1, 10)], 75, False, (),
     {"GR01": (15, 90, True), "SI01": (10, 85, True)}),
    # a veto fails the call whatever the score; following another rule does not help
    ([finding("FB09", 7, 50, "critical"), finding("GR01", 1, 10)], 40, False, ("FB09",),
     {"FB09": (50, 90, True), "GR01": (10, 50, False)}),
    # the score is floored at 0: following one rule gives back only what is above the floor
    ([finding("FB09", 7, 100, "critical"), finding("GR01", 1, 10)], 0, False, ("FB09",),
     {"FB09": (100, 90, True), "GR01": (10, 0, False)}),
])
def test_points_lost_and_score_if_followed(findings, score, passed, vetoed, expected):
    imp = improvements(call(findings, score, passed, vetoed), rulebook())
    got = {i.rule_id: (i.points_lost, i.score_if_followed, i.passes_if_followed)
           for i in imp.rules}
    assert got == expected
    assert (imp.base, imp.pass_mark) == (100.0, 80.0)
    assert imp.rules[0].veto == bool(vetoed)  # a veto is listed first, then by points lost


def test_without_rulebook_the_pass_mark_is_unknown_not_guessed():
    imp = improvements(call([finding("GR01", 1, 10)], 90, True))
    assert imp.pass_mark is None and not imp.rules[0].passes_if_followed
    assert "及格线" not in explain_text(call([finding("GR01", 1, 10)], 90, True))


def test_explain_is_the_timeline_plus_what_would_raise_the_score():
    r = call([finding("GR01", 0.5, 10), finding("FB01", 6.5, 5)], 85, True)
    text = explain_text(r, rulebook())
    assert text.startswith(timeline(r) + "\n")
    tail = text[len(timeline(r)):].strip().splitlines()
    assert tail == [
        "得分 85 / 100，及格线 80：通过",
        "如何提高得分（遵守该条规则后的得分）:",
        "  GR01 GR01: 扣 10 分 → 95",
        "  FB01 FB01: 扣 5 分 → 90",
        "  全部遵守 → 100",
    ]


def test_failing_call_says_how_far_from_the_pass_mark_and_which_rule_flips_it():
    r = call([finding("GR01", 0.5, 15), finding("SI01", 0.5, 10, title="自报家门")], 75, False)
    lines = explain_text(r, rulebook()).splitlines()
    assert "距及格线还差 5 分。" in lines
    assert "  SI01 自报家门: 扣 10 分 → 85，即可通过" in lines


def test_recommended_phrasings_follow_each_finding_with_the_rulebook():
    rb = load_rulebook(MINI)
    gr01 = rb.get("GR01")
    f = Finding("GR01", "greeting", "major", "agent", 0.5, 3.0, "喂，哪位", "开场未问候",
                "对不起", gr01.standard, 10.0, gr01.title)
    lines = explain_lines(call([f], 90, True), rb)
    kinds = [k for k, _, _ in lines]
    at = kinds.index("standard")
    assert kinds[at - 2:at + 2] == ["finding", "suggestion", "standard", "examples"]
    assert lines[at + 1][2] == "      标准话术: " + " / ".join(gr01.examples_good)
    assert lines[at - 2][1] == "major"


def test_plain_text_off_a_terminal_and_colour_on_one():
    r = call([finding("GR01", 0.5, 10, "critical")], 90, True)
    plain = io.StringIO()
    print_explain(r, rulebook(), Console(file=plain, force_terminal=False))
    assert not ANSI.search(plain.getvalue())
    assert plain.getvalue() == explain_text(r, rulebook()) + "\n"
    tty = io.StringIO()
    print_explain(r, rulebook(), Console(file=tty, force_terminal=True, width=200,
                                         color_system="standard"))
    assert ANSI.search(tty.getvalue())
    assert ANSI.sub("", tty.getvalue()) == plain.getvalue()


# --------------------------------------------------------------------------- CLI

runner = CliRunner()


@pytest.fixture()
def transcript_file(tmp_path):
    from test_review import demo_transcript

    path = tmp_path / "demo_call.json"
    save_transcript(demo_transcript(), path)
    return path


def test_cli_explain_transcript(transcript_file):
    res = runner.invoke(app, ["explain", "--transcript", str(transcript_file)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert not ANSI.search(out)
    assert out.splitlines()[0].startswith("demo_call 坐席 A007")
    assert "⚠" in out and "建议:" in out and "依据:" in out and "如何提高得分" in out
    assert "及格线 80" in out


def test_cli_explain_open_writes_and_opens_the_review_page(transcript_file, tmp_path,
                                                           monkeypatch):
    from test_review import write_tone

    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    flac = write_tone(tmp_path / "demo_call.flac", duration_s=3.0)
    res = runner.invoke(app, ["explain", str(flac), "-t", str(transcript_file), "--open"])
    assert res.exit_code == 0, res.output
    assert len(opened) == 1 and opened[0].startswith("file://")
    page = Path(unquote(urlparse(opened[0]).path))
    try:
        html = page.read_text(encoding="utf-8")
        assert "<audio" in html and "demo_call" in html
    finally:
        page.unlink()


def test_cli_explain_usage_errors(tmp_path):
    assert runner.invoke(app, ["explain"]).exit_code == 2
    assert runner.invoke(app, ["explain", str(tmp_path / "missing.flac")]).exit_code == 2
    res = runner.invoke(app, ["explain", "-t", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "missing.json" in res.output


def test_prohibitions_recommend_no_allowed_use_of_their_words():
    """A forbidden phrase's good examples are allowed uses of its words (FB04's 师傅已经下班了，
    我明天一早帮您安排 contains 下班了): they are no 标准话术 to recommend; a greeting's are."""
    book = load_rulebook()
    fb04, gr01 = book.get("FB04"), book.get("GR01")
    assert any("下班了" in e for e in fb04.examples_good) and gr01.examples_good
    result = call([finding("FB04", 7, 10, title=fb04.title), finding("GR01", 0.5, 10)], 80, True)
    lines = explain_lines(result, book)
    shown = [t for kind, _, t in lines if kind == "examples"]
    assert len(shown) == 1 and all(e in shown[0] for e in gr01.examples_good
                                   if e != gr01.suggestion)
    assert not any("下班了" in t for t in shown)
    assert "FB04" not in book.info()["examples"] and "GR01" in book.info()["examples"]
