#!/usr/bin/env python
"""Filling Whisper windows across calls of one agent (issue 20): windows saved, words changed.

Whisper encodes 30 s whatever a window holds, so the last window of each track is part-empty.
Packing one agent's calls back to back would fill it with the next call's speech. This measures
that without building it: two sample calls are joined into one stereo recording (2 s of
silence between them: more than the 1 s of context either side of a turn, so no chunk spans
the join) and transcribed as one call, which packs the first call's last turns and the
second's first turns into shared windows exactly as cross-call filling would. The joined
transcript's words are split back at the join and compared with each call transcribed alone
(both default options, no cache): encoder windows, words that differ, CER against the truth
turns, and the verdicts of the default rulebook on each call.

    python bench/fill_across_calls.py              # the 18 sample calls as 9 pairs (~5 min)
    python bench/fill_across_calls.py --pairs 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from asr_speed import cer_counts  # noqa: E402

from callqa.asr.pipeline import AsrOptions, transcribe_call  # noqa: E402
from callqa.scoring import Scorer, load_rulebook  # noqa: E402
from callqa.text import char_edits, normalize_match  # noqa: E402
from callqa.transcript import Interval, Transcript  # noqa: E402

JOIN_GAP_S = 2.0
SPEAKERS = ("agent", "customer")


def split(joined: Transcript, first: Transcript, second: Transcript, first_s: float
          ) -> tuple[Transcript, Transcript]:
    """The joined call's transcript cut back into the two calls (the first lasting
    ``first_s``; the second starts ``JOIN_GAP_S`` later)."""
    at_s = first_s + JOIN_GAP_S / 2

    def part(keep, shift: float, model: Transcript) -> Transcript:
        utts = [replace(u, start=round(u.start - shift, 3), end=round(u.end - shift, 3),
                        words=[replace(w, start=round(w.start - shift, 3),
                                       end=round(w.end - shift, 3)) for w in u.words])
                for u in joined.utterances if keep(u.start)]
        speech = {sp: [Interval(round(i.start - shift, 3), round(i.end - shift, 3))
                       for i in ivs if keep(i.start)] for sp, ivs in joined.speech.items()}
        return replace(joined, call_id=model.call_id, duration=model.duration,
                       utterances=utts, speech=speech)

    return (part(lambda t: t < at_s, 0.0, first),
            part(lambda t: t >= at_s, first_s + JOIN_GAP_S, second))


def text(t: Transcript, speaker: str) -> str:
    return normalize_match("".join(u.text for u in t.utterances if u.speaker == speaker))


def verdicts_moved(scorer: Scorer, a: Transcript, b: Transcript, verbose: bool) -> int:
    """Findings of one transcript with no finding of the other of the same rule, the same
    charged/待复核 state and a start within 1 s (counted both ways)."""
    fa, fb = scorer.score(a).findings, scorer.score(b).findings
    left = list(fb)
    for f in fa:
        twin = next((g for g in left if (g.rule_id, g.review) == (f.rule_id, f.review)
                     and abs(g.start - f.start) <= 1.0), None)
        if twin is not None:
            left.remove(twin)
    if verbose:
        for label, fs in (("alone", fa), ("joined", fb)):
            print(f"  {a.call_id} {label}: "
                  f"{[(f.rule_id, '待复核' if f.review else '', round(f.start, 1)) for f in fs]}")
    return len(fa) - (len(fb) - len(left)) + len(left)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=9)
    ap.add_argument("--first", type=int, default=1, help="start at this pair")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the findings")
    args = ap.parse_args()
    calls = sorted((ROOT / "samples").glob("call_*.flac"))
    calls = calls[2 * (args.first - 1): 2 * (args.first - 1 + args.pairs)]
    options = AsrOptions()
    scorer = Scorer(load_rulebook())
    total: Counter = Counter()
    print("| pair | windows alone | windows joined | characters changed | CER alone | "
          "CER joined | findings moved |")
    print("|---|---:|---:|---:|---:|---:|---:|")

    def row(name: str, n: Counter) -> None:
        print(f"| {name} | {n['windows_alone']} | {n['windows_joined']} | {n['changed']} | "
              f"{n['edits_alone'] / n['chars']:.3f} | {n['edits_joined'] / n['chars']:.3f} | "
              f"{n['moved']} |", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        for a, b in zip(calls[0::2], calls[1::2]):
            xa, rate = sf.read(a, dtype="float32", always_2d=True)
            xb, rate_b = sf.read(b, dtype="float32", always_2d=True)
            assert rate == rate_b, (a, b)
            gap = np.zeros((int(JOIN_GAP_S * rate), 2), np.float32)
            joined_path = Path(tmp) / f"{a.stem}+{b.stem}.flac"
            sf.write(joined_path, np.concatenate([xa, gap, xb]), rate)
            alone = [transcribe_call(p, options, use_cache=False) for p in (a, b)]
            joined = transcribe_call(joined_path, options, use_cache=False)
            back = split(joined, *alone, len(xa) / rate)
            n = Counter(windows_alone=sum(t.asr["decode"]["windows"] for t in alone),
                        windows_joined=joined.asr["decode"]["windows"])
            for path, t_alone, t_back in zip((a, b), alone, back):
                truth = json.loads(path.with_suffix(".truth.json").read_text(encoding="utf-8"))
                said_alone = {sp: text(t_alone, sp) for sp in SPEAKERS}
                said_back = {sp: text(t_back, sp) for sp in SPEAKERS}
                n["changed"] += sum(char_edits(said_alone[sp], said_back[sp]) for sp in SPEAKERS)
                edits, chars = cer_counts(truth, said_alone)
                n.update(edits_alone=edits, chars=chars,
                         edits_joined=cer_counts(truth, said_back)[0],
                         moved=verdicts_moved(scorer, t_alone, t_back, args.verbose))
            row(f"{a.stem[:7]}+{b.stem[:7]}", n)
            total.update(n)
    row("all", total)


if __name__ == "__main__":
    main()
