"""Score the sample corpus and compare with its truth: per-category precision/recall and speed.

Usage::

    python bench/corpus_eval.py                    # real ASR (embedded whisper-base), no cache
    python bench/corpus_eval.py --oracle           # truth turns as a perfect transcript (no ASR)
    python bench/corpus_eval.py --transcripts DIR  # also write each ASR transcript JSON to DIR

A finding is a true positive when it has the rule (or category) of a truth violation and starts
within 1 s of it (one-to-one); precision and recall are per category over all calls. Wall time
covers decoding + ASR + scoring of every call; the ratio is wall time / audio duration (below 1 =
faster than real time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from callqa.scoring import Scorer, load_rulebook  # noqa: E402
from callqa.transcript import save_transcript  # noqa: E402
from test_samples_e2e import TRUTHS, compare, truth_transcript  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--oracle", action="store_true", help="score the truth turns, no ASR")
    ap.add_argument("--transcripts", type=Path, help="write the ASR transcripts here")
    ap.add_argument("--rules", type=Path, default=ROOT / "rules" / "default.yaml")
    ap.add_argument("--only", action="append", metavar="CALL_ID")
    args = ap.parse_args(argv)

    scorer = Scorer(load_rulebook(args.rules))
    tp, fp, fn = Counter(), Counter(), Counter()
    audio_s = wall_s = 0.0
    rows = []
    for path in TRUTHS:
        truth = json.loads(path.read_text(encoding="utf-8"))
        if args.only and truth["call_id"] not in args.only:
            continue
        t0 = time.perf_counter()
        if args.oracle:
            transcript = truth_transcript(truth)
        else:
            from callqa.asr.pipeline import transcribe_call

            transcript = transcribe_call(ROOT / "samples" / truth["audio"],
                                         agent_id=truth["agent_id"], use_cache=False)
        result = scorer.score(transcript)
        elapsed = time.perf_counter() - t0
        wall_s += elapsed
        audio_s += truth["duration"]
        if args.transcripts:
            save_transcript(transcript, args.transcripts / f"{truth['call_id']}.json")
        unexpected, missed = compare(result.findings, truth["violations"])
        for f in result.findings:
            if f not in unexpected:
                tp[f.category] += 1
        for f in unexpected:
            fp[f.category] += 1
        for v in missed:
            fn[v["category"]] += 1
        rows.append((truth["call_id"], truth["duration"], elapsed, len(truth["violations"]),
                     [f"+{f.rule_id}@{f.start:.1f}" for f in unexpected]
                     + [f"-{v.get('rule_id')}@{v['start']:.1f}" for v in missed]))
        print(f"{truth['call_id']:<36} {truth['duration']:6.1f}s audio {elapsed:6.1f}s wall  "
              f"{' '.join(rows[-1][4]) or 'exact'}", file=sys.stderr)

    print(f"\n{'category':<26} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>10} {'recall':>8}")
    for cat in sorted(set(tp) | set(fp) | set(fn)):
        p = tp[cat] / (tp[cat] + fp[cat]) if tp[cat] + fp[cat] else float("nan")
        r = tp[cat] / (tp[cat] + fn[cat]) if tp[cat] + fn[cat] else float("nan")
        print(f"{cat:<26} {tp[cat]:>4} {fp[cat]:>4} {fn[cat]:>4} {p:>10.2f} {r:>8.2f}")
    T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
    print(f"{'all':<26} {T:>4} {F:>4} {N:>4} {T / max(T + F, 1):>10.2f} {T / max(T + N, 1):>8.2f}")
    exact = sum(1 for r in rows if not r[4])
    print(f"\ncalls exactly right: {exact}/{len(rows)}")
    print(f"audio {audio_s:.0f} s, wall {wall_s:.1f} s, wall/audio {wall_s / max(audio_s, 1e-9):.3f}"
          f" ({'oracle transcripts' if args.oracle else 'real ASR, no cache'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
