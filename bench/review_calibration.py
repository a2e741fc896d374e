"""Calibrate the 待复核 threshold: precision of charged findings, share of true violations charged
and share routed to review, per labelled set, at the rulebook's threshold and a sweep.

A labelled set is a folder in ``../shared/eval``'s format (``NAME.truth.json`` + recording: the
shared eval calls, ``harder/``, ``harder/mono/``, ``bench/devcalls`` and any folder written by
``tools/make_devcalls.py degrade``) or ``samples`` (the sample corpus's recorded transcripts in
``tests/data/samples`` against ``samples/*.truth.json``). Transcripts come from the transcript
cache (the first run transcribes: run it under the heavy-work lock).

Counting is per call and per fact, as ``eval_calls.py`` judges: a fact expecting ``e``
violations that got ``c`` charged findings has ``min(c, e)`` true and ``c - min(c, e)`` false
charges; findings routed to review that would have made up a shortfall are true violations
routed to review. Boolean facts (greeting, closing, forbidden, speed, shirking) count at most one.

    python bench/review_calibration.py DIR [DIR ...] [--rules FILE] [--sweep] [--oracle]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callqa.result import CallResult  # noqa: E402
from callqa.scoring import Scorer, load_rulebook  # noqa: E402
from callqa.transcript import load_transcript  # noqa: E402

SWEEP = (0.0, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
FORBIDDEN = ("forbidden_phrase", "shirking", "refusal_without_apology")


def eval_facts(expect: dict) -> dict[str, tuple[tuple[str, ...], int, bool]]:
    """fact → (categories, expected violations, boolean) from an eval truth's ``expect``."""
    facts = {"greeting": (("greeting",), int(not expect["greeting"]), True),
             "closing": (("closing",), int(not expect["closing"]), True),
             # older truths (no hold_etiquette fact) accept an unthanked 我查一下 silence as
             # hold etiquette, as eval_calls.py does
             "dead_air": (("dead_air",) if "hold_etiquette" in expect
                          else ("dead_air", "hold_etiquette"), int(expect["dead_air"]), False),
             "interruption": (("interruption",), int(expect["interruptions"]), False),
             "speech_rate": (("speech_rate",), int(bool(expect.get("fast"))), True)}
    if expect.get("forbidden") is not None:
        positive = bool(expect["forbidden"])
        facts["forbidden"] = (FORBIDDEN if positive else ("forbidden_phrase",), int(positive),
                              True)
    if "hold_etiquette" in expect:
        facts["hold_etiquette"] = (("hold_etiquette",), int(expect["hold_etiquette"]), False)
    if "refusal_without_apology" in expect:
        facts["refusal"] = (("refusal_without_apology",), int(expect["refusal_without_apology"]),
                            False)
    if "shirking" in expect:
        facts["shirking"] = (("shirking",), int(bool(expect["shirking"])), True)
    return facts


def sample_facts(truth: dict) -> dict[str, tuple[tuple[str, ...], int, bool]]:
    counts = Counter(v["category"] for v in truth.get("violations", []))
    from callqa.result import CATEGORIES
    return {c: ((c,), counts.get(c, 0), False) for c in CATEGORIES}


def truth_transcript(truth: dict):
    """The truth's turns as a perfect transcript (no ASR): the rulebook alone is measured."""
    from callqa.transcript import Transcript, Utterance

    utts = [Utterance(t["who"], float(t["start"]), float(t["end"]), t["text"])
            for t in truth["turns"]]
    return Transcript(truth["call"], truth["agent"], float(truth["duration"]), utts)


