"""The sample corpus (samples/) against the default rulebook.

- ``test_truth_transcripts``: the truth turns, scored as a perfect transcript, give exactly the
  violations the truth lists — the truth files and the rulebook agree (fast, no audio).
- ``test_corpus_*``: the corpus is complete (audio for every truth, 8 kHz stereo, 20–120 s,
  under 25 MB, every rule shown as a violation and as compliant).
- ``test_recorded_transcripts``: the transcripts the real embedded ASR made of every recording
  (recorded once, ``tests/data/samples/``; CPU and versions in the README there), scored with the
  default rulebook, give exactly the violations the truth lists (rule and start within 1 s) and
  no others. Exact, so it can fail on any machine for a scoring change alone.
- ``test_corpus_e2e`` (slow): every recording through the live ASR. Whisper's exact words differ
  between CPUs (AVX-512 Intel vs AVX2 AMD), so this asserts what is robust — the corpus-level
  agreement of rule verdicts, with a stated margin — and prints each call's result.
Where the ASR makes a call fail, fix the pipeline (matching, VAD, thresholds), never the truth
file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from callqa.scoring import Scorer, load_rulebook
from callqa.transcript import Transcript, Utterance, load_transcript

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
RULEBOOK = ROOT / "rules" / "default.yaml"
TRUTHS = sorted(SAMPLES.glob("*.truth.json"))
CALL_IDS = [p.name.removesuffix(".truth.json") for p in TRUTHS]
RECORDED = ROOT / "tests" / "data" / "samples"
TOLERANCE_S = 1.0
# Rules the TTS corpus does not act out, each with its hand-written cases in rules/tests/:
# a hold over 60 s would double a sample's length; every sample agent answers thanks.
# The kinds of 服务禁语 added in issue 19 (反问/质问, 命令, 生硬否定) are acted out by hand-written
# paraphrases and near misses in rules/tests/, written from the standard.
NOT_IN_SAMPLES = {"HD02", "PL04", "FB06", "FB07", "FB08"}
# Live ASR on another CPU: rule verdicts (a rule fired or not, per call) must agree with the truth
# at least this often over the corpus (recorded here: see docs/benchmarks.md), and this many
# calls must come out exactly right.
MIN_VERDICT_AGREEMENT = 0.97
MIN_EXACT_CALLS = 15

def load_truth(call_id: str) -> dict:
    return json.loads((SAMPLES / f"{call_id}.truth.json").read_text(encoding="utf-8"))


def truth_transcript(truth: dict) -> Transcript:
    utts = [Utterance(t["speaker"], t["start"], t["end"], t["text"]) for t in truth["turns"]]
    return Transcript(truth["call_id"], truth["agent_id"], truth["duration"], utts)


def compare(findings, violations) -> tuple[list, list]:
    """One-to-one match of charged findings to truth violations by rule (or category) and start
    time. A finding routed to review (待复核) charges nothing: it is neither a hit nor a false
    alarm (its violation, if any, counts as missed).

    Returns (unexpected findings, missed violations)."""
    missed = list(violations)
    unexpected = []
    for f in sorted((f for f in findings if not getattr(f, "review", False)),
                    key=lambda f: f.start):
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
            # one event, one finding: the rule a finding also breaks is shown too
            shown[kind] |= {r for f in truth[kind] for r in f.get("also_breaks", ())}
    for kind, ids in shown.items():
        missing = set(rules) - ids - NOT_IN_SAMPLES
        assert not missing, f"rules never shown as {kind}: {sorted(missing)}"
    for rule_id in NOT_IN_SAMPLES:
        assert (ROOT / "rules" / "tests" / f"{rule_id}.yaml").is_file()


def test_corpus_has_several_agents():
    agents = {load_truth(c)["agent_id"] for c in CALL_IDS}
    assert len(agents) >= 3


# --------------------------------------------------------------------------- recorded ASR output

@pytest.mark.parametrize("call_id", CALL_IDS)
def test_recorded_transcripts(call_id, scorer):
    """Exact verdicts on what the real ASR heard (recorded once): scoring changes are judged on
    real ASR errors without depending on this machine's CPU."""
    truth = load_truth(call_id)
    transcript = load_transcript(RECORDED / f"{call_id}.json")
    assert transcript.asr.get("model", "").startswith("whisper-base")
    result = scorer.score(transcript)
    unexpected, missed = compare(result.findings, truth["violations"])
    assert not unexpected and not missed, describe(call_id, transcript, unexpected, missed)


# --------------------------------------------------------------------------- slow: live ASR

def verdicts(findings, violations, rules) -> tuple[int, int]:
    """(rule verdicts agreeing with the truth, rules judged) for one call: a rule's verdict is
    whether it fired at all."""
    fired = {f.rule_id for f in findings}
    expected = {v.get("rule_id") for v in violations}
    return sum((r in fired) == (r in expected) for r in rules), len(rules)


@pytest.mark.slow
def test_corpus_e2e(scorer, capsys):
    """Every recording through the live embedded ASR (no transcript cache): corpus-level verdict
    agreement with a margin, per-call results printed (-s, or in the failure message)."""
    from callqa.asr.pipeline import transcribe_call

    rules = [r.id for r in scorer.rulebook.rules]
    agree = judged = exact = 0
    lines = []
    for call_id in CALL_IDS:
        truth = load_truth(call_id)
        transcript = transcribe_call(SAMPLES / truth["audio"], agent_id=truth["agent_id"],
                                     use_cache=False)
        result = scorer.score(transcript)
        unexpected, missed = compare(result.findings, truth["violations"])
        a, n = verdicts(result.findings, truth["violations"], rules)
        agree, judged, exact = agree + a, judged + n, exact + (not unexpected and not missed)
        lines.append(f"{call_id:36} {'exact' if not unexpected and not missed else 'DIFF '} "
                     f"verdicts {a}/{n}"
                     + "".join(f"  +{f.rule_id}@{f.start:.1f}" for f in unexpected)
                     + "".join(f"  -{v.get('rule_id')}@{v['start']:.1f}" for v in missed))
    lines.append(f"corpus: {exact}/{len(CALL_IDS)} calls exact, rule verdicts "
                 f"{agree}/{judged} = {agree / judged:.3f} agree "
                 f"(need >= {MIN_VERDICT_AGREEMENT} and >= {MIN_EXACT_CALLS} exact)")
    report = "\n".join(lines)
    print(report)
    assert agree / judged >= MIN_VERDICT_AGREEMENT and exact >= MIN_EXACT_CALLS, report
