"""The Whisper backend (faster-whisper / CTranslate2): everything Whisper-only lives here.

- :mod:`~callqa.asr.whisper.models` — assemble/verify the embedded whisper-base, load once;
- :mod:`~callqa.asr.whisper.windows` — pack speech into 30 s windows, decode, map words back;
- :mod:`~callqa.asr.whisper.hallucinations` — phantom-text and loop filters;
- :mod:`~callqa.asr.whisper.recognizer` — the :class:`~callqa.asr.recognizer.Recognizer`.

The registry (:data:`callqa.asr.recognizer.BACKENDS`) reaches it through :func:`model_id` and
:func:`create`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from callqa.asr.pipeline import AsrOptions
    from callqa.asr.whisper.recognizer import WhisperRecognizer, WhisperSettings

__all__ = ["create", "model_id", "settings"]


def settings(options: "AsrOptions") -> "WhisperSettings":
    """The Whisper-only part of ``options``."""
    from callqa.asr.whisper.hallucinations import HallucinationFilter
    from callqa.asr.whisper.recognizer import WhisperSettings
    from callqa.asr.whisper.windows import DecodeOptions

    decode = DecodeOptions(language=options.language, beam_size=options.beam_size,
                           initial_prompt=options.initial_prompt, hotwords=options.hotwords,
                           without_timestamps=options.without_timestamps,
                           filter=HallucinationFilter(options.compression_ratio_max,
                                                      options.no_speech_prob_max,
                                                      options.avg_logprob_min))
    per_speaker = {}
    if options.customer_beam_size and options.customer_beam_size != options.beam_size:
        per_speaker["customer"] = replace(decode, beam_size=options.customer_beam_size)
    decoders, threads = options.resolved_parallelism
    return WhisperSettings(options.device, options.resolved_compute_type, threads, decoders,
                           decode, per_speaker, options.window_max_s, options.window_gap_s,
                           options.decode_pad_s, options.channels_together, options.pack_fill,
                           options.resolved_batch_size)


def model_id(options: "AsrOptions", *, progress: bool = False) -> str:
    from callqa.asr.whisper.models import resolve_model

    return resolve_model(options.model, options.model_dir, progress=progress).model_id


def create(options: "AsrOptions", *, progress: bool = False) -> "WhisperRecognizer":
    from callqa.asr.whisper.models import resolve_model
    from callqa.asr.whisper.recognizer import WhisperRecognizer

    return WhisperRecognizer(resolve_model(options.model, options.model_dir, progress=progress),
                             settings(options))
