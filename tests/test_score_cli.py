"""`callqa score CALL` on real recordings through the embedded model: JSON and text output,
agent channel, and exit codes that mean something to cron."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from callqa.cli import app

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
runner = CliRunner()


@pytest.mark.slow
def test_score_recording_json_finds_refusal_without_apology(env):
    call = SAMPLES / "call_12_aircon_refusal.flac"
    truth = json.loads(call.with_suffix("").with_suffix(".truth.json").read_text("utf-8"))
    res = runner.invoke(app, ["score", str(call), "--format", "json", "--agent", "A002", *env])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["agent_id"] == "A002" and data["call_id"] == "call_12_aircon_refusal"
    rf = [f for f in data["findings"] if f["rule_id"] == "RF01"]
    want = truth["violations"][0]
    assert len(rf) == 1 and abs(rf[0]["start"] - want["start"]) < 1.0
    assert {u["speaker"] for u in data["utterances"]} == {"agent", "customer"}
    assert data["asr"]["audio_sha256"]

    # the same call read with the channels swapped: the agent's refusal is now the customer's
    res = runner.invoke(app, ["score", str(call), "-f", "json", "--agent-channel", "right", *env])
    assert res.exit_code == 0
    swapped = json.loads(res.stdout)
    assert not [f for f in swapped["findings"] if f["rule_id"] == "RF01"]


@pytest.mark.slow
def test_score_recording_text_timeline(env):
    call = SAMPLES / "call_06_rude_pickup.flac"
    res = runner.invoke(app, ["score", str(call), *env])
    assert res.exit_code == 0, res.output
    assert "GR01" in res.stdout and "建议" in res.stdout and "不通过" in res.stdout


def test_score_exit_codes(tmp_path, env):
    garbage = tmp_path / "broken.wav"
    garbage.write_bytes(b"RIFF not really a wave file")
    res = runner.invoke(app, ["score", str(garbage), *env])
    assert res.exit_code == 1 and "broken.wav" in res.output
    three = tmp_path / "three.wav"
    sf.write(three, [[0.0, 0.0, 0.0]] * 8000, 8000)
    res = runner.invoke(app, ["score", str(three), *env])
    assert res.exit_code == 1 and "three.wav" in res.output
    res = runner.invoke(app, ["score", str(tmp_path / "missing.wav"), *env])
    assert res.exit_code == 2 and "missing.wav" in res.output
    res = runner.invoke(app, ["score", str(SAMPLES / "call_12_aircon_refusal.flac"),
                              "--transcript", "x.json"])
    assert res.exit_code == 2


@pytest.mark.slow
def test_first_use_offline_in_a_fresh_process(tmp_path):
    """A fresh user cache, HF_HUB_OFFLINE=1: the embedded model is assembled from the installed
    packages (progress on stderr) and the call is scored, with nothing fetched."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    call = SAMPLES / "call_06_rude_pickup.flac"
    proc = subprocess.run([sys.executable, "-m", "callqa", "score", str(call), "-f", "json"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "xdg" / "callqa" / "models" / "whisper-base" / "model.bin").stat().st_size \
        == 145_217_607
    data = json.loads(proc.stdout)
    assert "GR01" in {f["rule_id"] for f in data["findings"]}
