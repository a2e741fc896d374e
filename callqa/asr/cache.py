"""Transcript cache: re-scoring a call with a changed rulebook costs no ASR.

Entries are transcript JSON files under ``$XDG_CACHE_HOME/callqa/transcripts/`` named by a
key derived from the audio's content hash, the model id and every ASR option that can change
the output. Who the call is (call id, agent id) is not part of the key; it is set on the way out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from callqa.errors import TranscriptError
from callqa.transcript import Transcript, load_transcript, save_transcript

__all__ = ["CACHE_FORMAT", "cache_root", "default_cache_dir", "cache_key", "cache_path", "load_cached",
           "store"]

logger = logging.getLogger("callqa.asr")

#: Bump when the ASR pipeline changes in a way that invalidates old entries.
CACHE_FORMAT = 9  # 4: echo suppression before VAD; mono speech attributed to agent or customer;
#                  5: mono attribution with breath pauses, length-weighted voices; 6: loops dropped;
#                  7: loops dropped across the segments of a chunk, background voices enhanced;
#                  8: a sentence squeezed onto a turn edge and heard again after it dropped;
#                  9: wandering loops dropped, word-less bursts on a babble track not speech


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/callqa`` (``~/.cache`` when the variable is unset): transcripts and
    assembled models."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "callqa"


def default_cache_dir() -> Path:
    return cache_root() / "transcripts"


def cache_key(audio_sha256: str, model_id: str, options: dict[str, Any]) -> str:
    blob = json.dumps({"format": CACHE_FORMAT, "audio": audio_sha256, "model": model_id,
                       "options": options}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_path(cache_dir: str | Path | None, key: str) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"{key[:2]}" / f"{key}.json"


def load_cached(cache_dir: str | Path | None, key: str) -> Transcript | None:
    path = cache_path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        return load_transcript(path)
    except TranscriptError as exc:  # a damaged entry is a miss, and is replaced
        logger.warning("ignoring damaged cache entry %s", exc)
        return None


def store(cache_dir: str | Path | None, key: str, transcript: Transcript) -> Path | None:
    path = cache_path(cache_dir, key)
    try:
        save_transcript(transcript, path)
    except OSError as exc:  # a read-only cache must not fail the call
        logger.warning("cannot write transcript cache %s: %s", path, exc)
        return None
    return path


