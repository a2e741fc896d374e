"""A call recorded as two files, one per leg (Asterisk MixMonitor r()/t(), FreeSWITCH): a
stereo sample split into an agent file and a customer file must be heard as the stereo call is,
through ``load_legs``, ``callqa score --customer-file`` and a batch manifest's
``customer_path`` — offset honoured, mismatched rates resampled, bad files named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from callqa.asr.audio import SAMPLE_RATE, load_audio, load_legs, resample_channel
from callqa.batch.discover import BatchInputError, discover, read_manifest
from callqa.cli import app
from callqa.errors import AudioError

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CALL = SAMPLES / "call_06_rude_pickup.flac"  # customer starts speaking at 2.6 s
CUT_S = 2.0
runner = CliRunner()


@pytest.fixture(scope="module")
def legs(tmp_path_factory) -> dict[str, Path]:
    """The sample's left (agent) channel at its 8 kHz; the right (customer) channel three ways:
    8 kHz, resampled to 16 kHz (float WAV), and with its first ``CUT_S`` seconds cut off (the
    customer's PBX started recording later)."""
    d = tmp_path_factory.mktemp("legs")
    data, rate = sf.read(CALL, dtype="float32", always_2d=True)
    paths = {"agent": d / "A003-in.wav", "customer": d / "A003-out.wav",
             "customer16k": d / "out16k.wav", "customer_late": d / "out-late.flac",
             "stereo_leg": d / "stereo.wav"}
    sf.write(paths["agent"], data[:, 0], rate, subtype="PCM_16")
    sf.write(paths["customer"], data[:, 1], rate, subtype="PCM_16")
    sf.write(paths["customer16k"], resample_channel(data[:, 1], rate), SAMPLE_RATE,
             subtype="FLOAT")
    sf.write(paths["customer_late"], data[int(CUT_S * rate):, 1], rate, format="FLAC")
    sf.write(paths["stereo_leg"], data, rate, subtype="PCM_16")
    return paths


def test_legs_rebuild_the_stereo_timeline(legs):
    stereo = load_audio(CALL)
    same = load_legs(legs["agent"], legs["customer"])
    assert len(same.channels) == 2 and same.source_sample_rate == 8000
    for a, b in zip(same.channels, stereo.channels):
        assert len(a) == len(b)
        assert np.max(np.abs(a - b)) < 1e-3  # 16-bit legs of the same samples
    # another rate: resampled to the same 16 kHz timeline
    mixed = load_legs(legs["agent"], legs["customer16k"])
    assert np.max(np.abs(mixed.channels[1] - stereo.channels[1])) < 1e-3
    # the customer's file starts CUT_S later: the offset puts it back in place
    late = load_legs(legs["agent"], legs["customer_late"], offset_s=CUT_S)
    shift = int(CUT_S * SAMPLE_RATE)
    assert not np.any(late.channels[1][:shift])
    assert np.max(np.abs(late.channels[1][shift:] - stereo.channels[1][shift:])) < 2e-3
    # a negative offset: the agent's file is the later one
    early = load_legs(legs["customer_late"], legs["agent"], offset_s=-CUT_S)
    assert np.max(np.abs(early.channels[0][shift:] - stereo.channels[1][shift:])) < 2e-3
    # the hash (the cache key) covers both files and the offset
    assert len({same.sha256, mixed.sha256, late.sha256, stereo.sha256,
                load_legs(legs["agent"], legs["customer_late"], offset_s=1.0).sha256}) == 5


def test_bad_legs_are_named(legs, tmp_path):
    with pytest.raises(AudioError, match="missing.wav"):
        load_legs(legs["agent"], tmp_path / "missing.wav")
    with pytest.raises(AudioError, match=r"stereo\.wav.*must be mono"):
        load_legs(legs["agent"], legs["stereo_leg"])
    # one party written on two channels (a browser's recording) is that party's leg
    data, rate = sf.read(legs["customer"], dtype="float32")
    twice = tmp_path / "twice.wav"
    sf.write(twice, np.stack([data, data], axis=1), rate, subtype="PCM_16")
    got = load_legs(legs["agent"], twice)
    assert np.max(np.abs(got.channels[1] - load_legs(legs["agent"], legs["customer"])
                         .channels[1])) < 1e-6
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(8000, np.float32), 8000)
    with pytest.raises(AudioError, match="silent.wav"):
        load_legs(silent, legs["customer"])
    with pytest.raises(AudioError, match="not a number"):
        load_legs(legs["agent"], legs["customer"], offset_s=float("nan"))


