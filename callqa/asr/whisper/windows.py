"""Whisper on one channel's speech: pack VAD chunks into windows, decode, map words back.

The encoder always sees 30 s of audio, so decoding each short turn alone would pay for a full
encoder pass per turn. Instead a channel's speech intervals are packed, in order, into windows
of at most ``window_max_s`` seconds (intervals separated by ``window_gap_s`` of digital
silence), each window is transcribed once, and each word's time in the window is mapped back to
the original timeline through the chunk it falls in. Silence between turns is never decoded,
which is also where Whisper hallucinates most.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from callqa.asr.whisper.hallucinations import HallucinationFilter, SegmentInfo, loop_span
from callqa.text import normalize_match, to_simplified
from callqa.transcript import Interval, Word

if TYPE_CHECKING:  # pragma: no cover
    from faster_whisper import WhisperModel

__all__ = ["NEUTRAL_PROMPT", "DecodeOptions", "Chunk", "Window", "pack_windows",
           "transcribe_channels"]

logger = logging.getLogger("callqa.asr")
SAMPLE_RATE = 16000
_END_ANCHOR_S = 0.08
_TARGET_PEAK = 0.5
_MAX_GAIN = 20.0
_TAIL_MIN_S = 1.5
#: An optional prompt steering Whisper towards Simplified Chinese with punctuation
#: (``AsrOptions(initial_prompt=NEUTRAL_PROMPT)``). Deliberately neutral: a prompt must not
#: contain any phrase a rule checks (您好, 不知道, 稍等, 再见 ...), or the model would be primed
#: to "hear" it. Not the default: with whisper-base it raised the character error rate on the
#: real clips (docs/benchmarks.md), and OpenCC t2s already guarantees Simplified output.
NEUTRAL_PROMPT = "以下是普通话的句子。"


@dataclass(frozen=True)
class DecodeOptions:
    """Options passed to ``WhisperModel.transcribe`` for every window."""

    language: str = "zh"
    beam_size: int = 5
    initial_prompt: str | None = None
    hotwords: tuple[str, ...] = ()
    without_timestamps: bool = False
    filter: HallucinationFilter = field(default_factory=HallucinationFilter)

    def transcribe_kwargs(self) -> dict[str, Any]:
        return dict(
            language=self.language,
            task="transcribe",
            beam_size=self.beam_size,
            condition_on_previous_text=False,
            word_timestamps=True,
            without_timestamps=self.without_timestamps,
            initial_prompt=self.initial_prompt or None,
            hotwords=" ".join(self.hotwords) or None,
            vad_filter=False,  # callqa's own VAD already chose the speech
            temperature=0.0,
        )


@dataclass(frozen=True)
class Chunk:
    """One speech interval inside a window: ``[offset_s, offset_s + duration)`` in the window
    is ``[start_s, end_s)`` on the recording, on channel ``source`` (an index into the channels
    being decoded together)."""

    start_s: float
    end_s: float
    offset_s: float
    source: int = 0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_original(self, t_window_s: float) -> float:
        return self.start_s + min(max(t_window_s - self.offset_s, 0.0), self.duration_s)


@dataclass
class Window:
    audio: np.ndarray
    chunks: list[Chunk]

    def chunk_index_at(self, t_window_s: float) -> int:
        """The chunk containing (or, for a time in the padding, nearest to) ``t_window_s``."""
        def distance(i: int) -> float:
            c = self.chunks[i]
            if c.offset_s <= t_window_s <= c.offset_s + c.duration_s:
                return 0.0
            return min(abs(t_window_s - c.offset_s), abs(t_window_s - c.offset_s - c.duration_s))
        return min(range(len(self.chunks)), key=distance)


def _split_long(items: Sequence[tuple[int, Interval]], max_s: float) -> list[tuple[int, Interval]]:
    out = []
    for source, iv in items:
        start = iv.start
        while iv.end - start > max_s:
            out.append((source, Interval(start, start + max_s)))
            start += max_s
        out.append((source, Interval(start, iv.end)))
    return out


def pack_windows(samples: np.ndarray | Sequence[np.ndarray],
                 intervals: Sequence[Interval] | Sequence[tuple[int, Interval]],
                 window_max_s: float = 30.0, window_gap_s: float = 0.5,
                 normalize: bool = False, fill: bool = False) -> list[Window]:
    """Pack speech intervals into windows of at most ``window_max_s``.

    Without ``fill``, in time order (a window is closed when the next interval does not fit);
    with ``fill``, first-fit decreasing (longest first, each into the first window with room),
    so a call needs close to the fewest windows; chunks inside a window are always in time
    order.

    ``samples`` is one channel, or several (then ``intervals`` are ``(channel index,
    interval)`` pairs and the channels' speech is packed together, in time order).
    ``normalize`` peak-normalises each chunk (gain capped at ``_MAX_GAIN``). Off by default:
    Whisper's log-mel input is not level-normalised, and on the real clips normalising made
    the character error rate slightly worse (docs/asr.md).
    """
    if isinstance(samples, np.ndarray):
        samples = [samples]
        intervals = [(0, iv) for iv in intervals]  # type: ignore[misc]
    items = [(source, iv) for source, iv in _split_long(
        sorted(intervals, key=lambda p: (p[1].start, p[0])), window_max_s)  # type: ignore
        if int(round(iv.end * SAMPLE_RATE)) > int(round(iv.start * SAMPLE_RATE))]
    # Which chunks share a window: in time order, a new window when the next one does not fit;
    # or (fill) first-fit decreasing, so windows come out nearly full.
    groups: list[list[tuple[int, Interval]]] = []
    used: list[float] = []
    order = sorted(items, key=lambda p: -p[1].duration) if fill else items
    for item in order:
        dur = item[1].duration
        target = None
        candidates = range(len(groups)) if fill else range(len(groups) - 1, len(groups))
        for g in candidates:
            if g >= 0 and used[g] + window_gap_s + dur <= window_max_s:
                target = g
                break
        if target is None:
            groups.append([item])
            used.append(dur)
        else:
            groups[target].append(item)
            used[target] += window_gap_s + dur
    gap = np.zeros(int(round(window_gap_s * SAMPLE_RATE)), np.float32)
    windows: list[Window] = []
    for group in groups:
        pieces: list[np.ndarray] = []
        chunks: list[Chunk] = []
        offset = 0
        for source, iv in sorted(group, key=lambda p: (p[1].start, p[0])):
            a, b = int(round(iv.start * SAMPLE_RATE)), int(round(iv.end * SAMPLE_RATE))
            piece = samples[source][a:b].astype(np.float32, copy=False)
            peak = float(np.max(np.abs(piece))) if normalize else 0.0
            if peak > 0:
                piece = piece * min(_TARGET_PEAK / peak, _MAX_GAIN)
            if chunks:
                pieces.append(gap)
                offset += len(gap)
            chunks.append(Chunk(a / SAMPLE_RATE, b / SAMPLE_RATE, offset / SAMPLE_RATE, source))
            pieces.append(piece)
            offset += len(piece)
        windows.append(Window(np.concatenate(pieces)[: int(window_max_s * SAMPLE_RATE)], chunks))
    return windows


def _clean_word(text: str) -> str:
    return to_simplified(text.strip())


def transcribe_channels(
    model: "WhisperModel",
    channels: Sequence[tuple[str, np.ndarray, Sequence[Interval]]],
    options: DecodeOptions,
    *,
    decode_for: Mapping[str, DecodeOptions] | None = None,
    together: bool = False,
    fill: bool = False,
    window_max_s: float = 30.0,
    window_gap_s: float = 0.5,
    batch_size: int = 4,
    decoders: int = 1,
    max_rounds: int = 8,
    decode_pad_s: float = 1.0,
    normalize: bool = False,
    on_progress: Callable[[float], None] | None = None,
    stats: dict[str, int] | None = None,
) -> tuple[dict[str, list[Word]], list[dict[str, Any]]]:
    """Recognise the speech of the channels ``(speaker, samples, intervals)`` of one call.

    ``together`` packs the speech of all channels into shared windows, in time order (a call
    then reads like a conversation, and two half-empty windows become one); otherwise each
    channel gets windows of its own. Either way every chunk remembers its channel.
    A round's windows are shared among ``decoders`` parallel decoders (the model's replicas).
    ``decode_for`` gives a speaker decoding options of its own (windows shared by both
    channels keep ``options``).

    Whisper may stop (end-of-text) after the first sentence or two of a packed window, so
    decoding goes in rounds: chunks after the last one that received words are packed again
    and decoded in the next round (so is the unheard tail of that last chunk, when it is longer
    than ``_TAIL_MIN_S``, and, once, a chunk before it that received no words: Whisper
    sometimes skips a turn in the middle of a window). Every round consumes at least the first chunk of each window, so the
    loop ends; in the worst case it costs what decoding every chunk alone would.

    Hallucination filters are applied per chunk: the words a segment put into one chunk are
    judged as one piece of text (phantom strings, compression ratio; no-speech probability and
    average log-probability are the window's), so a phantom in one turn never takes the rest of
    the window with it.

    Returns the kept words per speaker (Simplified, on the recording's timeline) and a record
    of every dropped piece (``speaker``, ``start``, ``end``, ``text``, ``reason``, scores).
    """
    from faster_whisper.transcribe import get_compression_ratio

    speakers = [sp for sp, _, _ in channels]
    sources = [x for _, x, _ in channels]
    words: dict[str, list[Word]] = {sp: [] for sp in speakers}
    dropped: list[dict[str, Any]] = []
    groups: list[int | None] = [None] if together else list(range(len(channels)))
    # per group, what its next round decodes: (source, interval, still to be padded)
    pending: dict[int | None, list[tuple[int, Interval, bool]]] = {
        g: [(i, iv, True) for i, (_, _, ivs) in enumerate(channels) for iv in ivs
            if g is None or i == g] for g in groups}
    rounds = dict.fromkeys(groups, 0)
    retried: set[tuple[int, float]] = set()

    def plan(g: int | None) -> tuple[list[Window], DecodeOptions]:
        padded = [(i, iv) for i in range(len(sources)) for iv in _pad_intervals(
            [(iv, pad) for s, iv, pad in pending[g] if s == i], decode_pad_s,
            len(sources[i]) / SAMPLE_RATE)]
        own = options if g is None else (decode_for or {}).get(speakers[g], options)
        return pack_windows(sources, padded, window_max_s, window_gap_s, normalize, fill), own

    def absorb(window: Window, segments: list[tuple[dict[str, Any], list[tuple[int, Word]]]]
               ) -> list[tuple[int, Interval, bool]]:
        """Keep a decoded window's words; return what its next round must decode again."""
        again: list[tuple[int, Interval, bool]] = []
        heard_until: dict[int, float] = {}  # chunk index → end of its last word
        for seg, mapped in segments:
            for idx, w in mapped:
                heard_until[idx] = max(heard_until.get(idx, 0.0), w.end)
            by_chunk: dict[int, list[tuple[Word, str]]] = {}
            for idx, w in mapped:
                by_chunk.setdefault(idx, []).append((w, seg["raw"][id(w)]))
            for idx, pairs in by_chunk.items():
                speaker = speakers[window.chunks[idx].source]
                pairs, looped = _split_loop(pairs)
                if looped:
                    text = to_simplified("".join(raw for _, raw in looped).strip())
                    dropped.append({"speaker": speaker, "start": looped[0][0].start,
                                    "end": looped[-1][0].end, "text": text, "reason": "loop"})
                    logger.info("dropped %s loop %r", speaker, text)
                    if not pairs:
                        continue
                kept = [w for w, _ in pairs]
                text = to_simplified("".join(raw for _, raw in pairs).strip())
                info = SegmentInfo(text, get_compression_ratio(text), seg["no_speech_prob"],
                                   seg["avg_logprob"])
                reason = options.filter.reason(info)
                if reason is None or reason == "empty":
                    words[speaker].extend(kept)
                    continue
                dropped.append({
                    "speaker": speaker, "start": kept[0].start, "end": kept[-1].end,
                    "text": text, "reason": reason,
                    "compression_ratio": round(info.compression_ratio, 3),
                    "no_speech_prob": round(info.no_speech_prob, 4),
                    "avg_logprob": round(info.avg_logprob, 4),
                })
                logger.info("dropped %s text %r (%s)", speaker, text, reason)
        last = max(heard_until, default=0)  # nothing heard: give up on the first chunk only
        for idx, chunk in enumerate(window.chunks):
            if idx > last or (idx < last and idx not in heard_until
                              and (chunk.source, chunk.start_s) not in retried):
                # after the last chunk heard, or skipped before it (once: a cough or noise
                # is allowed to stay silent)
                retried.add((chunk.source, chunk.start_s))
                again.append((chunk.source, Interval(chunk.start_s, chunk.end_s), False))
            elif idx == last and idx in heard_until \
                    and chunk.end_s - heard_until[idx] >= _TAIL_MIN_S:
                # the unheard tail: no padding before it, or the last word is heard twice
                again.append((chunk.source, Interval(heard_until[idx], chunk.end_s), False))
        if on_progress is not None:
            on_progress(sum(c.duration_s for c in window.chunks[: last + 1]))
        return again

    # Each group (channel) goes through its rounds on its own; a round's windows are decoded
    # ``batch_size`` at a time by whichever decoder is free, so two decoders stay busy while
    # one channel waits for its next round. A round is absorbed in window order once all its
    # windows are back, so the words do not depend on which decoder finished first.
    step = max(1, batch_size)
    with ThreadPoolExecutor(max(1, decoders), thread_name_prefix="callqa-decoder") as pool:
        running: dict[Future, tuple[int | None, int]] = {}
        current: dict[int | None, tuple[list[Window], list[Any]]] = {}

        def start_round(g: int | None) -> None:
            if not pending[g] or rounds[g] >= max_rounds:
                return
            windows, own = plan(g)
            rounds[g] += 1
            if stats is not None:
                stats["windows"] = stats.get("windows", 0) + len(windows)
                stats["rounds"] = max(stats.get("rounds", 0), rounds[g])
            current[g] = (windows, [None] * len(windows))
            for i in range(0, len(windows), step):
                running[pool.submit(_decode_windows, model, windows[i: i + step], own,
                                    batch_size)] = (g, i)

        # the group with the most speech first: its later rounds are the longest path
        for g in sorted(groups, key=lambda g: -sum(iv.duration for _, iv, _ in pending[g])):
            start_round(g)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                g, i = running.pop(future)
                windows, results = current[g]
                out = future.result()
                results[i: i + len(out)] = out
                if any(gg == g for gg, _ in running.values()):
                    continue
                pending[g] = [p for window, segments in zip(windows, results)
                              for p in absorb(window, segments)]
                start_round(g)
    left = sum(len(p) for p in pending.values())
    if left:
        logger.warning("%d speech chunks left undecoded after %d rounds", left, max_rounds)
    dropped.sort(key=lambda d: (d["start"], d["end"], d["speaker"]))
    for ws in words.values():
        ws.sort(key=lambda w: (w.start, w.end))
    return words, dropped


def _split_loop(pairs: list[tuple[Word, str]]
                ) -> tuple[list[tuple[Word, str]], list[tuple[Word, str]]]:
    """(the words outside a looped run, the words inside it): see
    :func:`callqa.asr.whisper.hallucinations.loop_span`."""
    keys = [normalize_match(to_simplified(raw)) for _, raw in pairs]
    span = loop_span("".join(keys))
    if span is None:
        return pairs, []
    keep, loop, pos = [], [], 0
    for pair, key in zip(pairs, keys):
        inside = span[0] <= pos and pos + len(key) <= span[1] and key
        (loop if inside else keep).append(pair)
        pos += len(key)
    return keep, loop


def _pad_intervals(pending: Sequence[tuple[Interval, bool]], pad_s: float,
                   total_s: float) -> list[Interval]:
    """Widen each speech interval by ``pad_s`` of the surrounding recording for decoding only:
    Whisper misreads a first syllable that starts right at the edge of its input. Neighbours
    never overlap (they are cut at the middle of their gap). Intervals flagged False are
    already padded (re-queued chunks) and stay as they are."""
    out: list[Interval] = []
    ordered = sorted(pending, key=lambda p: p[0].start)
    for i, (iv, pad) in enumerate(ordered):
        if not pad or pad_s <= 0:
            out.append(iv)
            continue
        lo = ordered[i - 1][0].end if i else 0.0
        hi = ordered[i + 1][0].start if i + 1 < len(ordered) else total_s
        start = max(iv.start - pad_s, (lo + iv.start) / 2 if i else 0.0)
        end = min(iv.end + pad_s, (iv.end + hi) / 2 if i + 1 < len(ordered) else total_s)
        out.append(Interval(max(0.0, start), min(total_s, end)))
    return out


def _decode_windows(model: "WhisperModel", windows: Sequence[Window], options: DecodeOptions,
                    batch_size: int) -> list[list[tuple[dict[str, Any], list[tuple[int, Word]]]]]:
    """Decode windows; per window, its segments with their words mapped to the recording.

    The windows go to faster-whisper's batched pipeline, each as one clip in a 30 s slot of a
    virtual recording: one encoder pass and one decode per window, and no re-seeking into the
    silence after the last word (where the sequential decoder hallucinates). A window's words
    do not depend on the windows decoded beside it (tested). Each segment dict carries
    ``raw``: the word's text as Whisper wrote it, by ``id`` of the mapped :class:`Word`.
    """
    from faster_whisper import BatchedInferencePipeline

    if not windows:
        return []
    slot = 30 * SAMPLE_RATE
    virtual = np.zeros(slot * len(windows), np.float32)
    clips = []
    for i, window in enumerate(windows):
        virtual[i * slot: i * slot + len(window.audio)] = window.audio[:slot]
        clips.append({"start": i * 30.0, "end": i * 30.0 + min(len(window.audio), slot) /
                      SAMPLE_RATE})
    segments, _info = BatchedInferencePipeline(model).transcribe(
        virtual, clip_timestamps=clips, batch_size=batch_size, **options.transcribe_kwargs())
    results: list[list[tuple[dict[str, Any], list[tuple[int, Word]]]]] = [[] for _ in windows]
    for seg in segments:
        index = min(int(seg.start // 30.0), len(windows) - 1)
        window, offset = windows[index], index * 30.0
        mapped: list[tuple[int, Word]] = []
        raw: dict[int, str] = {}
        for w in seg.words or ():
            start, end = float(w.start) - offset, float(w.end) - offset
            # Anchor on the word's end: after a pause Whisper's alignment lets the first word
            # of the next segment *start* inside the silence (often inside the padding between
            # packed chunks), while its end stays on the speech.
            idx = window.chunk_index_at(max(start, end - _END_ANCHOR_S))
            chunk = window.chunks[idx]
            text = _clean_word(w.word)
            if text:
                word = Word(text, round(chunk.to_original(start), 3),
                            round(chunk.to_original(end), 3), float(w.probability))
                raw[id(word)] = w.word
                mapped.append((idx, word))
        results[index].append(({
            "text": to_simplified(seg.text.strip()),
            "raw": raw,
            "no_speech_prob": float(seg.no_speech_prob),
            "avg_logprob": float(seg.avg_logprob),
        }, mapped))
    return results
