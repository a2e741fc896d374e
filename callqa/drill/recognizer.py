"""The drill's recogniser backend (``AsrOptions(backend="drill")``): faster-whisper on each
stretch of a party's speech alone — an answer, a customer turn — with the words of each
remembered by the stretch's audio.

While the call goes on, the server runs the whole pipeline on the call so far after each
customer turn (:func:`callqa.drill.attempt.prepare_attempt`); the stretches it recognised are
found again, sample for sample, when the finished call is scored, so after the last answer
only that answer is left to recognise. Everything else — decoding the two legs, speech per
party, turns, the transcript, the scorer — is the pipeline every call takes.

A stretch is speech with no pause of ``GROUP_GAP_S`` or more inside; it is recognised with
``decode_pad_s`` of the recording around it (as the Whisper backend pads every interval), and
that audio and the intervals in it are the memo's key, so a stretch heard differently in the
finished call (a longer pause, more context) is simply recognised again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any, Callable, Sequence

from callqa.asr.audio import SAMPLE_RATE
from callqa.asr.recognizer import BACKENDS, PartySpeech, Recognition
from callqa.transcript import Interval, Word

__all__ = ["GROUP_GAP_S", "NAME", "StretchRecognizer", "create", "forget", "model_id",
           "stretches"]

NAME = "drill"
#: pauses at least this long separate stretches (the page waits 1.2 s of quiet before the
#: next customer turn, so every answer is a stretch of its own)
GROUP_GAP_S = 1.0
_MEMO_SIZE = 4096
_memo: "OrderedDict[str, tuple[list[Word], list[dict[str, Any]]]]" = OrderedDict()
_lock = threading.Lock()
#: counters (the latency bench reports them)
stats = {"recognised": 0, "remembered": 0}


def forget() -> None:
    """Empty the memo (the latency bench: each run a new trainee)."""
    with _lock:
        _memo.clear()


def model_id(options, *, progress: bool = False) -> str:
    from callqa.asr import whisper

    return whisper.model_id(options, progress=progress)


def create(options, *, progress: bool = False) -> "StretchRecognizer":
    from callqa.asr import whisper

    return StretchRecognizer(whisper.create(options, progress=progress), options)


def stretches(speech: Sequence[Interval], gap_s: float = GROUP_GAP_S) -> list[list[Interval]]:
    """Speech intervals grouped where the pause between them is ``gap_s`` or more.

    >>> [len(g) for g in stretches([Interval(0, 1), Interval(1.5, 2), Interval(4, 5)])]
    [2, 1]
    """
    out: list[list[Interval]] = []
    for iv in sorted(speech, key=lambda iv: iv.start):
        if out and iv.start - out[-1][-1].end < gap_s:
            out[-1].append(iv)
        else:
            out.append([iv])
    return out


class StretchRecognizer:
    """Wraps the Whisper recogniser: one stretch at a time, each remembered."""

    def __init__(self, inner, options) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.pad_s = options.decode_pad_s
        self._key = json.dumps([self.model_id, options.keyed()], sort_keys=True, default=str)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(),
                "stretches": f"each stretch of speech between pauses of {GROUP_GAP_S} s or more "
                             f"recognised alone (backend {NAME})"}

    def recognise(self, parties: Sequence[PartySpeech],
                  on_progress: Callable[[float], None] | None = None) -> Recognition:
        words: dict[str, list[Word]] = {p.speaker: [] for p in parties}
        dropped: list[dict[str, Any]] = []
        counts = {"stretches": 0, "remembered": 0}
        for p in parties:
            total = len(p.samples)
            for group in stretches(p.speech):
                a = max(0, int((group[0].start - self.pad_s) * SAMPLE_RATE))
                b = min(total, int((group[-1].end + self.pad_s) * SAMPLE_RATE) + 1)
                shift = a / SAMPLE_RATE
                local = [Interval(iv.start - shift, iv.end - shift) for iv in group]
                key = hashlib.sha256(
                    (self._key + repr([(round(iv.start, 4), round(iv.end, 4)) for iv in local]))
                    .encode() + p.samples[a:b].tobytes()).hexdigest()
                with _lock:
                    hit = _memo.get(key)
                    if hit is not None:
                        _memo.move_to_end(key)
                counts["stretches"] += 1
                if hit is None:
                    rec = self.inner.recognise([PartySpeech(p.speaker, p.samples[a:b], local)])
                    hit = (rec.words.get(p.speaker, []), rec.dropped)
                    with _lock:
                        _memo[key] = hit
                        while len(_memo) > _MEMO_SIZE:
                            _memo.popitem(last=False)
                    stats["recognised"] += 1
                else:
                    counts["remembered"] += 1
                    stats["remembered"] += 1
                words[p.speaker] += [Word(w.text, round(w.start + shift, 3),
                                          round(w.end + shift, 3), w.probability) for w in hit[0]]
                dropped += [{**d, "speaker": p.speaker, "start": round(d["start"] + shift, 3),
                             "end": round(d["end"] + shift, 3)} for d in hit[1]]
                if on_progress is not None:
                    on_progress(sum(iv.end - iv.start for iv in group))
        for ws in words.values():
            ws.sort(key=lambda w: (w.start, w.end))
        return Recognition(words, dropped, counts)


BACKENDS.setdefault(NAME, __name__)