def calls(folder: str, oracle: bool = False):
    """(name, transcript, facts) of every labelled call in ``folder``; with ``oracle`` its
    truth turns as the transcript."""
    if folder == "samples":
        for tf in sorted((ROOT / "samples").glob("*.truth.json")):
            truth = json.loads(tf.read_text(encoding="utf-8"))
            path = ROOT / "tests" / "data" / "samples" / f"{truth['call_id']}.json"
            if path.exists():
                yield truth["call_id"], load_transcript(path), sample_facts(truth)
        return
    from callqa.asr.pipeline import AsrOptions, transcribe_call

    for tf in sorted(Path(folder).glob("*.truth.json")):
        truth = json.loads(tf.read_text(encoding="utf-8"))
        if oracle:
            yield truth["call"], truth_transcript(truth), eval_facts(truth["expect"])
            continue
        stem = str(tf)[: -len(".truth.json")]
        audio = next((Path(stem + e) for e in (".wav", ".flac", ".mp3") if Path(stem + e).exists()),
                     None)
        if audio is None:
            continue
        t = transcribe_call(audio, AsrOptions(), agent_id=truth["agent"])
        yield truth["call"], t, eval_facts(truth["expect"])


def tally(rows, threshold: float | None) -> dict[str, float]:
    """Totals over (facts, result) rows with findings charged at ``threshold`` (None: as the
    result says)."""
    true_c = charged = expected = routed = 0
    for facts, result in rows:
        for cats, e, boolean in facts.values():
            fs = [f for f in result.findings if f.category in cats and f.speaker == "agent"]
            if threshold is None:
                ch = [f for f in fs if f.deduction > 0]
            else:
                ch = [f for f in fs if f.confidence >= threshold]
            c, t = len(ch), len(fs)
            if boolean:
                c, t = min(c, 1), min(t, 1)
            charged += c
            true_c += min(c, e)
            expected += e
            routed += min(t, e) - min(c, e)
    return {"charged": charged, "true": true_c, "expected": expected, "routed": routed,
            "precision": true_c / charged if charged else 1.0,
            "recall": true_c / expected if expected else 1.0,
            "review_share": routed / expected if expected else 0.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="labelled folders, or 'samples'")
    ap.add_argument("--rules", type=Path, default=None)
    ap.add_argument("--sweep", action="store_true", help="also every threshold in SWEEP")
    ap.add_argument("-v", "--verbose", action="store_true", help="list findings in review")
    ap.add_argument("--oracle", action="store_true",
                    help="score the truth turns (perfect transcripts, no ASR)")
    args = ap.parse_args(argv)
    rulebook = load_rulebook(args.rules)
    scorer = Scorer(rulebook)
    print(f"rulebook {Path(rulebook.path).name}: review below {rulebook.review_below}, "
          f"review deducts: {rulebook.review_deducts}\n")
    print("| set | calls | charged findings | precision of charged | true violations charged "
          "| routed to review |")
    print("|---|---|---|---|---|---|")
    everything = []
    sweeps = {}
    for folder in args.sets:
        rows = []
        for name, transcript, facts in calls(folder, args.oracle):
            result: CallResult = scorer.score(transcript)
            rows.append((facts, result))
            if args.verbose:
                for fact, (cats, e, boolean) in facts.items():
                    fs = [f for f in result.findings if f.category in cats
                          and f.speaker == "agent" and not f.review]
                    got = min(len(fs), 1) if boolean else len(fs)
                    if got != e:
                        print(f"    {name} {fact}: expected {e}, charged {got}", file=sys.stderr)
                for f in result.findings:
                    if f.review:
                        print(f"    {name} {f.rule_id} {f.start:.1f}s conf {f.confidence} "
                              f"{f.basis} {f.evidence[:40]}", file=sys.stderr)
        everything += rows
        s = tally(rows, None)
        label = Path(folder).name if folder != "samples" else "samples (recorded transcripts)"
        print(f"| {label} | {len(rows)} | {s['charged']} | {s['precision']:.1%} | "
              f"{s['true']}/{s['expected']} ({s['recall']:.1%}) | "
              f"{s['routed']} ({s['review_share']:.1%}) |")
        sweeps[label] = {th: tally(rows, th) for th in SWEEP}
    if args.sweep:
        print("\nthreshold sweep (precision of charged / true violations charged / routed):\n")
        print("| set | " + " | ".join(f"{th:g}" for th in SWEEP) + " |")
        print("|---|" + "---|" * len(SWEEP))
        for label, by_th in sweeps.items():
            cells = [f"{s['precision']:.0%} / {s['recall']:.0%} / {s['review_share']:.0%}"
                     for s in by_th.values()]
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
