"""The sample corpus (samples/) against the default rulebook.

- ``test_truth_transcripts``: the truth turns, scored as a perfect transcript, give exactly the
  violations the truth lists — the truth files and the rulebook agree (fast, no audio).
- ``test_corpus_*``: the corpus is complete (audio for every truth, 8 kHz stereo, 20–120 s,
  under 25 MB, every rule shown as a violation and as compliant).
- ``test_sample_e2e`` (slow): every recording through the real embedded ASR and the default
  rulebook gives exactly the violations its truth lists (rule and start within 1 s) and no
  others. Where the ASR makes a call fail, fix the pipeline (matching, VAD, thresholds), never
  the truth file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from callqa.scoring import Scorer, load_rulebook
from callqa.transcript import Transcript, Utterance

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
RULEBOOK = ROOT / "rules" / "default.yaml"
TRUTHS = sorted(SAMPLES.glob("*.truth.json"))
CALL_IDS = [p.name.removesuffix(".truth.json") for p in TRUTHS]
TOLERANCE_S = 1.0

def load_truth(call_id: str) -> dict:
    return json.loads((SAMPLES / f"{call_id}.truth.json").read_text(encoding="utf-8"))


def truth_transcript(truth: dict) -> Transcript:
    utts = [Utterance(t["speaker"], t["start"], t["end"], t["text"]) for t in truth["turns"]]
    return Transcript(truth["call_id"], truth["agent_id"], truth["duration"], utts)


def compare(findings, violations) -> tuple[list, list]:
    """One-to-one match of findings to truth violations by rule (or category) and start time.

    Returns (unexpected findings, missed violations)."""
    missed = list(violations)
    unexpected = []
    for f in sorted(findings, key=lambda f: f.start):
        best = None
        for v in missed:
            same = v.get("rule_id") == f.rule_id if v.get("rule_id") else v["category"] == f.category
            if same and abs(v["start"] - f.start) <= TOLERANCE_S:
                if best is None or abs(v["start"] - f.start) < abs(best["start"] - f.start):
                    best = v
        if best is None:
            unexpected.append(f)
        else:
            missed.remove(best)
    return unexpected, missed


def describe(call_id: str, transcript: Transcript, unexpected, missed) -> str:
    lines = [f"{call_id}:"]
    for f in unexpected:
        lines.append(f"  unexpected {f.rule_id} ({f.category}) at {f.start:.1f}s: {f.evidence}")
    for v in missed:
        lines.append(f"  missed     {v.get('rule_id')} ({v['category']}) at {v['start']:.1f}s: "
                     f"{v['note']}")
    lines.append("  transcript:")
    for u in transcript.utterances:
        lines.append(f"    {u.start:6.1f}-{u.end:6.1f} {u.speaker:<8} {u.text}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def scorer():
    # One scorer for the module: building its matcher (jieba with the rulebook's phrases) is the
    # expensive part, scoring a call is not.
    return Scorer(load_rulebook(RULEBOOK))


# --------------------------------------------------------------------------- fast

def test_corpus_exists():
    assert len(TRUTHS) >= 14


@pytest.mark.parametrize("call_id", CALL_IDS)
def test_truth_transcripts(call_id, scorer):
    truth = load_truth(call_id)
    transcript = truth_transcript(truth)
    result = scorer.score(transcript)
    unexpected, missed = compare(result.findings, truth["violations"])
    assert not unexpected and not missed, describe(call_id, transcript, unexpected, missed)


@pytest.mark.parametrize("call_id", CALL_IDS)
def test_corpus_audio(call_id):
    truth = load_truth(call_id)
    info = sf.info(SAMPLES / truth["audio"])
    assert (info.samplerate, info.channels) == (8000, 2)
    assert info.duration == pytest.approx(truth["duration"], abs=0.01)
    assert 20 <= info.duration <= 120
    assert truth["turns"][-1]["end"] < info.duration


def test_corpus_size():
    total = sum(p.stat().st_size for p in SAMPLES.glob("*.flac"))
    assert total < 25e6, f"samples/*.flac is {total / 1e6:.1f} MB"


def test_corpus_covers_every_rule():
    rules = [r["id"] for r in yaml.safe_load(RULEBOOK.read_text(encoding="utf-8"))["rules"]]
    shown = {"violations": set(), "compliant": set()}
    for call_id in CALL_IDS:
        truth = load_truth(call_id)
        for kind in shown:
            shown[kind] |= {f.get("rule_id") for f in truth[kind]}
    for kind, ids in shown.items():
        assert not set(rules) - ids, f"rules never shown as {kind}: {sorted(set(rules) - ids)}"


def test_corpus_has_several_agents():
    agents = {load_truth(c)["agent_id"] for c in CALL_IDS}
    assert len(agents) >= 3


# --------------------------------------------------------------------------- slow: real ASR

@pytest.mark.slow
@pytest.mark.parametrize("call_id", CALL_IDS)
def test_sample_e2e(call_id, scorer):
    from callqa.asr.pipeline import transcribe_call

    truth = load_truth(call_id)
    # No transcript cache: the test measures the pipeline as it is, not a transcript an older
    # version of it left behind.
    transcript = transcribe_call(SAMPLES / truth["audio"], agent_id=truth["agent_id"],
                                 use_cache=False)
    result = scorer.score(transcript)
    unexpected, missed = compare(result.findings, truth["violations"])
    assert not unexpected and not missed, describe(call_id, transcript, unexpected, missed)
