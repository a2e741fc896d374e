"""Shared by the privacy tests: a batch output directory built from recorded ASR transcripts
(the customer dictates a phone number, the agent reads it back), and a scanner for personal
numbers in any text that leaves the store."""

from __future__ import annotations

import io
import re
from pathlib import Path

from callqa.batch.store import Store
from callqa.privacy.detect import BANK_CARD, ID_NUMBER, PHONE, digits_of
from callqa.result import CallResult
from callqa.scoring import load_rulebook
from callqa.scoring.engine import score_transcript
from callqa.transcript import Transcript, Utterance, load_transcript

ROOT = Path(__file__).resolve().parents[1]
RECORDED = Path(__file__).parent / "data" / "samples"
AGENT_ID = "A001"
# call_17: 我的电话是13 90 12 3 45 67 / 电话13 9-0 12-3 45 67 (read back)
CALLS = ("call_17_deposit_callback_promise", "call_01_repair_leak",
         "call_02_fee_hold_announced")
OLD, NEW = "2026-08-01T09:00:00", "2026-11-20T09:00:00"
# A written call whose findings quote personal data: the agent's rude answer (不知道, a finding
# whose evidence is that sentence) names a colleague's mobile, the customer an ID and a card.
WRITTEN = "written_numbers_in_evidence"
_WRITTEN = Transcript(WRITTEN, AGENT_ID, 40.0, [
    Utterance("agent", 0.5, 4.0, "您好，光明物业客服中心，请问有什么可以帮您？"),
    Utterance("customer", 4.5, 12.0, "我要退押金，身份证号110105199003071234，退到卡号6222021234567890123。"),
    Utterance("agent", 12.5, 20.0, "这个我不知道，你打财务的手机13801380000问问。"),
    Utterance("customer", 20.5, 24.0, "好吧。"),
    Utterance("agent", 24.5, 27.0, "再见。")])

_RUN = re.compile(r"[0-9一二三四五六七八九零〇幺](?:[\s\-]{0,2}[0-9一二三四五六七八九零〇幺])*")


def build_batch(out: Path, started_at: dict[str, str] | None = None) -> list[CallResult]:
    """Score the recorded transcripts and store them as ``callqa batch`` does (transcript file,
    result file, row), each call started at ``started_at[call]`` (default NEW)."""
    rb = load_rulebook()
    results = []
    with Store.open(out) as store:
        for name in CALLS:
            t = load_transcript(RECORDED / f"{name}.json")
            t.call_id, t.agent_id = name, AGENT_ID
            result = score_transcript(t, rb)
            tpath = store.transcript_file(name)
            tpath.parent.mkdir(parents=True, exist_ok=True)
            tpath.write_text((RECORDED / f"{name}.json").read_text("utf-8"), encoding="utf-8")
            rpath = store.write_result(result)
            recording = str(ROOT / "samples" / f"{name}.flac")
            store.update(name, path=recording, abs_path=recording, agent_id=AGENT_ID,
                         started_at=(started_at or {}).get(name, NEW), status="scored",
                         transcript_path=store.relative(tpath), result_path=store.relative(rpath),
                         score=result.score, passed=int(result.passed), asr_key=f"key-{name}")
            results.append(result)
        result = score_transcript(_WRITTEN, rb)
        rpath = store.write_result(result)
        store.update(WRITTEN, path=str(ROOT / "samples" / f"{CALLS[0]}.flac"), agent_id=AGENT_ID,
                     started_at=(started_at or {}).get(WRITTEN, NEW), status="scored",
                     result_path=store.relative(rpath), score=result.score,
                     passed=int(result.passed))
        results.append(result)
    return results


def secrets(results: list[CallResult]) -> set[str]:
    """The digits of every phone, ID and card number said in these calls."""
    return {digits_of(e.text) for r in results for e in r.entities or ()
            if e.type in (PHONE, ID_NUMBER, BANK_CARD)}


def leaks(text: str, numbers: set[str]) -> list[str]:
    """Each stretch of ``text`` that spells one of ``numbers`` (however it is written)."""
    found = []
    for m in _RUN.finditer(text):
        d = digits_of(m.group(0))
        if any(n in d for n in numbers):
            found.append(m.group(0))
    return found


def xlsx_text(data: bytes) -> str:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data), read_only=True)
    return "\n".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                     for c in row if c is not None)
