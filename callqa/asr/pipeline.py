"""``transcribe_call``: one recording in, one :class:`callqa.transcript.Transcript` out.

Steps: decode and split channels (:mod:`callqa.asr.audio`) → speech intervals per channel
(:mod:`callqa.asr.vad`) → turns from those intervals → Whisper on the speech only, words mapped
back onto the timeline and placed into turns (:mod:`callqa.asr.transcribe`), hallucinations
dropped and recorded (:mod:`callqa.asr.hallucinations`). Results are cached by audio hash,
model and options (:mod:`callqa.asr.cache`).
"""

from __future__ import annotations

import logging
import os
import platform
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import ctranslate2
from faster_whisper.vad import VadOptions

from callqa import __version__
from callqa.asr import cache
from callqa.asr.audio import DecodedAudio, load_audio
from callqa.asr.hallucinations import HallucinationFilter
from callqa.asr.models import default_compute_type, load_model, resolve_model
from callqa.asr.transcribe import DecodeOptions, transcribe_channels, words_to_utterances
from callqa.asr.vad import PHONE_VAD, UTTERANCE_MERGE_GAP_S, group_turns, speech_intervals, \
    vad_options_dict

from callqa.transcript import AGENT, CUSTOMER, Interval, Transcript

__all__ = ["AsrOptions", "transcribe_call", "MONO_NOTE", "stats"]

logger = logging.getLogger("callqa.asr")

MONO_NOTE = ("mono recording: transcribed as the agent alone; rules that need both parties "
             "are not applicable")

#: Process-wide counters (tests use them to see whether the model ran or the cache answered).
stats = {"transcribed": 0, "cache_hits": 0}


