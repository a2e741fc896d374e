"""Rule-engine throughput: calls scored per second on one core with the full default rulebook.

The calls are the sample corpus's own dialogues (``samples/*.truth.json``: real scripted service
calls of 20–120 s, 10–30 turns, with their violations) as perfect transcripts. Two figures:

- cold: every text-derived cache is emptied before each call, as if no sentence had ever been
  seen (the worst case: every call's every sentence new);
- warm: caches kept, as in a batch where agents repeat their scripted sentences.

    python bench/engine_throughput.py [--calls 3000] [--rules rules/default.yaml]
                                      [--without-semantic]

``--without-semantic`` strips matching by meaning (``semantic_examples``/``threshold``) from
the rulebook first: the cost of the word-for-word and by-sound matching alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from callqa.scoring import DEFAULT_RULEBOOK, Rulebook, Scorer, load_rulebook, parse_rulebook
from callqa.text import count_chars, normalize_display, normalize_match
from callqa.transcript import Transcript, Utterance

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def corpus_transcripts() -> list[Transcript]:
    out = []
    for path in sorted(SAMPLES.glob("*.truth.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        utts = [Utterance(t["speaker"], t["start"], t["end"], t["text"]) for t in truth["turns"]]
        out.append(Transcript(truth["call_id"], truth["agent_id"], truth["duration"], utts))
    if not out:
        raise SystemExit(f"no *.truth.json under {SAMPLES}")
    return out


def without_semantic(path: str | None) -> "Rulebook":
    """The rulebook with every semantic_examples/threshold key removed."""
    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()
                    if k not in ("semantic_examples", "threshold")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    source = Path(path) if path else DEFAULT_RULEBOOK
    data = strip(yaml.safe_load(source.read_text(encoding="utf-8")))
    data["rules"] = [r for r in data["rules"] if r.get("match") != "semantic"]
    return parse_rulebook(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), str(source))


def run(scorer: Scorer, calls: list[Transcript], n: int, cold: bool) -> float:
    t0 = time.process_time()
    for k in range(n):
        if cold:
            normalize_match.cache_clear()
            normalize_display.cache_clear()
            count_chars.cache_clear()
            scorer.matcher._bounds_cache.clear()  # noqa: SLF001 - the bench measures it
            if scorer.semantic is not None:
                scorer.semantic.cache.clear()  # clause vectors seen in earlier calls
        scorer.score(calls[k % len(calls)])
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--rules", default=None)
    ap.add_argument("--without-semantic", action="store_true")
    args = ap.parse_args()
    calls = corpus_transcripts()
    rulebook = without_semantic(args.rules) if args.without_semantic else load_rulebook(args.rules)
    scorer = Scorer(rulebook)
    for c in calls:
        scorer.score(c)  # load jieba's dictionary and the pinyin table once
    turns = sum(len(c.utterances) for c in calls) / len(calls)
    print(f"rules: {len(rulebook.rules)}  corpus calls: {len(calls)}  "
          f"mean turns/call: {turns:.1f}  scored: {args.calls} per run")
    for label, cold in (("cold", True), ("warm", False)):
        cpu = run(scorer, calls, args.calls, cold)
        print(f"{label}: CPU {cpu:.2f} s -> {args.calls / cpu:,.0f} calls/s per core "
              f"({cpu / args.calls * 1000:.3f} ms/call)")


if __name__ == "__main__":
    main()
