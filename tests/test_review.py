"""The review page as HTML (no browser): audio embedding and linking, escaping, no network
assets, where each finding is placed, and the ``callqa review`` command.

``demo_call()`` is the hand-written sample call the browser tests (test_review_browser.py) use
too: a badly handled call scored with the default rulebook, with findings inside utterances,
one in a silence and ones spanning the call, and a customer utterance that is an HTML injection.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from callqa.cli import app
from callqa.errors import AudioError
from callqa.report.review import audio_data_uri, audio_link, render_review, review_html
from callqa.result import CallResult, Finding
from callqa.scoring import Scorer, load_rulebook
from callqa.transcript import Transcript, Utterance, save_transcript

XSS = "<img src=x onerror=alert(1)>"
DURATION_S = 40.0
TURNS = [
    ("agent", 0.6, 2.4, "喂，哪位？"),
    ("customer", 2.9, 7.5, f"我家厨房水管漏水了，{XSS} 楼下都湿了"),
    ("agent", 8.0, 10.2, "这个我不知道。你等会儿"),
    # 12 s of dead air here
    ("customer", 22.5, 25.0, "喂？还在吗？"),
    ("agent", 25.6, 29.0, "师傅今天上门办不了，明天吧"),
    ("customer", 29.5, 31.0, "那好吧 & 谢谢"),
    ("agent", 31.5, 33.0, "嗯"),
]


def demo_transcript() -> Transcript:
    return Transcript("demo_call", "A007", DURATION_S,
                      [Utterance(s, a, b, t) for s, a, b, t in TURNS])


def demo_call() -> CallResult:
    return Scorer(load_rulebook()).score(demo_transcript())


def write_tone(path: Path, duration_s: float = DURATION_S, rate: int = 8000) -> Path:
    """A stereo 8 kHz recording like the telephone samples (agent left, customer right)."""
    t = np.arange(int(duration_s * rate)) / rate
    stereo = np.stack([0.2 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)], 1)
    sf.write(str(path), stereo, rate, format="FLAC")
    return path


@pytest.fixture(scope="module")
def result() -> CallResult:
    r = demo_call()
    assert len(r.findings) >= 3, "the demo call must produce findings to review"
    return r


def _finding_ids(html: str, where: str) -> list[str]:
    return re.findall(rf'class="{where}[^"]*"[^>]*?data-finding="(f\d+)"', html)


def test_embedded_audio_is_wav_of_the_recording(tmp_path):
    flac = write_tone(tmp_path / "c.flac", duration_s=2.0)
    uri = audio_data_uri(flac)
    assert uri.startswith("data:audio/wav;base64,")
    data, rate = sf.read(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), dtype="int16")
    src, src_rate = sf.read(str(flac), dtype="int16")
    assert rate == src_rate == 8000 and data.shape == src.shape == (16000, 2)
    assert np.array_equal(data, src)


def test_undecodable_audio_is_embedded_as_is_with_its_type(tmp_path):
    mp3 = tmp_path / "c.mp3"
    mp3.write_bytes(b"ID3 not really an mp3")
    assert audio_data_uri(mp3) == "data:audio/mpeg;base64," + base64.b64encode(
        mp3.read_bytes()).decode()


def test_link_is_relative_to_the_page_and_url_encoded(tmp_path):
    audio = tmp_path / "rec" / "通话 1.flac"
    assert audio_link(audio, tmp_path / "out" / "review" / "p.html") == \
        "../../rec/%E9%80%9A%E8%AF%9D%201.flac"
    assert audio_link(audio, tmp_path / "rec" / "p.html") == "%E9%80%9A%E8%AF%9D%201.flac"


def test_render_review_writes_a_self_contained_page(tmp_path, result):
    flac = write_tone(tmp_path / "demo_call.flac")
    out = render_review(result, flac, tmp_path / "review" / "demo_call.html")
    assert out == tmp_path / "review" / "demo_call.html"
    html = out.read_text(encoding="utf-8")
    assert re.search(r'<audio id="audio" controls preload="auto" src="data:audio/wav;base64,', html)
    # No network assets: nothing is fetched from anywhere but the page itself.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    assert "<script src" not in html and 'rel="stylesheet"' not in html
    assert html.count('class="finding ') == len(result.findings)


def test_transcript_text_is_escaped(result):
    html = review_html(result, None)
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "那好吧 &amp; 谢谢" in html


def test_every_finding_is_in_the_panel_and_once_in_the_timeline(result):
    html = review_html(result, None)
    panel = re.findall(r'<li class="finding [^"]*" id="(f\d+)"', html)
    assert panel == [f"f{n}" for n in range(len(result.findings))]
    in_timeline = _finding_ids(html, "badge") + _finding_ids(html, "gap")
    assert sorted(in_timeline) == sorted(panel)


def test_findings_sit_on_their_utterance_or_in_place_between_utterances():
    utts = [Utterance("agent", 0.0, 2.0, "您好，这里是光明物业"),
            Utterance("customer", 2.5, 4.0, "我家漏水"),
            Utterance("agent", 16.0, 18.0, "这个我不知道")]
    common = dict(category="forbidden_phrase", severity="major", message="m", suggestion="s",
                  standard="std", deduction=5.0)
    inside = Finding("FB01", speaker="agent", start=16.4, end=17.0, evidence="不知道", **common)
    silence = Finding("DA01", speaker="agent", start=4.0, end=16.0, evidence="", **common)
    r = CallResult("c", None, 18.0, 90.0, True, [silence, inside], utts)
    html = review_html(r, None)
    order = re.findall(r'<li class="(utt agent|utt customer|gap)[^"]*" id="(\w+)"', html)
    assert [k for k, _ in order] == ["utt agent", "utt customer", "gap", "utt agent"]
    flagged = re.search(r'<li class="utt agent flagged sev-major" id="u2".*?</li>', html, re.S)
    assert flagged and 'data-finding="f1"' in flagged.group(0)
    assert "这个我<mark>不知道</mark>" in flagged.group(0)   # the evidence is marked in the text


def test_page_without_audio_has_no_player(result):
    html = review_html(result, None)
    assert "<audio" not in html and "无录音" in html


def test_missing_recording_and_bad_mode_are_errors(tmp_path, result):
    with pytest.raises(AudioError):
        render_review(result, tmp_path / "nope.flac", tmp_path / "p.html")
    with pytest.raises(ValueError):
        render_review(result, None, tmp_path / "p.html", audio_mode="stream")  # type: ignore


def test_score_and_improvements_are_on_the_page(result):
    html = review_html(result, None, load_rulebook())
    assert f"<b>{result.score:g}</b>" in html and "及格线 80" in html
    assert html.count('<tr><td><span class="rid">') == len({f.rule_id for f in result.findings})


# --------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_review_embed_and_link(tmp_path):
    save_transcript(demo_transcript(), tmp_path / "t.json")
    flac = write_tone(tmp_path / "demo_call.flac")
    res = runner.invoke(app, ["review", str(flac), "-t", str(tmp_path / "t.json"),
                              "-o", str(tmp_path / "page.html")])
    assert res.exit_code == 0, res.output
    assert "data:audio/wav;base64," in (tmp_path / "page.html").read_text(encoding="utf-8")
    res = runner.invoke(app, ["review", str(flac), "-t", str(tmp_path / "t.json"),
                              "-o", str(tmp_path / "out" / "page.html"), "--audio", "link"])
    assert res.exit_code == 0, res.output
    assert 'src="../demo_call.flac"' in (tmp_path / "out" / "page.html").read_text("utf-8")


def test_cli_review_usage_errors(tmp_path):
    save_transcript(demo_transcript(), tmp_path / "t.json")
    # --audio link without a recording
    res = runner.invoke(app, ["review", "-t", str(tmp_path / "t.json"), "-o",
                              str(tmp_path / "p.html"), "--audio", "link"])
    assert res.exit_code == 2
    # neither a recording nor a transcript
    assert runner.invoke(app, ["review", "-o", str(tmp_path / "p.html")]).exit_code == 2
    # a transcript that is not JSON
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    res = runner.invoke(app, ["review", "-t", str(tmp_path / "bad.json"), "-o",
                              str(tmp_path / "p.html")])
    assert res.exit_code == 2 and "bad.json" in res.output
    assert not (tmp_path / "p.html").exists()


def test_cli_review_transcript_only(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps(demo_transcript().to_dict(), ensure_ascii=False),
                                     encoding="utf-8")
    res = runner.invoke(app, ["review", "-t", str(tmp_path / "t.json"), "-o",
                              str(tmp_path / "p.html")])
    assert res.exit_code == 0, res.output
    assert "<audio" not in (tmp_path / "p.html").read_text(encoding="utf-8")


def test_review_cli_on_an_unscored_call_says_why(tmp_path):
    """A misdial has no score: the page and the CLI's summary line say 未评分 and why."""
    misdial = Transcript("misdial", "A1", 0.5, [Utterance("customer", 0.1, 0.4, "喂")])
    save_transcript(misdial, tmp_path / "misdial.json")
    out = tmp_path / "misdial.html"
    res = CliRunner().invoke(app, ["review", "--transcript", str(tmp_path / "misdial.json"),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "未评分" in res.output and "通话过短" in res.output
    assert "未评分" in out.read_text(encoding="utf-8")
