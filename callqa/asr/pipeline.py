"""``transcribe_call``: one recording in, one :class:`callqa.transcript.Transcript` out.

Stages, each a module with a typed input and output:

1. decode (:mod:`callqa.asr.audio`): the file → 16 kHz channels;
2. speech per party (:mod:`callqa.asr.parties`): line echo muted between stereo tracks
   (:mod:`callqa.asr.echo`), a track with background voices enhanced
   (:mod:`callqa.asr.enhance`), Silero VAD (:mod:`callqa.asr.vad`), a mono track split into one
   or two voices (:mod:`callqa.asr.speakers`);
3. recognise (:mod:`callqa.asr.recognizer`): each party's speech → timed words, through the
   :class:`~callqa.asr.recognizer.Recognizer` interface (faster-whisper today);
4. transcript: turns from the speech intervals, words placed into them, and for a split mono
   track the roles decided from what each voice says first.

Results are cached by audio hash, model and options (:mod:`callqa.asr.cache`).
"""

from __future__ import annotations

import logging
import os
import platform
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, ClassVar

from faster_whisper.vad import VadOptions

from callqa import __version__
from callqa.asr import cache
from callqa.asr.audio import DecodedAudio, load_audio, load_legs
from callqa.asr.parties import Parties, speech_per_party
from callqa.asr.recognizer import (BACKENDS, Recognizer, available_cores, create_recognizer,
                                   recognizer_model_id)
from callqa.asr.speakers import attribute
from callqa.asr.utterances import (join_words, worded_speech, words_by_stretch,
                                    words_to_utterances)
from callqa.asr.vad import (PHONE_VAD, QUIET_BELOW_DB, UTTERANCE_MERGE_GAP_S, group_turns,
                            vad_options_dict)
from callqa.transcript import AGENT, CUSTOMER, ROLES_CHANNELS, ROLES_SEPARATED, ROLES_SINGLE, \
    ROLES_UNCERTAIN, Interval, Transcript, Utterance, Word

__all__ = ["AsrOptions", "transcribe_call", "load_recognizer", "recognizer_model_id", "MONO_NOTE",
           "stats"]

logger = logging.getLogger("callqa.asr")

MONO_NOTE = ("mono recording with one voice: transcribed as the agent alone; rules that need "
             "both parties are not applicable")
SEPARATED_NOTE = ("mono recording with two voices: each stretch of speech attributed to agent or "
                  "customer (confidence {confidence:.2f}: {reasons})")
UNCERTAIN_NOTE = ("roles uncertain: mono recording with two voices whose turns could not be "
                  "attributed with confidence ({confidence:.2f}: {reasons}); no phrase may be "
                  "charged to either party")

#: Process-wide counters (tests use them to see whether the model ran or the cache answered).
stats = {"transcribed": 0, "cache_hits": 0}


