"""``callqa transcribe`` through typer's CliRunner: JSON to a file or stdout, clear errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from callqa.cli import app
from callqa.errors import CallqaError
from callqa.cli.options import AsrArgs, split_hotwords
from callqa.transcript import load_transcript
from conftest import REAL_AUDIO

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

runner = CliRunner()


@pytest.mark.slow
def test_transcribe_to_file_then_cache_then_stdout(env, test_call, tmp_path):
    out = tmp_path / "t.json"
    result = runner.invoke(app, ["transcribe", str(test_call.path), "-o", str(out),
                                 "--agent", "A9", *env])
    assert result.exit_code == 0, result.output
    t = load_transcript(out)
    assert t.agent_id == "A9" and {u.speaker for u in t.utterances} == {"agent", "customer"}
    cache_files = list((tmp_path / "xdg" / "callqa" / "transcripts").rglob("*.json"))
    assert len(cache_files) == 1
    # second run: stdout only carries JSON, served from the cache
    from callqa.asr import pipeline

    runs = pipeline.stats["transcribed"]
    result = runner.invoke(app, ["transcribe", str(test_call.path), *env])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["utterances"] == json.loads(out.read_text())["utterances"]
    assert pipeline.stats["transcribed"] == runs


@pytest.mark.slow
def test_no_cache_and_hotwords(env, tmp_path):
    x, sr = sf.read(REAL_AUDIO / "funasr_llamacpp_sample_hotline.wav", dtype="float32")
    path = tmp_path / "hotline.wav"
    sf.write(path, x, sr)
    result = runner.invoke(app, ["transcribe", str(path), "--no-cache", "--hotwords",
                                 "滨海新区", *env])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["asr"]["options"]["hotwords"] == ["滨海新区"]
    assert data["speakers"] == ["agent"]
    assert not (tmp_path / "xdg" / "callqa" / "transcripts").exists()


def test_unreadable_audio_exits_1_naming_the_file(env, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    result = runner.invoke(app, ["transcribe", str(bad), *env])
    assert result.exit_code == 1
    assert str(bad) in result.stderr


def test_three_channels_exits_1(env, tmp_path):
    path = tmp_path / "three.wav"
    sf.write(path, np.random.default_rng(0).normal(0, 0.1, (8000, 3)), 8000)
    result = runner.invoke(app, ["transcribe", str(path), *env])
    assert result.exit_code == 1
    assert "3 channels" in result.stderr


def test_bad_model_dir_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    x, sr = sf.read(REAL_AUDIO / "cosyvoice_zero_shot_prompt.wav", dtype="float32")
    path = tmp_path / "a.wav"
    sf.write(path, x, sr)
    result = runner.invoke(app, ["transcribe", str(path), "--model", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_bad_agent_channel_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["transcribe", str(tmp_path / "x.wav"), "--agent-channel", "up"])
    assert result.exit_code == 2
    for command in ("transcribe", "score", "batch"):
        for bad in (["--customer-beam", "11"], ["--decoders", "-1"]):
            result = runner.invoke(app, [command, str(tmp_path), *bad])
            assert result.exit_code == 2, (command, bad, result.output)


def test_shared_option_helpers():
    assert split_hotwords(["光明物业,滨海新区", "幸福里 光明物业"]) == ("光明物业", "滨海新区", "幸福里")
    class Book:  # a rulebook's vocabulary joins the hotwords
        vocabulary, path = ("B",), "book.yaml"

        def biased_hotwords(self, words):
            return [(w, "不知道") for w in words if "不知道" in w]

    o = AsrArgs(device="cuda", agent_channel="right", hotwords=["A"]).options(Book())
    assert o.resolved_compute_type == "float16"
    assert o.agent_channel == "right" and o.hotwords == ("A", "B") and o.backend == "whisper"
    assert o.separate_voices and not AsrArgs(mono="agent").options().separate_voices
    assert o.customer_beam_size == 0 and AsrArgs(customer_beam=1).options().customer_beam_size == 1
    assert o.decoders == 0 and AsrArgs(decoders=1).options().resolved_parallelism[0] == 1
    with pytest.raises(CallqaError, match="fake compliance"):
        AsrArgs(hotwords=["我不知道"]).options(Book())


@pytest.mark.slow
def test_mono_agent_takes_a_two_voice_recording_as_the_agent_alone(env, tmp_path):
    """--mono agent (a trainee's own recording): no attribution, every word the agent's; the
    default on the same file finds the second voice."""
    x, sr = sf.read(SAMPLES / "call_08_manager_out_rude.flac", dtype="float32")
    path = tmp_path / "mono.flac"
    sf.write(path, x.mean(axis=1), sr, subtype="PCM_16")
    forced = runner.invoke(app, ["transcribe", str(path), "--mono", "agent", *env])
    assert forced.exit_code == 0, forced.output
    t = json.loads(forced.stdout)
    assert t["roles"] == "single" and {u["speaker"] for u in t["utterances"]} == {"agent"}
    auto = runner.invoke(app, ["transcribe", str(path), *env])
    assert auto.exit_code == 0, auto.output
    assert json.loads(auto.stdout)["roles"] in ("separated", "uncertain")
