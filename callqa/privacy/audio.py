"""A redacted copy of a recording: the stretches where personal data was said replaced by a
tone or silence, on every channel (the other party's line echo carries the words too).

The copy is a 16 kHz PCM WAV (the rate the ASR and the review page player use), written
atomically; the original is never changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from callqa.asr.audio import SAMPLE_RATE, load_audio
from callqa.transcript import Entity

__all__ = ["MARGIN_S", "TONE_HZ", "redact_recording", "redacted_copy", "spans_of"]

#: Around each span: word timing is approximate to a few tens of milliseconds.
MARGIN_S = 0.15
TONE_HZ = 1000.0
_TONE_LEVEL = 0.1  # -20 dBFS: audible as a bleep, not painful


def spans_of(entities: Iterable[Entity], types: Iterable[str]) -> list[tuple[float, float]]:
    """The time spans of the entities of ``types``, widened by ``MARGIN_S``."""
    types = set(types)
    return sorted((max(0.0, e.start - MARGIN_S), e.end + MARGIN_S)
                  for e in entities if e.type in types)


def redact_recording(src: str | Path, spans: Iterable[tuple[float, float]], dst: str | Path,
                     fill: str = "tone") -> Path:
    """Write ``dst``: ``src`` with each ``(start, end)`` span (seconds) replaced by ``fill``
    (``tone`` or ``silence``). Raises :class:`callqa.errors.AudioError` on a bad recording."""
    import soundfile as sf

    audio = load_audio(src)
    data = np.stack(audio.channels, axis=1).astype(np.float32)
    n = data.shape[0]
    for start, end in spans:
        a, b = max(0, int(start * SAMPLE_RATE)), min(n, int(np.ceil(end * SAMPLE_RATE)))
        if b <= a:
            continue
        if fill == "tone":
            t = np.arange(a, b) / SAMPLE_RATE
            data[a:b] = (_TONE_LEVEL * np.sin(2 * np.pi * TONE_HZ * t))[:, None]
        else:
            data[a:b] = 0.0
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    sf.write(str(tmp), data, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, dst)
    return dst


def redacted_copy(recording: Path, entities: Iterable[Entity], types: Iterable[str],
                  copy: Path, fill: str = "tone") -> Path:
    """``recording`` as it may be heard where ``types`` are masked: itself when none was said,
    else ``copy``, (re)written when missing or older than the recording."""
    spans = spans_of(entities, types)
    if not spans:
        return recording
    if not copy.is_file() or copy.stat().st_mtime < recording.stat().st_mtime:
        redact_recording(recording, spans, copy, fill)
    return copy