@dataclass(frozen=True)
class AsrOptions:
    """How a call is transcribed. Everything except ``model_dir``, ``cache_dir`` and
    ``cpu_threads`` is part of the transcript cache key.

    Attributes:
        backend: the recogniser (:data:`callqa.asr.recognizer.BACKENDS`; ``whisper``).
        model: ``base`` (the embedded whisper-base), a local CTranslate2 model directory, or a
            faster-whisper model name (downloaded: needs internet).
        model_dir: where the embedded model is assembled (default
            ``$XDG_CACHE_HOME/callqa/models/whisper-base``).
        device: ``cpu`` or ``cuda``.
        compute_type: CTranslate2 compute type; None → int8 on CPU, float16 on CUDA.
        cpu_threads: CTranslate2 threads per decoder; 0 (default): the cores shared among the
            decoders.
        decoders: windows decoded in parallel, each by its own model replica (CTranslate2
            ``num_workers``; the weights are shared). 0 (default) chooses: on CPU with
            ``cpu_threads`` unset, two single-threaded decoders on two cores (whisper-base's
            matrices are too small for two threads to halve a window's time: a sample call's
            ASR 1.7–1.9× faster, docs/asr.md "Decoders"), else one. Does not change the
            transcript (tested), so it is not part of the key.
        agent_channel: ``left`` or ``right``: which stereo channel is the agent.
        hotwords: domain nouns (company, product, place names) to bias recognition towards;
            never the phrases the rules check.
        language: Whisper language code.
        beam_size: beam width for decoding.
        customer_beam_size: beam width for the customer's track; 0 (default) uses
            ``beam_size``. The customer's words are only context for the rules (complaint,
            dictated details, thanks): a narrower beam is cheaper (issue 20, measured in
            docs/benchmarks.md, "Cheaper decode for the customer's track").
        initial_prompt: optional prompt; None by default (measured: a prompt costs accuracy
            with whisper-base). If set, it must be neutral (``whisper.windows.NEUTRAL_PROMPT``).
        vad_threshold, vad_min_speech_ms, vad_min_silence_ms, vad_speech_pad_ms,
        vad_max_speech_s: Silero VAD settings (see ``callqa.asr.vad.PHONE_VAD``).
        vad_quiet_below_db: runs of 0.5 s this far under the track's speech level are cut
            out of Silero's intervals (background voices; ``callqa.asr.vad.QUIET_BELOW_DB``);
            0 keeps them.
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
        enhance_background: run a track whose floor shows background voices through speech
            enhancement (DeepFilterNet3) before VAD and recognition (:mod:`callqa.asr.enhance`).
        echo_suppression: mute line echo between stereo tracks before VAD
            (:mod:`callqa.asr.echo`).
        separate_voices: attribute the speech of a mono recording with two voices to agent and
            customer (:mod:`callqa.asr.speakers`); off: a mono recording is the agent alone.
        roles_min_confidence: below this attribution confidence a two-voice mono call is
            marked ``roles uncertain``.
        cache_dir: transcript cache directory (default ``$XDG_CACHE_HOME/callqa/transcripts``).

    Generic settings (agent channel, language, VAD, turns, the front end) apply to any
    recogniser; the Whisper-only ones (``WHISPER_ONLY``) reach the recogniser as
    :class:`~callqa.asr.whisper.recognizer.WhisperSettings` (:func:`callqa.asr.whisper.settings`).
    """

    backend: str = "whisper"
    model: str = "base"
    model_dir: str | None = None
    device: str = "cpu"
    compute_type: str | None = None
    cpu_threads: int = 0
    decoders: int = 0
    agent_channel: str = "left"
    hotwords: tuple[str, ...] = ()
    language: str = "zh"
    beam_size: int = 5
    customer_beam_size: int = 0
    initial_prompt: str | None = None
    vad_threshold: float = PHONE_VAD.threshold
    vad_min_speech_ms: int = PHONE_VAD.min_speech_duration_ms
    vad_min_silence_ms: int = PHONE_VAD.min_silence_duration_ms
    vad_speech_pad_ms: int = PHONE_VAD.speech_pad_ms
    vad_max_speech_s: float = PHONE_VAD.max_speech_duration_s
    vad_quiet_below_db: float = QUIET_BELOW_DB
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
    echo_suppression: bool = True
    enhance_background: bool = True
    separate_voices: bool = True
    roles_min_confidence: float = 0.7
    cache_dir: str | None = None

    #: Settings only the Whisper recogniser reads.
    WHISPER_ONLY: ClassVar[tuple[str, ...]] = (
        "model", "model_dir", "device", "compute_type", "cpu_threads", "decoders", "hotwords",
        "beam_size", "customer_beam_size", "initial_prompt", "window_max_s", "window_gap_s",
        "decode_pad_s", "without_timestamps", "channels_together", "pack_fill", "batch_size",
        "compression_ratio_max", "no_speech_prob_max", "avg_logprob_min")

    #: Options that cannot change a transcript (not recorded, not in the cache key).
    #: ``backend`` is not keyed: the model id in the key already names the backend's model.
    NOT_KEYED: ClassVar[tuple[str, ...]] = ("backend", "model_dir", "cache_dir", "cpu_threads",
                                            "decoders", "batch_size")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(sorted(BACKENDS))}, "
                             f"not {self.backend!r}")
        if self.agent_channel not in ("left", "right"):
            raise ValueError(f"agent_channel must be 'left' or 'right', not {self.agent_channel!r}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu' or 'cuda', not {self.device!r}")
        if not 1.0 <= self.window_max_s <= 30.0:
            raise ValueError("window_max_s must be between 1 and 30 (Whisper's input length)")
        if self.beam_size < 1 or self.customer_beam_size < 0:
            raise ValueError("beam_size must be 1 or more, customer_beam_size 0 (the same) or more")
        if self.batch_size < 0:
            raise ValueError("batch_size must be 0 (automatic) or more")
        if self.decoders < 0 or self.cpu_threads < 0:
            raise ValueError("decoders and cpu_threads must be 0 (automatic) or more")
        object.__setattr__(self, "hotwords", tuple(h for h in self.hotwords if h.strip()))

    @property
    def resolved_parallelism(self) -> tuple[int, int]:
        """(decoders, CTranslate2 threads per decoder; 0: CTranslate2 decides)."""
        if self.device != "cpu":
            return max(1, self.decoders), self.cpu_threads
        cores = available_cores()
        decoders = self.decoders or (1 if self.cpu_threads else min(2, cores))
        return decoders, self.cpu_threads or max(1, cores // decoders)

    @property
    def resolved_batch_size(self) -> int:
        if self.batch_size:
            return self.batch_size
        return 1 if self.device == "cpu" and self.resolved_parallelism[1] == 1 else 4

    @property
    def resolved_compute_type(self) -> str:
        from callqa.asr.whisper.models import default_compute_type

        return self.compute_type or default_compute_type(self.device)

    def vad_options(self) -> VadOptions:
        return VadOptions(threshold=self.vad_threshold,
                          min_speech_duration_ms=self.vad_min_speech_ms,
                          min_silence_duration_ms=self.vad_min_silence_ms,
                          speech_pad_ms=self.vad_speech_pad_ms,
                          max_speech_duration_s=self.vad_max_speech_s)

    def keyed(self) -> dict[str, Any]:
        """The options that can change a transcript (recorded in it, and part of the cache key)."""
        d = {k: v for k, v in asdict(self).items() if k not in self.NOT_KEYED}
        d["compute_type"] = self.resolved_compute_type
        d["hotwords"] = list(self.hotwords)
        if self.customer_beam_size in (0, self.beam_size):  # the same beam: keys as before
            del d["customer_beam_size"]
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
    customer: str | Path | None = None,
    offset_s: float = 0.0,
) -> Transcript:
    """Transcribe one recording into a :class:`Transcript`.

    Args:
        path: wav/flac/ogg/mp3/m4a, mono (agent only) or stereo (agent + customer); with
            ``customer``, the agent's leg of a call recorded as two files.
        customer: the customer's leg (mono); ``offset_s``: how many seconds after the agent's
            file it starts (negative: before). The legs are decoded into one two-channel call
            (:func:`callqa.asr.audio.load_legs`), agent first.
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
    if customer is None:
        audio = load_audio(path)
    else:
        audio = load_legs(path, customer, offset_s)
        options = replace(options, agent_channel="left")
    keyed = options.keyed()
    key = cache.cache_key(audio.sha256, recognizer_model_id(options, progress=progress), keyed)
    if use_cache:
        hit = cache.load_cached(options.cache_dir, key)
        if hit is not None:
            stats["cache_hits"] += 1
            logger.info("transcript cache hit for %s", path)
            hit.call_id, hit.agent_id = call_id, agent_id
            return hit

    from concurrent.futures import ThreadPoolExecutor

    # the model loads (1–2 s cold, one core) while the front end reads the tracks
    with ThreadPoolExecutor(1, thread_name_prefix="callqa-model") as pool:
        loading = pool.submit(create_recognizer, options, progress=progress)
        transcript = _transcribe(audio, options, loading.result, call_id, agent_id, progress)
    transcript.asr["cache_key"] = key
    if customer is not None:
        transcript.asr["legs"] = {"agent": str(path), "customer": str(customer),
                                  "offset_s": offset_s}
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


def load_recognizer(options: AsrOptions, *, progress: bool = False) -> Recognizer:
    """The recogniser ``options`` ask for, its model loaded (once per process): what a
    worker process calls up front so that its first call does not pay for the load."""
    return create_recognizer(options, progress=progress)


def _attribute_mono(parties: Parties, words: list[Word], options: AsrOptions
                    ) -> tuple[dict[str, list[Interval]], dict[str, list[Word]], str, float | None,
                               list[str], dict[str, Any]]:
    """Who said which stretch of a mono recording: speech and words per role, the roles value,
    its confidence, notes and what to record."""
    party = parties.parties[0]
    stretches = list(party.speech)
    if not options.separate_voices:
        return {AGENT: stretches}, {AGENT: words}, ROLES_SINGLE, None, [MONO_NOTE], {}
    per_stretch = words_by_stretch(words, stretches)
    found = attribute(party.samples, stretches, [join_words([w.text for w in ws])
                                                 for ws in per_stretch])
    info = {"voices": found.voices, "confidence": found.confidence,
            "voice_separation": round(found.separation, 3), "reasons": list(found.reasons)}
    if found.voices == 1:
        return {AGENT: stretches}, {AGENT: words}, ROLES_SINGLE, None, [MONO_NOTE], info
    speech: dict[str, list[Interval]] = {AGENT: [], CUSTOMER: []}
    by_role: dict[str, list[Word]] = {AGENT: [], CUSTOMER: []}
    for iv, ws, label in zip(stretches, per_stretch, found.labels):
        role = AGENT if label == 0 else CUSTOMER
        speech[role].append(iv)
        by_role[role] += ws
    certain = found.confidence >= options.roles_min_confidence
    note = (SEPARATED_NOTE if certain else UNCERTAIN_NOTE).format(
        confidence=found.confidence, reasons="; ".join(found.reasons))
    return (speech, by_role, ROLES_SEPARATED if certain else ROLES_UNCERTAIN, found.confidence,
            [note], info)


def _transcribe(audio: DecodedAudio, options: AsrOptions, recognizer: Callable[[], Recognizer],
                call_id: str, agent_id: str | None, progress: bool) -> Transcript:
    """``recognizer`` gives the recogniser once the front end is done (it may be loading)."""
    started = time.perf_counter()
    vad = options.vad_options()
    parties = speech_per_party(audio, vad, agent_channel=options.agent_channel,
                               echo=options.echo_suppression,
                               quiet_below_db=options.vad_quiet_below_db,
                               enhance=options.enhance_background)
    front_s = time.perf_counter() - started

    total_speech = sum(iv.duration for p in parties.parties for iv in p.speech)
    with _progress(progress) as bar:
        task = bar.add_task(f"transcribing {audio.path}", total=total_speech) if bar else None
        recognizer = recognizer()
        recognised = recognizer.recognise(
            parties.parties, on_progress=(lambda s: bar.advance(task, s)) if bar else None)
    stats["transcribed"] += 1

    notes: list[str] = []
    roles, confidence = ROLES_CHANNELS, None
    if parties.mono:
        speech, words, roles, confidence, notes, info = _attribute_mono(
            parties, recognised.words[AGENT], options)
        parties.info["mono"] = info
        for d in recognised.dropped:  # a dropped piece belongs to whoever has that stretch
            d["speaker"] = next((r for r, ivs in speech.items() for iv in ivs
                                 if iv.start <= d["start"] <= iv.end), AGENT)
    else:
        speech = {p.speaker: list(p.speech) for p in parties.parties}
        words = recognised.words
        enhanced = parties.info.get("enhance", {})
        for p in parties.parties:
            if enhanced.get(p.speaker, {}).get("enhanced"):
                # on a track with background voices, a burst in which Whisper kept no word (or
                # only a loop) is a colleague, not the party: it must not break a silence or a
                # hold into short gaps (docs/benchmarks.md, "issue 19 — noisy room")
                speech[p.speaker], unworded = worded_speech(p.speaker, speech[p.speaker],
                                                            words[p.speaker])
                recognised.dropped.extend(unworded)
    utterances: list[Utterance] = []
    for role, own in speech.items():
        others = [iv for r, ivs in speech.items() if r != role for iv in ivs]
        turns = group_turns(own, others, options.utterance_merge_gap_s)
        utterances += words_to_utterances(words[role], turns, role)
    utterances.sort(key=lambda u: (u.start, u.end))
    elapsed = time.perf_counter() - started

    asr = {
        **recognizer.describe(),
        # Whisper's exact words differ between CPU instruction sets: recorded so a disputed
        # score can be traced to the machine that heard it.
        "cpu": cpu_description(),
        "callqa_version": __version__,
        "options": options.keyed(),
        "vad": {**vad_options_dict(vad), "quiet_below_db": options.vad_quiet_below_db,
                "utterance_merge_gap_s": options.utterance_merge_gap_s},
        "front_end": parties.info,
        "audio_sha256": audio.sha256,
        "source_sample_rate": audio.source_sample_rate,
        "channels": len(audio.channels),
        "agent_channel": None if len(audio.channels) == 1 else options.agent_channel,
        "timing_s": {"front_end": round(front_s, 3), "total": round(elapsed, 3)},
        "decode": recognised.stats,
    }
    logger.info("transcribed %s: %.1f s audio in %.1f s", audio.path, audio.duration_s, elapsed)
    return Transcript(
        call_id=call_id,
        agent_id=agent_id,
        duration=round(audio.duration_s, 3),
        utterances=utterances,
        speech=speech,
        speakers=tuple(speech),
        asr=asr,
        dropped=sorted(recognised.dropped, key=lambda d: d["start"]),
        notes=notes,
        roles=roles,
        roles_confidence=None if confidence is None else round(confidence, 3),
    )
