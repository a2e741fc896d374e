"""Audio → transcript: faster-whisper on each channel's VAD speech, turns from VAD.

Public entry point: :func:`callqa.asr.pipeline.transcribe_call` with
:class:`callqa.asr.pipeline.AsrOptions`. Modules, one job each:

- :mod:`callqa.asr.audio` — decode wav/flac/ogg/mp3/m4a, split channels, resample to 16 kHz;
- :mod:`callqa.asr.echo`, :mod:`callqa.asr.vad`, :mod:`callqa.asr.parties` — line echo, Silero
  speech intervals, each party's speech;
- :mod:`callqa.asr.speakers` — a mono recording's voices attributed to agent and customer;
- :mod:`callqa.asr.recognizer` — the recogniser interface and the backend registry;
- :mod:`callqa.asr.whisper` — the faster-whisper backend (model, windows, hallucination filters);
- :mod:`callqa.asr.utterances` — recognised words placed into turns;
- :mod:`callqa.asr.cache` — transcript cache keyed by audio, model and options.

Importing this package is cheap; faster-whisper loads when a submodule that needs it is used.
"""

__all__ = ["AsrOptions", "transcribe_call"]


def __getattr__(name: str):
    if name in __all__:
        from callqa.asr import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
