"""Speech intervals per channel (Silero VAD bundled with faster-whisper) and turns from them.

Two layers:

1. :func:`speech_intervals` — where one party is audibly speaking, from Silero VAD with settings
   tuned for 8 kHz telephone audio (:data:`PHONE_VAD`). These become ``Transcript.speech``, on
   which dead air, overlap and interruptions are measured, and they are the only audio the ASR
   ever sees.
2. :func:`group_turns` — utterances (turns): a party's consecutive speech intervals joined while
   the pause between them is shorter than ``merge_gap_s`` *and* the other party did not start
   speaking inside that pause. Utterance start/end therefore come from VAD, never from Whisper
   segment timestamps (which on real calls span several turns).

See ``docs/asr.md`` for why each value was chosen.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from functools import lru_cache
from typing import Iterable, Sequence

import faster_whisper.vad as _fw_vad
import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from callqa.transcript import Interval

__all__ = ["PHONE_VAD", "QUIET_BELOW_DB", "UTTERANCE_MERGE_GAP_S", "drop_quiet_runs",
           "speech_intervals", "speech_probabilities", "group_turns", "vad_options_dict",
           "SILERO_WINDOW"]

SAMPLE_RATE = 16000
#: Silero's window at 16 kHz (32 ms): one speech probability each
SILERO_WINDOW = 512


class _Remembering:
    """faster-whisper's Silero model, remembering its last answer. The floor reading
    (:mod:`callqa.asr.enhance`) and the VAD of a track that is not enhanced ask for the
    probabilities of the same array, so a track costs one Silero pass, not two."""

    def __init__(self, model) -> None:
        self._model = model
        self._last: tuple[object, np.ndarray | None] = (None, None)

    def __call__(self, audio: np.ndarray, *args, **kwargs) -> np.ndarray:
        key = (audio.dtype.str, audio.shape, args, tuple(sorted(kwargs.items())),
               hashlib.blake2b(np.ascontiguousarray(audio).data, digest_size=16).digest())
        last_key, probs = self._last
        if key != last_key or probs is None:
            probs = self._model(audio, *args, **kwargs)
            self._last = (key, probs)
        return probs


@lru_cache(maxsize=1)
def _silero() -> _Remembering:
    return _Remembering(_original_silero())


# get_speech_timestamps looks the model up by this module-level name at each call.
_original_silero = _fw_vad.get_vad_model
_fw_vad.get_vad_model = _silero


def speech_probabilities(samples: np.ndarray) -> np.ndarray:
    """Silero's speech probability per :data:`SILERO_WINDOW` of one 16 kHz track (the last
    window zero-padded), computed on the very array faster-whisper's VAD pads the track to —
    so a later :func:`speech_intervals` on the same samples reuses this pass."""
    padded = np.pad(samples, (0, SILERO_WINDOW - len(samples) % SILERO_WINDOW))
    n = -(-len(samples) // SILERO_WINDOW)
    return np.asarray(_fw_vad.get_vad_model()(padded)).reshape(-1)[:n]

#: Silero settings for phone calls (audio already upsampled to 16 kHz):
#: - threshold 0.5: Silero's own recommendation; 8 kHz band-limited speech still scores
#:   > 0.9 on voiced frames, line hiss and hold tones stay < 0.2 on our clips.
#: - min_speech_duration_ms 250: drops clicks, line pops and breath noises.
#: - min_silence_duration_ms 300: a pause of 0.3 s ends an interval, so intervals follow the
#:   speech closely (dead-air and overlap are measured on them); the default 2000 ms would
#:   swallow short silences and the other party's interjections.
#: - speech_pad_ms 100: Silero trims unvoiced onsets (s/sh/c/x initials); 100 ms restores them
#:   without moving a boundary by more than 0.1 s (faster-whisper's default 400 ms would).
#: - max_speech_duration_s 20: a longer monologue is split at its quietest point so every
#:   interval fits a 30 s Whisper window with room to pack others beside it.
PHONE_VAD = VadOptions(
    threshold=0.5,
    min_speech_duration_ms=250,
    min_silence_duration_ms=300,
    speech_pad_ms=100,
    max_speech_duration_s=20.0,
)

#: Background speech (a call-centre floor, a television) is speech to Silero: at 30 dB under the
#: party it fills every pause of the track. A run of at least :data:`QUIET_RUN_S` whose 20 ms
#: frames all lie this far under the track's speech level (90th percentile of the frames Silero
#: kept) is not the party speaking, and is cut out of the interval. Measured on 9 sample calls
#: (docs/benchmarks.md): babble at 30 dB SNR phantom speech 103 -> 20 s (clean 19.6 s), clean
#: intervals unchanged. Runs of 0.3 s also cut pauses inside fast speech, and Whisper, given
#: the pieces apart, heard other words (../shared/eval h05); 15 dB would also clear babble at
#: 20 dB but starts cutting soft speech.
QUIET_BELOW_DB = 20.0
QUIET_RUN_S = 0.5

#: Pauses shorter than this inside one party's speech do not start a new utterance (unless the
#: other party spoke in between). Mandarin speakers pause 0.3–1.3 s between phrases of one
#: sentence (measured on the clips in ../shared/audio/real).
UTTERANCE_MERGE_GAP_S = 1.5


def vad_options_dict(options: VadOptions) -> dict:
    d = asdict(options)
    if d.get("max_speech_duration_s") == float("inf"):
        d["max_speech_duration_s"] = None  # JSON has no infinity
    return d


def speech_intervals(samples: np.ndarray, options: VadOptions = PHONE_VAD,
                     quiet_below_db: float = QUIET_BELOW_DB) -> list[Interval]:
    """Speech intervals (seconds) of one 16 kHz channel: Silero's, without the runs far under
    the track's speech level (``quiet_below_db``; 0 keeps Silero's intervals as they are)."""
    if len(samples) == 0:
        return []
    stamps = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
    intervals = [Interval(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]
    if quiet_below_db > 0:
        intervals = drop_quiet_runs(samples, intervals, quiet_below_db,
                                    pad_s=options.speech_pad_ms / 1000)
    return intervals


def drop_quiet_runs(samples: np.ndarray, intervals: Sequence[Interval], below_db: float,
                    run_s: float = QUIET_RUN_S, pad_s: float = 0.1, frame_s: float = 0.02
                    ) -> list[Interval]:
    """``intervals`` with every run of at least ``run_s`` of frames ``below_db`` under the
    track's speech level cut out (``pad_s`` of it kept beside the speech, as Silero pads);
    pieces shorter than 0.25 s or without a loud frame are dropped."""
    hop = int(frame_s * SAMPLE_RATE)
    n = len(samples) // hop
    if not intervals or n == 0:
        return list(intervals)
    power = (samples[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(axis=1)
    db = 10 * np.log10(power + 1e-12)
    spans = [(int(iv.start / frame_s), min(n, int(np.ceil(iv.end / frame_s)))) for iv in intervals]
    inside = np.concatenate([db[a:b] for a, b in spans])
    if len(inside) == 0:
        return list(intervals)
    quiet = db < np.percentile(inside, 90) - below_db
    run, pad = int(round(run_s / frame_s)), int(round(pad_s / frame_s))
    out: list[Interval] = []
    for iv, (a, b) in zip(intervals, spans):
        keep = np.ones(b - a, bool)
        q = quiet[a:b]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], q.astype(np.int8), [0]])))
        for lo, hi in zip(edges[::2], edges[1::2]):  # runs of quiet frames [lo, hi)
            if hi - lo >= run:
                keep[lo + (pad if lo > 0 else 0): hi - (pad if hi < len(q) else 0)] = False
        edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
        for lo, hi in zip(edges[::2], edges[1::2]):
            if (hi - lo) * frame_s >= 0.25 and not q[lo:hi].all():
                out.append(Interval(max(iv.start, (a + lo) * frame_s),
                                    min(iv.end, (a + hi) * frame_s)))
    return out


def group_turns(own: Sequence[Interval], other: Iterable[Interval] = (),
                merge_gap_s: float = UTTERANCE_MERGE_GAP_S) -> list[Interval]:
    """Join one party's speech intervals into turns.

    Two neighbouring intervals are one turn when the pause between them is below
    ``merge_gap_s`` and no interval of the other party *starts* inside the pause (the other
    party taking the floor ends the turn; talking over it does not).
    """
    other_starts = sorted(iv.start for iv in other)
    turns: list[Interval] = []
    for iv in sorted(own, key=lambda i: i.start):
        if turns:
            last = turns[-1]
            gap = iv.start - last.end
            interjected = any(last.end <= s < iv.start for s in other_starts)
            if gap < merge_gap_s and not interjected:
                turns[-1] = Interval(last.start, max(last.end, iv.end))
                continue
        turns.append(iv)
    return turns
