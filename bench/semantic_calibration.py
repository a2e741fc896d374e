"""Precision/recall of matching by meaning, per rule, on the labelled calibration set.

Every sentence of ``rules/semantic/calibration.yaml`` is judged as one agent utterance, the way
the engine judges it (literal phrases, regex, then meaning against the rule's examples), at the
rule's threshold and at a few others (the sweep). The table goes to docs/benchmarks.md
("Semantic matching calibration").

    python bench/semantic_calibration.py [--rules rules/default.yaml] [--misses]
"""

from __future__ import annotations

import argparse

from callqa.scoring import Scorer, load_rulebook
from callqa.scoring.calibration import judge, load_calibration, stats, threshold_of

SWEEP = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=None)
    ap.add_argument("--misses", action="store_true", help="list the sentences judged wrongly")
    args = ap.parse_args()
    rulebook = load_rulebook(args.rules)
    scorer = Scorer(rulebook)
    sets, floors = load_calibration()
    total = sum(len(s.items) for s in sets)
    print(f"calibration sentences: {total}  encoder: {scorer.semantic.encoder.model}\n")
    print("| rule | threshold | sentences (match / no match) | precision | recall | floor P / R |")
    print("|---|---|---|---|---|---|")
    sweeps, misses = [], []
    for cal in sets:
        rule = rulebook.get(cal.rule_id)
        th = threshold_of(rule, cal.spec)
        judged = judge(scorer, cal)
        s = stats(judged, th)
        pos = sum(j.expect for j in judged)
        floor = floors.get(cal.key, {})
        print(f"| {cal.key} | {th:g} | {len(judged)} ({pos} / {len(judged) - pos}) | "
              f"{s.precision:.2f} | {s.recall:.2f} | "
              f"{floor.get('precision', '-')} / {floor.get('recall', '-')} |")
        sweeps.append((cal.key, [stats(judged, t) for t in SWEEP]))
        misses += [(cal.key, j) for j in judged if j.matches(th) != j.expect]
    print("\nThreshold sweep (precision / recall):\n")
    print("| rule | " + " | ".join(f"{t:g}" for t in SWEEP) + " |")
    print("|---|" + "---|" * len(SWEEP))
    for key, row in sweeps:
        print(f"| {key} | " + " | ".join(f"{s.precision:.2f} / {s.recall:.2f}" for s in row)
              + " |")
    if args.misses:
        print("\nJudged wrongly at the rule's threshold:")
        for key, j in misses:
            want = "should match" if j.expect else "should not match"
            print(f"  {key:<13} {j.kind:<10} {j.score:.2f} {j.text}  ({want}; nearest "
                  f"{j.example!r}, heard {j.heard!r})")


if __name__ == "__main__":
    main()
