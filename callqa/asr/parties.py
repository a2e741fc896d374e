"""The "who speaks when" stage before recognition: a decoded recording in, each party's audio
and speech intervals out.

- Stereo: line echo between the tracks is muted first (:mod:`callqa.asr.echo`), then Silero
  VAD runs per track (:mod:`callqa.asr.vad`); the agent's track is ``agent_channel``.
- Any track whose floor shows background voices (colleagues on an open-plan floor) is run
  through speech enhancement first (:mod:`callqa.asr.enhance`), and VAD runs on the enhanced
  track; the recogniser gets the track as recorded, inside those speech intervals.
- Mono: VAD on the one track, recognised as one party; who said which stretch is decided
  after recognition, from the words and the voices (:func:`callqa.asr.speakers.attribute`,
  called by :mod:`callqa.asr.pipeline`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from faster_whisper.vad import VadOptions

from callqa.asr.audio import DecodedAudio
from callqa.asr.echo import suppress_echo
from callqa.asr.enhance import EnhancementUnavailable, deep_filter, read_floor
from callqa.asr.recognizer import PartySpeech
from callqa.asr.vad import QUIET_BELOW_DB, speech_intervals
from callqa.transcript import AGENT, CUSTOMER

__all__ = ["Parties", "speech_per_party", "enhance_track"]

logger = logging.getLogger("callqa.asr")


@dataclass
class Parties:
    """Each party's audio and speech intervals, and what this stage found.

    Attributes:
        parties: agent then customer for stereo; the one track (as the agent) for mono.
        mono: one track holds whoever speaks (attribution still to do).
        info: recorded in ``Transcript.asr["front_end"]`` (echo paths and muted shares; per
            party the floor reading and whether the track was enhanced).
    """

    parties: list[PartySpeech]
    mono: bool = False
    info: dict[str, Any] = field(default_factory=dict)


def enhance_track(samples: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """``samples`` enhanced when their floor shows background voices, else as they are; and
    what was read and done (recorded per party in the front end's info)."""
    floor = read_floor(samples)
    info: dict[str, Any] = {**floor.to_dict(), "enhanced": False}
    if not floor.background_voices:
        return samples, info
    try:
        started = time.perf_counter()
        samples = deep_filter()(samples)
        # a wall time: under timing_s, like the pipeline's own, so two runs of one call compare equal
        info.update(enhanced=True, timing_s=round(time.perf_counter() - started, 3))
    except EnhancementUnavailable as exc:  # the front end still runs, as before enhancement
        logger.warning("background voices on a track, not enhanced: %s", exc)
        info["unavailable"] = str(exc)
    return samples, info


def speech_per_party(audio: DecodedAudio, vad: VadOptions, *, agent_channel: str = "left",
                     echo: bool = True, quiet_below_db: float = QUIET_BELOW_DB,
                     enhance: bool = True) -> Parties:
    """Speech per party of one recording (see the module docstring)."""
    info: dict[str, Any] = {}

    def party(speaker: str, samples: np.ndarray) -> PartySpeech:
        # VAD on the enhanced track (babble is not speech there); the recogniser hears the
        # track as recorded, only inside those intervals (Whisper misheard the filter's
        # artefacts more than the babble: docs/benchmarks.md, "issue 19 — noisy room")
        heard = samples
        if enhance:
            heard, info.setdefault("enhance", {})[speaker] = enhance_track(samples)
        return PartySpeech(speaker, samples, speech_intervals(heard, vad, quiet_below_db))

    if len(audio.channels) == 1:
        return Parties([party(AGENT, audio.channels[0])], mono=True, info=info)
    channels = audio.channels
    if echo:
        channels, paths, muted = suppress_echo(audio.channels)
        info["echo"] = [{**p.to_dict(), "muted_share": round(muted[p.target], 4)} for p in paths]
    agent = 0 if agent_channel == "left" else 1
    return Parties([party(AGENT, channels[agent]), party(CUSTOMER, channels[1 - agent])],
                   info=info)
