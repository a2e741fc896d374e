"""Audio → transcript: faster-whisper on each channel's VAD speech, turns from VAD.

Public entry point: :func:`callqa.asr.pipeline.transcribe_call` with
:class:`callqa.asr.pipeline.AsrOptions`. Modules, one job each:

- :mod:`callqa.asr.models` — assemble/verify the embedded whisper-base, load models once;
- :mod:`callqa.asr.audio` — decode wav/flac/ogg/mp3/m4a, split channels, resample to 16 kHz;
- :mod:`callqa.asr.vad` — Silero speech intervals per channel, turns from them;
- :mod:`callqa.asr.transcribe` — pack speech into windows, decode, map words back to turns;
- :mod:`callqa.asr.hallucinations` — phantom-text filters;
- :mod:`callqa.asr.cache` — transcript cache keyed by audio, model and options.

Importing this package is cheap; faster-whisper loads when a submodule that needs it is used.
"""

__all__ = ["AsrOptions", "transcribe_call"]


def __getattr__(name: str):
    if name in __all__:
        from callqa.asr import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
