"""Mono attribution on real voices: two-speaker mono mixes built from ../shared/audio/real.

Usage::

    python bench/mono_real.py            # voice and turn structure only (no ASR, seconds)
    python bench/mono_real.py --asr      # the whole pipeline (transcribe_call) on each mix

TTS voices are easy to tell apart (or, in samples/, impossible: one voice for both parties),
so this checks the split on real speech. Speaker A is the 70 s FunASR VAD example (one real
speaker, natural pauses); speaker B is each other clip in turn. A's phrases (cut at its pauses)
alternate with B's (B's clip cut at its pauses, reused in turn when it runs out) with 0.6 s
gaps, at 8 kHz over faint line noise. The table gives the share of single-party speech time
attributed to the right speaker (A is taken as the agent: A speaks first), and the voice
separation measured; A alone must come out as one voice.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

REAL = ROOT.parent / "shared" / "audio" / "real"
SPEAKER_A = "funasr_vad_example_70s.wav"
RATE = 8000


def phrases(name: str) -> list[np.ndarray]:
    """A real clip cut at its pauses (Silero at 16 kHz), each phrase at ``RATE``."""
    from callqa.asr.audio import resample
    from callqa.asr.vad import speech_intervals

    x, sr = sf.read(REAL / name, dtype="float32")
    x16 = resample(x, sr, 16000)[:, 0]
    out = []
    for iv in speech_intervals(x16):
        piece = x16[int(iv.start * 16000): int(iv.end * 16000)]
        out.append(resample(piece, 16000, RATE)[:, 0])
    return out


def real_mix(b_name: str, turns: int = 10, gap_s: float = 0.6, a_name: str = SPEAKER_A,
             seed: int = 0) -> tuple[np.ndarray, dict]:
    """A mono ``RATE`` recording alternating A's and B's phrases, and its truth (turns with
    speaker agent = A, customer = B)."""
    a, b = phrases(a_name), phrases(b_name)
    t, placed, truth_turns = 0.5, [], []
    for k in range(turns):
        who, pool = ("agent", a) if k % 2 == 0 else ("customer", b)
        piece = pool[(k // 2) % len(pool)]
        piece = piece / (np.abs(piece).max() + 1e-9) * 0.5
        placed.append((int(t * RATE), piece))
        truth_turns.append({"speaker": who, "start": t, "end": t + len(piece) / RATE})
        t += len(piece) / RATE + gap_s
    n = int((t + 0.5) * RATE)
    mono = np.random.default_rng(seed).normal(0, 10 ** (-55 / 20), n).astype(np.float32)
    for start, piece in placed:
        mono[start:start + len(piece)] += piece
    return mono, {"duration": n / RATE, "turns": truth_turns}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--asr", action="store_true", help="run the whole pipeline on each mix")
    args = ap.parse_args(argv)

    from degrade import attribution

    from callqa.asr.audio import resample
    from callqa.asr.speakers import attribute
    from callqa.asr.vad import speech_intervals
    from callqa.transcript import Transcript

    others = sorted(p.name for p in REAL.glob("*.wav") if p.name != SPEAKER_A)
    print("| speaker B | turns | voices | voice separation | attribution | roles |")
    print("|---|---:|---:|---:|---:|---|")
    scores = []
    tmp = Path(tempfile.mkdtemp(prefix="callqa-mono-real-"))
    for b in [None, *others]:
        if b is None:  # A alone: one voice
            x, sr = sf.read(REAL / SPEAKER_A, dtype="float32")
            mono, truth = resample(x, sr, RATE)[:, 0], None
        else:
            mono, truth = real_mix(b)
        if args.asr:
            from callqa.asr.pipeline import AsrOptions, transcribe_call

            path = tmp / f"{b or 'A_alone'}.flac"
            sf.write(path, mono, RATE, subtype="PCM_16")
            t = transcribe_call(path, AsrOptions(), use_cache=False)
            info = t.asr["front_end"].get("mono", {})
            voices, sep, roles = info.get("voices", 1), info.get("voice_separation", 0.0), t.roles
        else:
            x16 = resample(mono, RATE, 16000)[:, 0]
            stretches = speech_intervals(x16)
            found = attribute(x16, stretches, [""] * len(stretches))
            speech = {"agent": [], "customer": []}
            for iv, label in zip(stretches, found.labels):
                speech["agent" if label == 0 else "customer"].append(iv)
            t = Transcript("mix", None, len(mono) / RATE, [], speech=speech)
            voices, sep, roles = found.voices, found.separation, "—"
        right = attribution(t, truth)[0] if truth else None
        if right is not None:
            scores.append(right)
        print(f"| {b or 'A alone (' + SPEAKER_A + ')'} | {len(truth['turns']) if truth else '—'} "
              f"| {voices} | {sep:.2f} | {'—' if right is None else f'{right:.1%}'} | {roles} |")
    print(f"\nmean attribution over {len(scores)} mixes: {np.mean(scores):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