@dataclass(frozen=True)
class AsrOptions:
    """How a call is transcribed. Everything except ``model_dir``, ``cache_dir`` and
    ``cpu_threads`` is part of the transcript cache key.

    Attributes:
        model: ``base`` (the embedded whisper-base), a local CTranslate2 model directory, or a
            faster-whisper model name (downloaded: needs internet).
        model_dir: where the embedded model is assembled (default
            ``$XDG_CACHE_HOME/callqa/models/whisper-base``).
        device: ``cpu`` or ``cuda``.
        compute_type: CTranslate2 compute type; None → int8 on CPU, float16 on CUDA.
        cpu_threads: CTranslate2 threads; 0 lets it decide.
        agent_channel: ``left`` or ``right``: which stereo channel is the agent.
        hotwords: domain nouns (company, product, place names) to bias recognition towards;
            never the phrases the rules check.
        language: Whisper language code.
        beam_size: beam width for decoding.
        initial_prompt: optional prompt; None by default (measured: a prompt costs accuracy
            with whisper-base). If set, it must be neutral (``transcribe.NEUTRAL_PROMPT``).
        vad_threshold, vad_min_speech_ms, vad_min_silence_ms, vad_speech_pad_ms,
        vad_max_speech_s: Silero VAD settings (see ``callqa.asr.vad.PHONE_VAD``).
        utterance_merge_gap_s: pauses shorter than this stay inside one turn.
        window_max_s: longest packed window of speech given to Whisper at once.
        window_gap_s: silence inserted between packed speech chunks.
        decode_pad_s: recording context added around each speech interval for decoding only
            (never past the midpoint to the neighbouring interval); turn times are unaffected.
        without_timestamps: decode windows without Whisper's timestamp tokens (word times
            still come from alignment). Off: measured faster, but worse CER on the real clips
            placed in a call (docs/benchmarks.md, "Speed").
        channels_together: pack both parties' speech into shared windows (fewer encoder
            passes). Off for the same reason.
        pack_fill: pack windows first-fit decreasing instead of in time order (fewer windows).
            Off for the same reason.
        batch_size: windows decoded together by faster-whisper's batched pipeline; 0 (default)
            chooses: 1 with a single CPU thread (batching gains nothing there and each extra
            window holds ~70 MB of encoder activations), else 4. Does not change the
            transcript (measured: identical words and times), so it is not part of the key.
        compression_ratio_max, no_speech_prob_max, avg_logprob_min: hallucination filters.
        cache_dir: transcript cache directory (default ``$XDG_CACHE_HOME/callqa/transcripts``).
    """

    model: str = "base"
    model_dir: str | None = None
    device: str = "cpu"
    compute_type: str | None = None
    cpu_threads: int = 0
    agent_channel: str = "left"
    hotwords: tuple[str, ...] = ()
    language: str = "zh"
    beam_size: int = 5
    initial_prompt: str | None = None
    vad_threshold: float = PHONE_VAD.threshold
    vad_min_speech_ms: int = PHONE_VAD.min_speech_duration_ms
    vad_min_silence_ms: int = PHONE_VAD.min_silence_duration_ms
    vad_speech_pad_ms: int = PHONE_VAD.speech_pad_ms
    vad_max_speech_s: float = PHONE_VAD.max_speech_duration_s
    utterance_merge_gap_s: float = UTTERANCE_MERGE_GAP_S
    window_max_s: float = 30.0
    window_gap_s: float = 0.5
    decode_pad_s: float = 1.0
    without_timestamps: bool = False
    channels_together: bool = False
    pack_fill: bool = False
    batch_size: int = 0
    compression_ratio_max: float = 2.4
    no_speech_prob_max: float = 0.6
    avg_logprob_min: float = -1.0
    cache_dir: str | None = None

    #: Options that cannot change a transcript (not recorded, not in the cache key).
    NOT_KEYED: ClassVar[tuple[str, ...]] = ("model_dir", "cache_dir", "cpu_threads",
                                            "batch_size")

    def __post_init__(self) -> None:
        if self.agent_channel not in ("left", "right"):
            raise ValueError(f"agent_channel must be 'left' or 'right', not {self.agent_channel!r}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu' or 'cuda', not {self.device!r}")
        if not 1.0 <= self.window_max_s <= 30.0:
            raise ValueError("window_max_s must be between 1 and 30 (Whisper's input length)")
        if self.batch_size < 0:
            raise ValueError("batch_size must be 0 (automatic) or more")
        object.__setattr__(self, "hotwords", tuple(h for h in self.hotwords if h.strip()))

    @property
    def resolved_batch_size(self) -> int:
        if self.batch_size:
            return self.batch_size
        return 1 if self.device == "cpu" and self.cpu_threads == 1 else 4

    @property
    def resolved_compute_type(self) -> str:
        return self.compute_type or default_compute_type(self.device)

    def vad_options(self) -> VadOptions:
        return VadOptions(threshold=self.vad_threshold,
                          min_speech_duration_ms=self.vad_min_speech_ms,
                          min_silence_duration_ms=self.vad_min_silence_ms,
                          speech_pad_ms=self.vad_speech_pad_ms,
                          max_speech_duration_s=self.vad_max_speech_s)

    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(language=self.language, beam_size=self.beam_size,
                             initial_prompt=self.initial_prompt, hotwords=self.hotwords,
                             without_timestamps=self.without_timestamps,
                             filter=HallucinationFilter(self.compression_ratio_max,
                                                        self.no_speech_prob_max,
                                                        self.avg_logprob_min))

    def keyed(self) -> dict[str, Any]:
        """The options that can change a transcript (recorded in it, and part of the cache key)."""
        d = {k: v for k, v in asdict(self).items() if k not in self.NOT_KEYED}
        d["compute_type"] = self.resolved_compute_type
        d["hotwords"] = list(self.hotwords)
        return d


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:.0f}/{task.total:.0f} s of speech"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)


