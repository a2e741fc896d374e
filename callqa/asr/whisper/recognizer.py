"""The faster-whisper recogniser: the model, on packed windows of each party's speech.

:class:`WhisperSettings` is the Whisper-only part of ``AsrOptions``
(:func:`callqa.asr.whisper.settings`); the model is loaded once per process
(:func:`callqa.asr.whisper.models.load_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from callqa.asr.recognizer import PartySpeech, Recognition
from callqa.asr.whisper.hallucinations import drop_loops
from callqa.asr.whisper.windows import DecodeOptions, transcribe_channels

__all__ = ["WhisperSettings", "WhisperRecognizer"]


@dataclass(frozen=True)
class WhisperSettings:
    """How faster-whisper runs (the Whisper-only part of ``AsrOptions``)."""

    device: str
    compute_type: str
    cpu_threads: int  # per decoder
    decoders: int  # windows decoded in parallel (model replicas)
    decode: DecodeOptions
    decode_for: Mapping[str, DecodeOptions]  # a speaker's own decoding (customer_beam_size)
    window_max_s: float
    window_gap_s: float
    decode_pad_s: float
    channels_together: bool
    pack_fill: bool
    batch_size: int


class WhisperRecognizer:
    """faster-whisper on packed windows of each party's speech (:mod:`callqa.asr.whisper.windows`)."""

    def __init__(self, resolved, settings: WhisperSettings) -> None:
        from callqa.asr.whisper.models import load_model

        self.resolved = resolved
        self.model_id = resolved.model_id
        self.settings = settings
        self.model = load_model(resolved, settings.device, settings.compute_type,
                                settings.cpu_threads, settings.decoders)

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
            decode_for=s.decode_for,
            together=s.channels_together, fill=s.pack_fill, window_max_s=s.window_max_s,
            window_gap_s=s.window_gap_s, decode_pad_s=s.decode_pad_s, batch_size=s.batch_size,
            decoders=s.decoders, on_progress=on_progress, stats=stats)
        for p in parties:  # a loop spread over the segments of one chunk
            words[p.speaker], looped = drop_loops(p.speaker, words[p.speaker], p.speech)
            dropped += looped
        return Recognition(words, dropped, stats)
