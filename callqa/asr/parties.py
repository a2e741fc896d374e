"""The "who speaks when" stage: a decoded recording in, each party's audio and speech out.

- Stereo: line echo between the tracks is muted first (:mod:`callqa.asr.echo`), then Silero
  VAD runs per track (:mod:`callqa.asr.vad`); the agent's track is ``agent_channel``.
- Mono: VAD on the one track, then :func:`callqa.asr.speakers.separate` decides whether it
  holds one voice (the agent alone, as a trainee's own recording) or two. Two voices become two
  parties, ``speaker0`` (who speaks first) and ``speaker1``, each with the other's speech muted
  so that the recogniser's decoding context never carries the other voice's words; which of
  them is the agent is decided after recognition (:func:`callqa.asr.pipeline` via
  :func:`callqa.asr.speakers.assign_roles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from faster_whisper.vad import VadOptions

from callqa.asr.audio import SAMPLE_RATE, DecodedAudio
from callqa.asr.echo import suppress_echo
from callqa.asr.recognizer import PartySpeech
from callqa.asr.speakers import separate
from callqa.asr.vad import speech_intervals
from callqa.transcript import AGENT, CUSTOMER, Interval

__all__ = ["Parties", "speech_per_party", "mute", "SPEAKER_IDS"]

#: Provisional names of the two voices of a mono recording, until roles are assigned.
SPEAKER_IDS = ("speaker0", "speaker1")


@dataclass
class Parties:
    """Each party's audio and speech intervals, and what this stage found.

    Attributes:
        parties: agent first for stereo and one-voice mono; :data:`SPEAKER_IDS` for two voices.
        voices: 1 or 2 (how many people are heard).
        separated: the parties come from splitting one track by voice (roles still to decide).
        info: recorded in ``Transcript.asr["front_end"]`` (echo paths, separation figures).
    """

    parties: list[PartySpeech]
    voices: int
    separated: bool = False
    info: dict[str, Any] = field(default_factory=dict)


def mute(samples: np.ndarray, intervals: Sequence[Interval], ramp_s: float = 0.005) -> np.ndarray:
    """A copy of ``samples`` with ``intervals`` silenced (short ramps: no clicks)."""
    gain = np.ones(len(samples), np.float32)
    for iv in intervals:
        gain[int(iv.start * SAMPLE_RATE): int(iv.end * SAMPLE_RATE)] = 0.0
    ramp = max(1, int(ramp_s * SAMPLE_RATE))
    gain = np.convolve(gain, np.ones(ramp, np.float32) / ramp, mode="same")
    return (samples * gain).astype(np.float32)


def speech_per_party(audio: DecodedAudio, vad: VadOptions, *, agent_channel: str = "left",
                     echo: bool = True, separate_voices: bool = True) -> Parties:
    """Speech per party of one recording (see the module docstring)."""
    if len(audio.channels) == 2:
        channels, info = audio.channels, {}
        if echo:
            channels, paths, muted = suppress_echo(audio.channels)
            info["echo"] = [{**p.to_dict(), "muted_share": round(muted[p.target], 4)}
                            for p in paths]
        agent = 0 if agent_channel == "left" else 1
        return Parties([PartySpeech(AGENT, channels[agent], speech_intervals(channels[agent], vad)),
                        PartySpeech(CUSTOMER, channels[1 - agent],
                                    speech_intervals(channels[1 - agent], vad))], 2, info=info)

    samples = audio.channels[0]
    speech = speech_intervals(samples, vad)
    if not separate_voices:
        return Parties([PartySpeech(AGENT, samples, speech)], 1)
    split = separate(samples, speech)
    info = {"separation": {"voices": split.voices, "distance": round(split.separation, 3),
                           "distinct": split.distinct, "stretches": split.pieces}}
    if split.voices == 1:
        return Parties([PartySpeech(AGENT, samples, speech)], 1, info=info)
    first, second = split.speech
    return Parties([PartySpeech(SPEAKER_IDS[0], mute(samples, second), first),
                    PartySpeech(SPEAKER_IDS[1], mute(samples, first), second)], 2,
                   separated=True, info=info)