def transcribe_call(
    path: str | Path,
    options: AsrOptions | None = None,
    *,
    agent_id: str | None = None,
    call_id: str | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> Transcript:
    """Transcribe one recording into a :class:`Transcript`.

    Args:
        path: wav/flac/ogg/mp3/m4a, mono (agent only) or stereo (agent + customer).
        options: ASR settings (defaults: embedded whisper-base, int8 on CPU, agent on the left).
        agent_id: recorded in the transcript; not part of the cache key.
        call_id: defaults to the file stem.
        use_cache: read and write the transcript cache.
        progress: progress bars on stderr (model assembly, decoding).

    Raises:
        AudioError: unreadable, empty or >2-channel audio.
        ModelError: the model cannot be prepared or loaded.
    """
    options = options or AsrOptions()
    path = Path(path)
    call_id = call_id or path.stem
    audio = load_audio(path)
    resolved = resolve_model(options.model, options.model_dir, progress=progress)
    keyed = options.keyed()
    key = cache.cache_key(audio.sha256, resolved.model_id, keyed)
    if use_cache:
        hit = cache.load_cached(options.cache_dir, key)
        if hit is not None:
            stats["cache_hits"] += 1
            logger.info("transcript cache hit for %s", path)
            hit.call_id, hit.agent_id = call_id, agent_id
            return hit

    transcript = _transcribe(audio, options, resolved, call_id, agent_id, progress)
    transcript.asr["cache_key"] = key
    if use_cache:
        cache.store(options.cache_dir, key, transcript)
    return transcript


def cpu_description() -> dict[str, str]:
    """The CPU model and the instruction set CTranslate2 dispatches to on it."""
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # not Linux
        pass
    isa = next((name for flag, name in (("avx512f", "AVX512"), ("avx2", "AVX2"), ("avx", "AVX"),
                                        ("sse4_1", "SSE4.1")) if flag in flags), "unknown")
    return {"model": model or platform.processor() or "unknown",
            "isa": os.environ.get("CT2_FORCE_CPU_ISA") or isa}


def _channel_roles(audio: DecodedAudio, agent_channel: str) -> list[tuple[str, int]]:
    if len(audio.channels) == 1:
        return [(AGENT, 0)]
    agent = 0 if agent_channel == "left" else 1
    return [(AGENT, agent), (CUSTOMER, 1 - agent)]


def _transcribe(audio: DecodedAudio, options: AsrOptions, resolved, call_id: str,
                agent_id: str | None, progress: bool) -> Transcript:
    started = time.perf_counter()
    roles = _channel_roles(audio, options.agent_channel)
    vad = options.vad_options()
    speech: dict[str, list[Interval]] = {
        role: speech_intervals(audio.channels[ch], vad) for role, ch in roles}
    vad_s = time.perf_counter() - started

    model = load_model(resolved, options.device, options.resolved_compute_type,
                       options.cpu_threads)
    decode = options.decode_options()
    utterances = []
    decode_stats: dict[str, int] = {}
    total_speech = sum(iv.duration for ivs in speech.values() for iv in ivs)
    with _progress(progress) as bar:
        task = bar.add_task(f"transcribing {audio.path}", total=total_speech) if bar else None
        words, dropped = transcribe_channels(
            model, [(role, audio.channels[ch], speech[role]) for role, ch in roles], decode,
            together=options.channels_together, fill=options.pack_fill, window_max_s=options.window_max_s,
            window_gap_s=options.window_gap_s, decode_pad_s=options.decode_pad_s,
            batch_size=options.resolved_batch_size,
            on_progress=(lambda s: bar.advance(task, s)) if bar else None,
            stats=decode_stats)
        for role, _ch in roles:
            others = [iv for r, ivs in speech.items() if r != role for iv in ivs]
            turns = group_turns(speech[role], others, options.utterance_merge_gap_s)
            utterances += words_to_utterances(words[role], turns, role)
    stats["transcribed"] += 1
    elapsed = time.perf_counter() - started

    notes = []
    if len(roles) == 1:
        notes.append(MONO_NOTE)
    import faster_whisper

    asr = {
        "engine": f"faster-whisper {faster_whisper.__version__}",
        # Whisper's exact words differ between CPU instruction sets: recorded so a disputed
        # score can be traced to the machine that heard it.
        "ctranslate2": ctranslate2.__version__,
        "cpu": cpu_description(),
        "callqa_version": __version__,
        "model": resolved.model_id,
        "device": options.device,
        "compute_type": options.resolved_compute_type,
        "options": options.keyed(),
        "vad": {**vad_options_dict(vad), "utterance_merge_gap_s": options.utterance_merge_gap_s},
        "audio_sha256": audio.sha256,
        "source_sample_rate": audio.source_sample_rate,
        "channels": len(audio.channels),
        "agent_channel": None if len(roles) == 1 else options.agent_channel,
        "timing_s": {"vad": round(vad_s, 3), "total": round(elapsed, 3)},
        "decode": decode_stats,
    }
    logger.info("transcribed %s: %.1f s audio in %.1f s", audio.path, audio.duration_s, elapsed)
    return Transcript(
        call_id=call_id,
        agent_id=agent_id,
        duration=round(audio.duration_s, 3),
        utterances=utterances,
        speech=speech,
        speakers=tuple(role for role, _ in roles),
        asr=asr,
        dropped=sorted(dropped, key=lambda d: d["start"]),
        notes=notes,
    )


