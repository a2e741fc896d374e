"""Personal-data detection measured on the labelled calls: recall and precision per entity type.

The truth is ``bench/privacy_truth.json`` (each entity with the scripted turn it was said in).
Detection runs on what the ASR heard: the recorded transcripts of the samples
(``tests/data/samples``, exact on every machine) and the embedded model's transcripts of the
other clean calls (cached by audio hash; the first run transcribes them). A detected entity
matches a labelled one of the same type and speaker whose turn it overlaps (±1 s), one to one.

    python bench/privacy_detect.py                 # samples + eval/calls + devcalls + privacycalls
    python bench/privacy_detect.py --sets samples  # the recorded transcripts only (no ASR)
    python bench/privacy_detect.py -v              # every miss and false alarm
    python bench/privacy_detect.py --transcripts DIR   # transcripts made by callqa transcribe
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

from callqa.privacy.detect import ENTITY_TYPES, Entity, detect, detect_utterances, digits_of
from callqa.transcript import Transcript, load_transcript

ROOT = Path(__file__).resolve().parents[1]
TRUTH = ROOT / "bench" / "privacy_truth.json"
SLACK_S = 1.0
# where each set's recordings are (eval/harder is labelled too, but not clean)
SETS = {"samples": None, "eval/calls": "{shared}/eval/calls",
        "devcalls": str(ROOT / "bench/devcalls"),
        # dictated ID, bank-card and e-mail particulars (no other set has them)
        "privacycalls": str(ROOT / "bench/privacycalls")}


def transcript_of(call: str, shared: Path, made: Path | None) -> Transcript:
    kind, name = call.rsplit("/", 1)
    if kind == "samples":
        return load_transcript(ROOT / "tests" / "data" / "samples" / f"{name}.json")
    if made is not None:
        return load_transcript(made / f"{name}.json")
    from callqa.asr.pipeline import AsrOptions, transcribe_call  # only when the ASR is needed

    folder = Path(SETS[kind].format(shared=shared))
    audio = next((p for p in folder.glob(f"{name}.*") if not p.name.endswith(".json")), None)
    if audio is None:
        raise SystemExit(f"{folder}/{name}.*: recording not found (--shared points at shared/)")
    return transcribe_call(audio, AsrOptions(), use_cache=True)


def _key(text: str) -> str:
    return digits_of(text) or text


def match(truth: list[dict], found: list[Entity]) -> tuple[list[dict], list[Entity], list]:
    """(missed truth, false alarms, matched pairs)."""
    left = list(found)
    missed, pairs = [], []
    for t in truth:
        near = [e for e in left if e.type == t["type"] and e.speaker == t["speaker"]
                and e.start < t["end"] + SLACK_S and e.end > t["start"] - SLACK_S]
        # of several in the turn, the one whose digits/characters are most alike
        hit = max(near, key=lambda e: SequenceMatcher(None, _key(e.text), _key(t["text"])).ratio(),
                  default=None)
        if hit is None:
            missed.append(t)
        else:
            left.remove(hit)
            pairs.append((t, hit))
    return missed, left, pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(SETS), help="which labelled sets (comma-separated)")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--transcripts", type=Path, default=None,
                    help="transcripts already made (callqa transcribe CALL -o DIR/NAME.json)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["calls"]
    sets = args.sets.split(",")
    n_truth, n_found, n_hit = Counter(), Counter(), Counter()
    calls = [c for c in truth if c.rsplit("/", 1)[0] in sets]
    for call in calls:
        found = detect(transcript_of(call, args.shared, args.transcripts))
        missed, false, pairs = match(truth[call], found)
        n_truth.update(t["type"] for t in truth[call])
        n_found.update(e.type for e in found)
        n_hit.update(t["type"] for t, _ in pairs)
        if args.verbose:
            for t in missed:
                print(f"{call} miss  {t['type']:8} {t['speaker']:8} {t['start']:6.1f} {t['text']}")
            for e in false:
                print(f"{call} false {e.type:8} {e.speaker:8} {e.start:6.1f} {e.text}")
    print(f"{len(calls)} calls ({', '.join(sets)}); entity recall and precision on ASR transcripts")
    print(f"{'type':10} {'labelled':>8} {'found':>6} {'recall':>8} {'precision':>9}")
    for kind in ENTITY_TYPES:
        t, f, h = n_truth[kind], n_found[kind], n_hit[kind]
        rec = f"{100 * h / t:.1f} %" if t else "—"
        prec = f"{100 * h / f:.1f} %" if f else "—"
        print(f"{kind:10} {t:8} {f:6} {rec:>8} {prec:>9}")
    t, f, h = sum(n_truth.values()), sum(n_found.values()), sum(n_hit.values())
    print(f"{'all':10} {t:8} {f:6} {100 * h / max(t, 1):7.1f} % {100 * h / max(f, 1):7.1f} %")
    # what detection adds to scoring a call (it runs once per call in the scorer)
    ts = [transcript_of(c, args.shared, args.transcripts) for c in calls]
    start, rounds = time.perf_counter(), 20
    for _ in range(rounds):
        for tr in ts:
            detect_utterances(tr.utterances)
    ms = 1000 * (time.perf_counter() - start) / (rounds * len(ts))
    print(f"detection: {ms:.2f} ms per call (mean of {rounds} rounds over these calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
