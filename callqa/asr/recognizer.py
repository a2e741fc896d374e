"""The recogniser stage: each party's speech in, timed words per party out.

:class:`Recognizer` is the one interface the pipeline (and ``callqa batch``) use to turn speech
into words; :class:`WhisperRecognizer` is the faster-whisper implementation. A second ASR
backend implements the same protocol and gets its own ``*Settings`` record; the stages before
it (decode, speech per party) and after it (turns, transcript) do not change.

Whisper-only settings live in :class:`WhisperSettings`, built from ``AsrOptions`` by
``AsrOptions.whisper_settings()``; the model is loaded once per process
(:func:`callqa.asr.models.load_model`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from callqa.asr.transcribe import DecodeOptions, transcribe_channels
from callqa.transcript import Interval, Word

__all__ = ["PartySpeech", "Recognition", "Recognizer", "WhisperSettings", "WhisperRecognizer"]


@dataclass(frozen=True)
class PartySpeech:
    """One party's audio (16 kHz; other parties' speech already muted) and where it speaks."""

    speaker: str
    samples: np.ndarray
    speech: Sequence[Interval]


@dataclass
class Recognition:
    """Words per speaker on the recording's timeline, the pieces dropped as hallucinations,
    and counters of the work done."""

    words: dict[str, list[Word]]
    dropped: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


class Recognizer(Protocol):
    """Speech → words. ``model_id`` goes into transcripts and cache keys."""

    model_id: str

    def describe(self) -> dict[str, Any]:
        """Engine, versions and settings, recorded in ``Transcript.asr``."""

    def recognise(self, parties: Sequence[PartySpeech],
                  on_progress: Callable[[float], None] | None = None) -> Recognition:
        """Recognise every party's speech (``on_progress`` gets seconds of speech done)."""


@dataclass(frozen=True)
class WhisperSettings:
    """How faster-whisper runs (the Whisper-only part of ``AsrOptions``)."""

    device: str
    compute_type: str
    cpu_threads: int
    decode: DecodeOptions
    window_max_s: float
    window_gap_s: float
    decode_pad_s: float
    channels_together: bool
    pack_fill: bool
    batch_size: int


class WhisperRecognizer:
    """faster-whisper on packed windows of each party's speech (:mod:`callqa.asr.transcribe`)."""

    def __init__(self, resolved, settings: WhisperSettings) -> None:
        from callqa.asr.models import load_model

        self.resolved = resolved
        self.model_id = resolved.model_id
        self.settings = settings
        self.model = load_model(resolved, settings.device, settings.compute_type,
                                settings.cpu_threads)

    def describe(self) -> dict[str, Any]:
        import ctranslate2
        import faster_whisper

        return {"engine": f"faster-whisper {faster_whisper.__version__}",
                "ctranslate2": ctranslate2.__version__, "model": self.model_id,
                "device": self.settings.device, "compute_type": self.settings.compute_type}

    def recognise(self, parties: Sequence[PartySpeech],
                  on_progress: Callable[[float], None] | None = None) -> Recognition:
        s = self.settings
        stats: dict[str, int] = {}
        words, dropped = transcribe_channels(
            self.model, [(p.speaker, p.samples, p.speech) for p in parties], s.decode,
            together=s.channels_together, fill=s.pack_fill, window_max_s=s.window_max_s,
            window_gap_s=s.window_gap_s, decode_pad_s=s.decode_pad_s, batch_size=s.batch_size,
            on_progress=on_progress, stats=stats)
        return Recognition(words, dropped, stats)