def _rules(result: dict) -> set[str]:
    return {f["rule_id"] for f in result["findings"]}


@pytest.mark.slow
def test_score_two_files_gives_the_stereo_verdicts(legs, env):
    res = runner.invoke(app, ["score", str(CALL), "-f", "json", *env])
    assert res.exit_code == 0, res.output
    stereo = json.loads(res.stdout)
    assert {"GR01", "GR02"} <= _rules(stereo)  # the sample's rude pick-up, heard
    for customer, offset in (("customer", "0"), ("customer16k", "0"),
                             ("customer_late", str(CUT_S))):
        res = runner.invoke(app, ["score", str(legs["agent"]), "--customer-file",
                                  str(legs[customer]), "--offset-s", offset, "-f", "json", *env])
        assert res.exit_code == 0, res.output
        two = json.loads(res.stdout)
        assert two["call_id"] == "A003-in"
        assert _rules(two) == _rules(stereo), customer
        assert two["passed"] == stereo["passed"]
        assert abs(two["score"] - stereo["score"]) <= 5, customer
        assert two["asr"]["legs"]["customer"] == str(legs[customer])
        first = [u for u in two["utterances"] if u["speaker"] == "customer"][0]
        assert abs(first["start"] - 2.6) < 0.5  # the customer's first words where they were


def test_score_two_files_usage_errors(legs, env, tmp_path):
    res = runner.invoke(app, ["score", str(legs["agent"]), "--customer-file",
                              str(tmp_path / "nope.wav"), *env])
    assert res.exit_code == 2 and "nope.wav" in res.output
    res = runner.invoke(app, ["score", str(legs["agent"]), "--offset-s", "2", *env])
    assert res.exit_code == 2 and "--customer-file" in res.output
    res = runner.invoke(app, ["score", str(legs["agent"]), "--customer-file",
                              str(legs["stereo_leg"]), *env])
    assert res.exit_code == 1 and "stereo.wav" in res.output and "mono" in res.output


def test_manifest_customer_columns(legs, tmp_path):
    rec = legs["agent"].parent
    manifest = tmp_path / "calls.csv"
    manifest.write_text("path,agent_id,customer_path,customer_offset_s\n"
                        f"A003-in.wav,A003,out-late.flac,{CUT_S}\n", encoding="utf-8")
    calls = {c.call_id: c for c in discover(rec, manifest)}
    call = calls["A003-in"]
    assert call.customer_path == str(rec / "out-late.flac") and call.offset_s == CUT_S
    assert "out-late" not in calls  # a customer leg is not a call of its own
    assert "A003-out" in calls  # other files still are
    for body, message in (("A003-in.wav,A003,out-late.flac,soon\n", "customer_offset_s"),
                          ("A003-in.wav,A003,,2\n", "without a customer_path")):
        manifest.write_text("path,agent_id,customer_path,customer_offset_s\n" + body,
                            encoding="utf-8")
        with pytest.raises(BatchInputError, match=rf"calls\.csv.*2.*{message}"):
            read_manifest(manifest)


@pytest.mark.slow
def test_batch_scores_a_two_file_call(legs, tmp_path, env):
    rec = tmp_path / "rec"
    rec.mkdir()
    for name in ("agent", "customer_late"):
        (rec / legs[name].name).write_bytes(legs[name].read_bytes())
    manifest = tmp_path / "calls.csv"
    manifest.write_text("path,call_id,customer_path,customer_offset_s\n"
                        f"A003-in.wav,rude,out-late.flac,{CUT_S}\n"
                        "missing-in.wav,gone,missing-out.wav,0\n", encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["batch", str(rec), "--out", str(out), "--manifest", str(manifest),
                              "--workers", "1", "--no-progress", *env])
    assert res.exit_code == 1, res.output  # the missing legs fail, the call is scored
    import sqlite3

    conn = sqlite3.connect(out / "callqa.db")
    conn.row_factory = sqlite3.Row
    db = {r["call_id"]: dict(r) for r in conn.execute("SELECT * FROM calls")}
    conn.close()
    assert set(db) == {"rude", "gone"}
    assert db["gone"]["status"] == "failed" and "missing-in.wav" in db["gone"]["error"]
    assert db["rude"]["status"] == "scored"
    result = json.loads((out / db["rude"]["result_path"]).read_text("utf-8"))
    assert {"GR01", "GR02"} <= _rules(result) and not result["passed"]
