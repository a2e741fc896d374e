"""The "who speaks when" stage before recognition: a decoded recording in, each party's audio
and speech intervals out.

- Stereo: line echo between the tracks is muted first (:mod:`callqa.asr.echo`), then Silero
  VAD runs per track (:mod:`callqa.asr.vad`); the agent's track is ``agent_channel``.
- Mono: VAD on the one track, recognised as one party; who said which stretch is decided
  after recognition, from the words and the voices (:func:`callqa.asr.speakers.attribute`,
  called by :mod:`callqa.asr.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faster_whisper.vad import VadOptions

from callqa.asr.audio import DecodedAudio
from callqa.asr.echo import suppress_echo
from callqa.asr.recognizer import PartySpeech
from callqa.asr.vad import QUIET_BELOW_DB, speech_intervals
from callqa.transcript import AGENT, CUSTOMER

__all__ = ["Parties", "speech_per_party"]


@dataclass
class Parties:
    """Each party's audio and speech intervals, and what this stage found.

    Attributes:
        parties: agent then customer for stereo; the one track (as the agent) for mono.
        mono: one track holds whoever speaks (attribution still to do).
        info: recorded in ``Transcript.asr["front_end"]`` (echo paths and muted shares).
    """

    parties: list[PartySpeech]
    mono: bool = False
    info: dict[str, Any] = field(default_factory=dict)


def speech_per_party(audio: DecodedAudio, vad: VadOptions, *, agent_channel: str = "left",
                     echo: bool = True, quiet_below_db: float = QUIET_BELOW_DB) -> Parties:
    """Speech per party of one recording (see the module docstring)."""
    def speech(samples):
        return speech_intervals(samples, vad, quiet_below_db)

    if len(audio.channels) == 1:
        samples = audio.channels[0]
        return Parties([PartySpeech(AGENT, samples, speech(samples))], mono=True)
    channels, info = audio.channels, {}
    if echo:
        channels, paths, muted = suppress_echo(audio.channels)
        info["echo"] = [{**p.to_dict(), "muted_share": round(muted[p.target], 4)} for p in paths]
    agent = 0 if agent_channel == "left" else 1
    return Parties([PartySpeech(AGENT, channels[agent], speech(channels[agent])),
                    PartySpeech(CUSTOMER, channels[1 - agent], speech(channels[1 - agent]))],
                   info=info)
