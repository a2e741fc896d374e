#!/usr/bin/env python
"""Cost floor of the score path: what whisper-base costs per 30 s window here, and the fastest
callqa could score the sample corpus if every window were full of speech.

    python bench/encoder_cost.py                 # ~3 min on 2 cores, markdown on stdout
    python bench/encoder_cost.py --calls call_01,call_02,call_03 --threads 2

Three measurements, one process, the embedded model (int8 on CPU):

1. **Encoder vs input length**: ``WhisperModel.model.encode`` on 30, 20, 15, 10 and 5 s of
   log-mel features (best of 3). faster-whisper always pads to 30 s; a shorter input is
   cheaper (attention is quadratic) but Whisper was trained on 30 s inputs only — see
   docs/benchmarks.md for what truncating it did to accuracy.
2. **Per-window cost on real calls**: ``transcribe_call`` on a few sample calls, timing every
   CTranslate2 call (``encode``, ``generate``, ``align``) through a proxy, divided by the
   windows the call needed; once with beam 5 (default) and once with beam 1.
3. **Floor**: over all sample calls, each channel's VAD speech needs at least
   ``ceil(speech / 30 s)`` windows. Floor = measured reading + VAD time of every call + that
   many windows × the measured per-window cost. No packing, padding or re-decoding can do
   better without shortening what the encoder sees or decoding more cheaply.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from callqa.asr.audio import load_audio  # noqa: E402
from callqa.asr.whisper.models import load_model, resolve_model  # noqa: E402
from callqa.asr.pipeline import AsrOptions, transcribe_call  # noqa: E402
from callqa.asr.vad import speech_intervals  # noqa: E402

WINDOW_S = 30.0
TIMED = ("encode", "generate", "align")


class _Timed:
    """Stands in for the CTranslate2 model: adds up the wall time of each timed method."""

    def __init__(self, inner):
        self._inner = inner
        self.seconds = dict.fromkeys(TIMED, 0.0)

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name not in TIMED:
            return attr

        def call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t
        return call


def encoder_by_length(model, lengths_s: list[float], repeat: int = 3) -> list[tuple[float, float]]:
    import ctranslate2

    rng = np.random.default_rng(0)
    audio = (rng.normal(0, 0.05, int(WINDOW_S * 16000))).astype(np.float32)
    features = model.feature_extractor(audio)[..., :3000]
    out = []
    for length in lengths_s:
        frames = np.ascontiguousarray(features[None, :, : int(length * 100)])
        model.model.encode(ctranslate2.StorageView.from_array(frames))  # warm up
        best = math.inf
        for _ in range(repeat):
            t = time.perf_counter()
            model.model.encode(ctranslate2.StorageView.from_array(frames))
            best = min(best, time.perf_counter() - t)
        out.append((length, best))
    return out


def per_window(model, calls: list[Path], options: AsrOptions) -> dict[str, float]:
    timed = _Timed(model.model)
    model.model = timed
    windows = 0
    audio_s = wall = 0.0
    try:
        for path in calls:
            t = time.perf_counter()
            transcript = transcribe_call(path, options, use_cache=False)
            wall += time.perf_counter() - t
            windows += transcript.asr["decode"]["windows"]
            audio_s += transcript.duration
    finally:
        model.model = timed._inner
    out = {k: v / windows for k, v in timed.seconds.items()}
    out.update(windows=windows, audio_s=audio_s, wall_s=wall)
    return out


def corpus_speech(options: AsrOptions) -> dict[str, float]:
    vad = options.vad_options()
    audio_s = read_s = vad_s = speech_s = 0.0
    windows = 0
    for path in sorted(SAMPLES.glob("*.flac")):
        t = time.perf_counter()
        audio = load_audio(path)
        read_s += time.perf_counter() - t
        audio_s += audio.duration_s
        for channel in audio.channels:
            t = time.perf_counter()
            speech = sum(iv.duration for iv in speech_intervals(channel, vad))
            vad_s += time.perf_counter() - t
            speech_s += speech
            windows += math.ceil(speech / WINDOW_S)
    return {"audio_s": audio_s, "read_s": read_s, "vad_s": vad_s, "speech_s": speech_s,
            "windows": windows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", default="call_01,call_02,call_03",
                    help="comma-separated sample call prefixes for the per-window cost")
    ap.add_argument("--threads", type=int, default=0, help="CTranslate2 cpu_threads (0: auto)")
    args = ap.parse_args()

    options = AsrOptions(cpu_threads=args.threads)
    model = load_model(resolve_model(options.model, options.model_dir), options.device,
                       options.resolved_compute_type, options.cpu_threads)
    calls = [p for prefix in args.calls.split(",") for p in sorted(SAMPLES.glob(prefix + "*.flac"))]
    if not calls:
        raise SystemExit(f"no sample call matches {args.calls!r} in {SAMPLES}")

    print("### Encoder cost vs input length (one window, best of 3)\n")
    print("| input s | encoder wall s | s per input s |")
    print("|---:|---:|---:|")
    for length, secs in encoder_by_length(model, [30, 20, 15, 10, 5]):
        print(f"| {length:.0f} | {secs:.3f} | {secs / length:.4f} |")

    print(f"\n### Per-window cost of the score path ({', '.join(p.stem for p in calls)})\n")
    print("| beam | windows | encode s/window | generate s/window | align s/window | "
          "model s/window | call wall × audio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    costs = {}
    for beam in (5, 1):
        c = per_window(model, calls, AsrOptions(cpu_threads=args.threads, beam_size=beam))
        costs[beam] = c["encode"] + c["generate"] + c["align"]
        print(f"| {beam} | {c['windows']} | {c['encode']:.3f} | {c['generate']:.3f} | "
              f"{c['align']:.3f} | {costs[beam]:.3f} | {c['wall_s'] / c['audio_s']:.3f} |")

    s = corpus_speech(options)
    print(f"\n### Floor over the {len(list(SAMPLES.glob('*.flac')))} sample calls\n")
    print(f"audio {s['audio_s']:.0f} s, VAD speech {s['speech_s']:.0f} s (both channels), "
          f"fewest 30 s windows {s['windows']}; reading {s['read_s']:.1f} s, "
          f"VAD {s['vad_s']:.1f} s\n")
    print("| beam | floor wall s | floor × audio |")
    print("|---:|---:|---:|")
    for beam, cost in costs.items():
        floor = s["read_s"] + s["vad_s"] + s["windows"] * cost
        print(f"| {beam} | {floor:.1f} | {floor / s['audio_s']:.3f} |")
    load = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} CPUs, load average at end {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
