"""ASR accuracy: character error rate of callqa's ASR vs raw faster-whisper, same model.

    python bench/asr_cer.py            # all conditions, markdown table on stdout

Clips: ../shared/audio/real (16 kHz mono, reference texts in manifest.tsv; the 70 s clip has
no reference and is skipped). Conditions:

- ``16k``: the clip as recorded;
- ``8k``: the clip band-limited to 8 kHz telephone rate (written as an 8 kHz wav);
- ``call``: every clip placed in one stereo 8 kHz call, alternating agent/customer channels
  with 1.5 s between turns: callqa packs each channel's turns into shared Whisper windows, so
  this is where packing could cost accuracy. Raw faster-whisper gets each clip alone (8 kHz).

Raw faster-whisper = ``WhisperModel.transcribe(audio, language="zh")`` with its defaults (beam
5, temperature fallback, no VAD). Both outputs are compared after ``normalize_match`` (OpenCC
t2s, no punctuation/spaces), so Traditional output is not counted as an error.
CER = (substitutions + deletions + insertions) / reference characters, summed over clips.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callqa.asr.audio import resample  # noqa: E402
from callqa.asr.whisper.models import load_model, resolve_model  # noqa: E402
from callqa.asr.pipeline import AsrOptions, transcribe_call  # noqa: E402
from callqa.text import char_edits, normalize_match  # noqa: E402

REAL = ROOT.parent / "shared" / "audio" / "real"


def clips() -> list[tuple[str, str]]:
    with (REAL / "manifest.tsv").open(encoding="utf-8") as f:
        return [(r["file"], r["reference_text"]) for r in csv.DictReader(f, delimiter="\t")
                if r["reference_text"].strip()]


def raw_text(model, samples_16k: np.ndarray) -> str:
    segments, _ = model.transcribe(samples_16k, language="zh")
    return "".join(s.text for s in segments)


def phone(x: np.ndarray) -> np.ndarray:
    return resample(x, 16000, 8000)[:, 0]


def build_call(items, path: Path) -> list[tuple[float, float]]:
    """All clips alternating left/right at 8 kHz; returns each clip's [start, end] in s."""
    rate, t, spans = 8000, 0.5, []
    placed = []
    for i, (x, _) in enumerate(items):
        y = phone(x)
        placed.append((i % 2, int(t * rate), y))
        spans.append((t, t + len(y) / rate))
        t += len(y) / rate + 1.5
    n = int((t + 1) * rate)
    stereo = np.random.default_rng(0).normal(0, 10 ** (-55 / 20), (n, 2)).astype(np.float32)
    for ch, s, y in placed:
        stereo[s:s + len(y), ch] += y
    sf.write(path, stereo, rate, subtype="PCM_16")
    return spans


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conditions", default="16k,8k,call")
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="an AsrOptions field for callqa (repeatable), as in bench/asr_speed.py")
    args = ap.parse_args()
    conditions = args.conditions.split(",")

    tmp = Path(tempfile.mkdtemp(prefix="callqa-cer-"))
    from asr_speed import _parse_set

    options = AsrOptions(model_dir=args.model_dir, cache_dir=str(tmp / "cache"),
                         **_parse_set(args.set))
    model = load_model(resolve_model(options.model, options.model_dir))
    items = [(sf.read(REAL / name, dtype="float32")[0], ref) for name, ref in clips()]
    names = [name for name, _ in clips()]

    rows: dict[str, dict[str, str]] = {n: {} for n in names}
    totals: dict[str, list[float]] = {}  # column → [edits, ref chars, wall s, cpu s, audio s]

    def record(column: str, name: str, ref: str, hyp: str, wall: float, cpu: float, audio: float):
        r, h = normalize_match(ref), normalize_match(hyp)
        e = char_edits(r, h)
        rows[name][column] = f"{e / len(r):.3f}"
        rows[name][column + ":text"] = h
        tot = totals.setdefault(column, [0, 0, 0.0, 0.0, 0.0])
        tot[0] += e
        tot[1] += len(r)
        tot[2] += wall
        tot[3] += cpu
        tot[4] += audio

    def timed(fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - w, time.process_time() - c

    for cond in [c for c in conditions if c in ("16k", "8k")]:
        for name, (x, ref) in zip(names, items):
            audio = x if cond == "16k" else phone(x)
            rate = 16000 if cond == "16k" else 8000
            path = tmp / f"{cond}_{name}"
            sf.write(path, audio, rate)
            model_input = audio if rate == 16000 else resample(audio, 8000)[:, 0]
            hyp, w, c = timed(lambda: raw_text(model, model_input))
            record(f"raw {cond}", name, ref, hyp, w, c, len(x) / 16000)
            t, w, c = timed(lambda: transcribe_call(path, options, use_cache=False))
            record(f"callqa {cond}", name, ref, "".join(u.text for u in t.utterances), w, c,
                   len(x) / 16000)

    if "call" in conditions:
        path = tmp / "call.wav"
        spans = build_call(items, path)
        t, w, c = timed(lambda: transcribe_call(path, options, use_cache=False))
        duration = t.duration
        for i, (name, (x, ref), (a, b)) in enumerate(zip(names, items, spans)):
            speaker = "agent" if i % 2 == 0 else "customer"
            hyp = "".join(u.text for u in t.utterances
                          if u.speaker == speaker and u.start < b and u.end > a)
            record("callqa call", name, ref, hyp, 0.0, 0.0, 0.0)
        totals["callqa call"][2:] = [w, c, duration]
        if "raw 8k" not in totals:
            for name, (x, ref) in zip(names, items):
                hyp, w2, c2 = timed(lambda: raw_text(model, resample(phone(x), 8000)[:, 0]))
                record("raw 8k", name, ref, hyp, w2, c2, len(x) / 16000)

    columns = [c for c in ("raw 16k", "callqa 16k", "raw 8k", "callqa 8k", "callqa call")
               if c in totals]
    print(f"| clip | ref chars | {' | '.join(columns)} |")
    print("|---|---:|" + "---:|" * len(columns))
    for name, (_, ref) in zip(names, items):
        print(f"| {name} | {len(normalize_match(ref))} | "
              + " | ".join(rows[name].get(c, "") for c in columns) + " |")
    print("| **total CER** | "
          f"{totals[columns[0]][1]} | "
          + " | ".join(f"**{totals[c][0] / totals[c][1]:.3f}**" for c in columns) + " |")
    print("| wall s / audio s | | "
          + " | ".join(f"{totals[c][2] / totals[c][4]:.3f}" for c in columns) + " |")
    print("| CPU s / audio s | | "
          + " | ".join(f"{totals[c][3] / totals[c][4]:.3f}" for c in columns) + " |")
    print()
    print(f"machine: {os.cpu_count()} CPUs; load average at end "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}", file=sys.stderr)
    if os.environ.get("CER_SHOW_TEXT"):
        for name in names:
            print(name, {c: rows[name].get(c + ':text') for c in columns}, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
