"""A small known batch for the report tests: hand-written transcripts scored with the default
rulebook (no hand-written findings), wrapped as the batch store's ``StoredResult`` records.

The tests in test_report*.py assert numbers computed by hand from the findings listed in
``EXPECTED_FINDINGS``; ``test_fixture_findings_are_as_expected`` fails first if the rulebook
changes what fires, so a table test never fails for an obscure reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from callqa.result import CallResult
from callqa.scoring import Scorer, load_rulebook
from callqa.transcript import Transcript, Utterance

try:  # the real record once the batch store has landed
    from callqa.batch.store import StoredResult
except ImportError:  # pragma: no cover - until callqa/batch/store.py exists
    @dataclass(frozen=True)
    class StoredResult:  # the contract of callqa.batch.store.StoredResult
        call_id: str
        path: str
        agent_id: str | None
        started_at: str | None
        result: CallResult


OPEN = ("agent", 0.5, 5.0, "您好，这里是光明物业客服中心，请问有什么可以帮您？")
ASK = ("customer", 5.5, 8.0, "我家厨房水管漏水了")
NAME = ("agent", 8.5, 12.0, "好的，请问您贵姓？")
NAME_A = ("customer", 12.5, 14.0, "我姓王")
RECORD = ("agent", 14.5, 20.0, "王先生，您反映的问题我已记下，谢谢")
BYE = ("agent", 20.5, 24.0, "感谢您的来电，再见")
GOOD = [OPEN, ASK, NAME, NAME_A, RECORD, BYE]

EVIL = "这个我不知道 <script>alert('x')</script> & 不知道"

CALLS = {
    # call_id: (agent_id, started_at, turns)
    "c1": ("A1", "2026-11-20T09:00:00+08:00", GOOD),
    "c2": ("A1", "2026-11-20T10:30:00+08:00", [
        ("agent", 0.5, 3.0, "喂，哪位"), ASK, ("agent", 8.5, 12.0, EVIL),
        # (a second utterance with 不知道: one utterance is one finding per rule; the agent
        # asks the address, so CL02/PL02 apply: issue 13)
        ("customer", 12.5, 14.0, "那怎么办"), ("agent", 14.5, 16.0, "不知道，您住几栋"),
    ]),
    "c3": ("A1", "2026-11-21", [OPEN, ASK, NAME, NAME_A,
                                 ("agent", 14.5, 20.0, "这个我不知道，我已记下，谢谢"), BYE]),
    "c4": ("B7", "2026-11-21T14:00:00", [OPEN, ASK, NAME, NAME_A,
                                          ("agent", 14.5, 20.0, "王先生，您反映的问题我已记下，谢谢")]),
    "c5": ("B7", "2026-11-21T15:00:00", [OPEN, ASK, ("agent", 8.5, 12.0, "你有病吧，请问您贵姓"),
                                          NAME_A, RECORD, BYE]),
    "c6": (None, "2026-11-21T16:00:00", GOOD),
}

# What the default rulebook finds in each call: rule_id -> (findings, deduction).
EXPECTED_FINDINGS = {
    "c1": {},
    "c2": {"GR01": (1, 10.0), "GR02": (1, 5.0), "GR03": (1, 3.0), "SI01": (1, 10.0),
           "PL01": (1, 3.0), "PL02": (1, 2.0), "FB01": (2, 10.0), "CL01": (1, 5.0),
           "CL02": (1, 2.0)},
    "c3": {"FB01": (1, 5.0)},
    "c4": {"CL01": (1, 5.0)},
    "c5": {"FB05": (1, 50.0)},
    "c6": {},
}


@lru_cache(maxsize=1)
def scorer() -> Scorer:
    return Scorer(load_rulebook())


def transcript(call_id: str) -> Transcript:
    agent, _, turns = CALLS[call_id]
    utts = [Utterance(s, a, b, t) for s, a, b, t in turns]
    return Transcript(call_id, agent, max(u.end for u in utts) + 1.0, utts)


@lru_cache(maxsize=None)
def stored(call_id: str) -> StoredResult:
    agent, started_at, _ = CALLS[call_id]
    result = scorer().score(transcript(call_id))
    return StoredResult(call_id=call_id, path=f"recordings/{call_id}.wav", agent_id=agent,
                        started_at=started_at, result=result)


def batch(*call_ids: str) -> list[StoredResult]:
    return [stored(c) for c in (call_ids or CALLS)]


def make_store(out: Path, results: list[StoredResult] | None = None,
               failures: list[dict] | None = None) -> Path:
    """A real batch store in ``out`` holding ``results`` (default: the whole batch) as scored
    calls and ``failures`` (default: FAILURES) as failed ones, written with the store's own API."""
    from callqa.batch.store import Store

    with Store.open(out) as store:
        for s in batch() if results is None else results:
            path = store.write_result(s.result)
            store.update(s.call_id, path=s.path, agent_id=s.agent_id, started_at=s.started_at,
                         status="scored", result_path=store.relative(path),
                         score=s.result.score, passed=int(s.result.passed))
        for f in FAILURES if failures is None else failures:
            store.update(f["call_id"], path=f["path"], status="failed", error=f["error"])
    return out


FAILURES = [{"call_id": "bad1", "path": "recordings/bad1.wav", "status": "failed",
             "error": "recordings/bad1.wav: cannot decode <audio> & stuff"}]


def test_fixture_findings_are_as_expected():
    for call_id, expected in EXPECTED_FINDINGS.items():
        got: dict[str, tuple[int, float]] = {}
        for f in stored(call_id).result.findings:
            if f.review:
                continue  # 待复核: listed apart, not charged (tests/test_report_tables.py)
            n, d = got.get(f.rule_id, (0, 0.0))
            got[f.rule_id] = (n + 1, d + f.deduction)
        assert got == expected, call_id
