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

from dataclasses import asdict
from typing import Iterable, Sequence

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from callqa.transcript import Interval

__all__ = ["PHONE_VAD", "UTTERANCE_MERGE_GAP_S", "speech_intervals", "group_turns",
           "vad_options_dict"]

SAMPLE_RATE = 16000

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

#: Pauses shorter than this inside one party's speech do not start a new utterance (unless the
#: other party spoke in between). Mandarin speakers pause 0.3–1.3 s between phrases of one
#: sentence (measured on the clips in ../shared/audio/real).
UTTERANCE_MERGE_GAP_S = 1.5


def vad_options_dict(options: VadOptions) -> dict:
    d = asdict(options)
    if d.get("max_speech_duration_s") == float("inf"):
        d["max_speech_duration_s"] = None  # JSON has no infinity
    return d


def speech_intervals(samples: np.ndarray, options: VadOptions = PHONE_VAD) -> list[Interval]:
    """Speech intervals (seconds) of one 16 kHz channel."""
    if len(samples) == 0:
        return []
    stamps = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
    return [Interval(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


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
