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
