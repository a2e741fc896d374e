"""Line echo between the tracks (callqa/asr/echo.py), on the real-speech test call of conftest.

The echo is made the way a telephone line makes it: each track also carries the other one,
attenuated and late (bench/degrade.py's ``add_echo``). Fast tests check the estimate and the
speech intervals (VAD only); the slow one runs the whole pipeline and checks turns and words.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callqa.asr.audio import load_audio
from callqa.asr.echo import estimate_echo, suppress_echo
from callqa.asr.vad import speech_intervals
from asr_checks import assert_parties_heard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from degrade import add_echo  # noqa: E402

ECHOES = [(-15.0, 0.12), (-20.0, 0.06), (-30.0, 0.01)]


def _with_echo(call, tmp_path: Path, gain_db: float, delay_s: float) -> Path:
    x, sr = sf.read(call.path, dtype="float64", always_2d=True)
    y = add_echo(gain_db, delay_s)(x, np.random.default_rng(0))
    path = tmp_path / f"echo_{-gain_db:g}db_{delay_s * 1000:g}ms.wav"
    sf.write(path, y.astype(np.float32), sr, subtype="PCM_16")
    return path


def _covered(intervals, t0: float, t1: float) -> float:
    return sum(max(0.0, min(iv.end, t1) - max(iv.start, t0)) for iv in intervals)


@pytest.mark.parametrize("gain_db,delay_s", ECHOES)
def test_echo_path_is_estimated_both_ways(test_call, tmp_path, gain_db, delay_s):
    audio = load_audio(_with_echo(test_call, tmp_path, gain_db, delay_s))
    left, right = audio.channels
    for target, source in ((left, right), (right, left)):
        path = estimate_echo(target, source)
        assert path is not None
        assert path.delay_s == pytest.approx(delay_s, abs=0.002)
        assert path.gain_db == pytest.approx(gain_db, abs=2.0)


def test_one_cross_spectrum_serves_both_directions(test_call, tmp_path):
    """suppress_echo computes the cross-spectrum once and reads the other direction from its
    conjugate: the paths are those each direction's own estimate finds (the same delay and
    gain; the peak's z to rounding, as numpy multiplies complex numbers with fused
    multiply-adds)."""
    left, right = load_audio(test_call.path).channels
    late = lambda x, s: np.concatenate([np.zeros(int(s * 16000), x.dtype), x[: len(x) - int(s * 16000)]])
    # a different delay each way, so that reading one direction as the other would show
    channels = (left + 0.1 * late(right, 0.03), right + 0.1 * late(left, 0.09))
    _, paths, _ = suppress_echo(channels)
    assert [p.delay_s for p in paths] == pytest.approx([0.03, 0.09], abs=0.001)
    alone = [estimate_echo(channels[t], channels[s], source_index=s, target_index=t)
             for t, s in ((0, 1), (1, 0))]
    assert len(paths) == 2 and all(a is not None for a in alone)
    for shared, own in zip(paths, alone):
        assert (shared.source, shared.target, shared.delay_s, shared.gain_db) == \
            (own.source, own.target, own.delay_s, own.gain_db)
        assert shared.peak_z == pytest.approx(own.peak_z, rel=1e-9)


def test_independent_tracks_have_no_echo(test_call):
    channels = load_audio(test_call.path).channels
    cleaned, paths, _ = suppress_echo(channels)
    assert paths == []
    assert all(a is b for a, b in zip(cleaned, channels))


@pytest.mark.parametrize("gain_db,delay_s", ECHOES)
def test_echo_is_not_speech(test_call, tmp_path, gain_db, delay_s):
    """The VAD hears the echo of the other party's turns before suppression (so the test can
    fail), and after it hears only each party's own turns, own speech as on the clean call.
    Silero alone (no quiet-run cut, which also trims faint echo): the echo step is what is
    tested."""
    clean = load_audio(test_call.path).channels
    raw = load_audio(_with_echo(test_call, tmp_path, gain_db, delay_s)).channels
    cleaned, _, _ = suppress_echo(raw)
    for ch, party in enumerate(("agent", "customer")):
        own = [t for t in test_call.turns if t.speaker == party]
        other = [t for t in test_call.turns if t.speaker != party]
        before, after = speech_intervals(raw[ch], quiet_below_db=0), speech_intervals(
            cleaned[ch], quiet_below_db=0)
        # the other party's turns, minus the stretch where this party really talks over them
        phantom = lambda ivs: sum(_covered(ivs, t.start, t.end) for t in other) - sum(
            _covered(ivs, max(t.start, o.start), min(t.end, o.end))
            for t in other for o in own if min(t.end, o.end) > max(t.start, o.start))
        if gain_db >= -20:
            assert phantom(before) > 2.0, (party, before)
        assert phantom(after) < 0.5, (party, after)
        reference = speech_intervals(clean[ch], quiet_below_db=0)
        for t in own:  # own speech as the VAD finds it on the clean call, within 0.3 s
            assert _covered(after, t.start, t.end) > _covered(reference, t.start, t.end) - 0.3, \
                (party, t, after, reference)


@pytest.mark.slow
def test_echo_leaves_turns_and_words_as_clean(test_call, tmp_path, asr_options):
    """Through the whole pipeline, an echoed call is heard as the clean one: each party where
    it speaks and nowhere else (no customer words in agent turns), words within the clean
    bound, and only the one real overlap (not one per turn)."""
    from callqa.asr.pipeline import transcribe_call

    t = transcribe_call(_with_echo(test_call, tmp_path, -15.0, 0.12), asr_options)
    assert_parties_heard(t, test_call)
    overlap = sum(max(0.0, min(a.end, c.end) - max(a.start, c.start))
                  for a in t.speech["agent"] for c in t.speech["customer"])
    agent_long, customer_late = test_call.turns[2], test_call.turns[3]
    assert overlap == pytest.approx(agent_long.end - customer_late.start, abs=0.6)
    assert {e["target"] for e in t.asr["front_end"]["echo"]} == {0, 1}
