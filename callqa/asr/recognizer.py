"""The recogniser stage: each party's speech in, timed words per party out.

:class:`Recognizer` is the one interface the pipeline (and ``callqa batch``) use to turn speech
into words. Backends are registered by name in :data:`BACKENDS` (``AsrOptions.backend``,
``--backend``): each is one package under ``callqa/asr/`` exposing ``model_id(options)`` and
``create(options)``; callers ask :func:`create_recognizer`, never import a backend. The stages
before it (decode, speech per party) and after it (turns, transcript) do not change.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from callqa.transcript import Interval, Word

__all__ = ["BACKENDS", "PartySpeech", "Recognition", "Recognizer", "available_cores", "backend",
           "create_recognizer", "recognizer_model_id"]

#: Backend name → the package implementing it (``model_id``, ``create``).
BACKENDS: dict[str, str] = {"whisper": "callqa.asr.whisper"}


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


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


def backend(name: str):
    """The module of backend ``name`` (imported on first use: a backend's libraries load only
    when it is chosen)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown ASR backend {name!r} (known: {', '.join(sorted(BACKENDS))})")
    return importlib.import_module(BACKENDS[name])


def create_recognizer(options: Any, *, progress: bool = False) -> Recognizer:
    """The recogniser ``options`` (an ``AsrOptions``) ask for, its model loaded once per
    process."""
    return backend(options.backend).create(options, progress=progress)


def recognizer_model_id(options: Any, *, progress: bool = False) -> str:
    """The id of the model ``options`` ask for (part of every cache key), without loading it."""
    return backend(options.backend).model_id(options, progress=progress)
