"""The transcript model's JSON form, and `callqa score --transcript` on it (no audio)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from callqa.cli import app
from callqa.errors import TranscriptError
from callqa.text import count_chars, normalize_display, normalize_match, to_simplified
from callqa.transcript import Interval, Transcript, Utterance, Word, load_transcript, save_transcript

runner = CliRunner()


def sample() -> Transcript:
    return Transcript(
        "c1", "A007", 20.0,
        [Utterance("customer", 3.0, 5.0, "我家水管坏了"),
         Utterance("agent", 0.5, 2.5, "喂，哪位", (Word("喂", 0.5, 0.8, 0.9),)),
         Utterance("agent", 6.0, 8.0, "这个我不知道")],
        speech={"agent": [Interval(0.5, 2.5), Interval(6.0, 8.0)],
                "customer": [Interval(3.0, 5.0)]},
        asr={"model": "test"}, dropped=[{"text": "字幕", "reason": "phantom"}])


def test_round_trip_and_ordering(tmp_path):
    t = sample()
    assert [u.start for u in t.utterances] == [0.5, 3.0, 6.0]
    path = tmp_path / "t.json"
    save_transcript(t, path)
    again = load_transcript(path)
    assert again.to_dict() == t.to_dict()
    assert again.utterances[0].words[0] == Word("喂", 0.5, 0.8, 0.9)


def test_speech_defaults_to_utterance_spans():
    t = Transcript("c", None, 10, [Utterance("agent", 0, 2, "a"), Utterance("agent", 2, 3, "b")])
    assert t.speech["agent"] == [Interval(0, 3)] and t.speech["customer"] == []


@pytest.mark.parametrize("content,message", [
    ("{not json", "t.json: line 1: invalid JSON"),
    ("[]", "t.json: a transcript must be a JSON object"),
    ('{"utterances": [{"speaker": "boss", "start": 0, "end": 1}]}', "unknown speaker 'boss'"),
    ('{"utterances": [{"speaker": "agent", "start": 2, "end": 1}]}', "ends before it starts"),
    ('{"schema_version": 9, "utterances": []}', "unsupported schema_version 9"),
    ('{"utterances": [{"speaker": "agent"}]}', "malformed transcript"),
])
def test_bad_transcripts_name_the_file(tmp_path, content, message):
    path = tmp_path / "t.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TranscriptError) as info:
        load_transcript(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_text_normalisation_steps():
    assert to_simplified("這裡是光明物業") == "这里是光明物业"
    assert normalize_display("您好，ＡＢＣ  １２３！") == "您好,ABC 123!"
    assert normalize_match("您好，這裡 是！") == "您好这里是"
    assert count_chars("您好ABC 123，好") == 5


def test_score_transcript_cli_json_and_text(tmp_path):
    path = tmp_path / "call.json"
    save_transcript(sample(), path)
    res = runner.invoke(app, ["score", "--transcript", str(path), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    rules = {f["rule_id"] for f in data["findings"]}
    assert {"GR01", "FB01", "CL01"} <= rules        # no 您好, 不知道, no goodbye
    assert data["agent_id"] == "A007" and data["score"] < 100 and data["passed"] is False
    assert data["rulebook"]["sha256"]
    res = runner.invoke(app, ["score", "--transcript", str(path)])
    assert res.exit_code == 0
    assert "这个我不知道" in res.output and "建议" in res.output and "依据" in res.output


def test_score_cli_errors_exit_2_naming_file(tmp_path):
    missing = tmp_path / "nope.json"
    res = runner.invoke(app, ["score", "--transcript", str(missing)])
    assert res.exit_code == 2 and "nope.json: cannot read" in res.output
    bad_rules = tmp_path / "r.yaml"
    bad_rules.write_text("rules: [1, 2", encoding="utf-8")
    path = tmp_path / "call.json"
    save_transcript(sample(), path)
    res = runner.invoke(app, ["score", "--transcript", str(path), "--rules", str(bad_rules)])
    assert res.exit_code == 2 and "r.yaml:" in res.output
    res = runner.invoke(app, ["score"])
    assert res.exit_code == 2


def test_cer():
    from callqa.text import cer, char_edits

    assert char_edits("物业中心", "物夜中西") == 2
    assert cer("您好，這裡是物業", "你好这里是物业") == pytest.approx(1 / 7)
    assert cer("", "") == 0.0


def test_speech_intervals_hold_plain_floats():
    """VAD and the front end compute in numpy; a numpy scalar in an interval would make every
    comparison on it a numpy bool, which `callqa score --format json` cannot write."""
    import json

    import numpy as np

    from callqa.transcript import Interval

    iv = Interval(np.float64(1.5), np.float32(2.25))
    assert type(iv.start) is float and type(iv.end) is float
    assert json.dumps({"long": iv.duration > 0.5}) == '{"long": true}'
