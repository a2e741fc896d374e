"""Telephone conditions on the real-speech test call of conftest, through the real model:
G.711 μ-law, GSM 06.10 (sox), line noise at 20 dB SNR and one side 12 dB quieter. Each must
keep the clean call's turns (each party heard where it speaks and nowhere else) and its words
(per-party CER bound with margin: whisper-base's exact words differ between CPUs)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_checks import assert_parties_heard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from degrade import CONDITIONS  # noqa: E402

pytestmark = pytest.mark.slow

CER_MAX = 0.25  # the clean test call measures ~0.1 per party


@pytest.mark.parametrize("condition", ["ulaw", "gsm", "white_20db", "customer_-12db"])
def test_condition_keeps_turns_and_words(condition, test_call, tmp_path, asr_options):
    if condition in ("ulaw", "gsm") and shutil.which("sox") is None:
        pytest.fail("sox is needed for the codec conditions (.ci/system-packages installs it)")
    from callqa.asr.pipeline import transcribe_call

    x, sr = sf.read(test_call.path, dtype="float64", always_2d=True)
    y = CONDITIONS[condition][0](x, np.random.default_rng(5))
    path = tmp_path / f"{condition}.wav"
    sf.write(path, (y * min(1.0, 0.99 / np.abs(y).max())).astype(np.float32), sr,
             subtype="PCM_16")
    assert_parties_heard(transcribe_call(path, asr_options), test_call, CER_MAX)


def _phantom_s(parties, truth: dict) -> float:
    """Seconds of detected speech outside the party's own truth turns (both tracks)."""
    step = 0.01
    n = int(truth["duration"] / step) + 1
    total = 0.0
    for party in parties.parties:
        own = np.zeros(n, bool)
        got = np.zeros(n, bool)
        for t in truth["turns"]:
            if t["speaker"] == party.speaker:
                own[int(t["start"] / step):int(t["end"] / step)] = True
        for iv in party.speech:
            got[int(iv.start / step):int(iv.end / step)] = True
        total += (got & ~own).sum() * step
    return total


@pytest.mark.parametrize("call_id", ["call_01_repair_leak", "call_09_elevator_interruption"])
def test_background_voices_are_not_speech(call_id, tmp_path):
    """Real voices talking 30 dB under each party fill every pause for Silero; the quiet-run
    cut keeps the detected speech where the party speaks (no ASR: speech intervals only)."""
    import json

    from callqa.asr.audio import load_audio
    from callqa.asr.parties import speech_per_party
    from callqa.asr.vad import PHONE_VAD

    root = Path(__file__).resolve().parents[1] / "samples"
    truth = json.loads((root / f"{call_id}.truth.json").read_text(encoding="utf-8"))
    x, sr = sf.read(root / truth["audio"], dtype="float64", always_2d=True)
    clean = speech_per_party(load_audio(root / truth["audio"]), PHONE_VAD)
    y = CONDITIONS["babble_30db"][0](x, np.random.default_rng(7))
    path = tmp_path / "babble.wav"
    sf.write(path, (y * min(1.0, 0.99 / np.abs(y).max())).astype(np.float32), sr,
             subtype="PCM_16")
    audio = load_audio(path)
    base = _phantom_s(clean, truth)
    assert _phantom_s(speech_per_party(audio, PHONE_VAD, quiet_below_db=0), truth) > base + 5
    assert _phantom_s(speech_per_party(audio, PHONE_VAD), truth) < base + 2
