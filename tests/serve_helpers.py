"""A batch output directory for the workbench tests, built without ASR: each sample call's
recorded script (``samples/*.truth.json`` turns) is scored with the default rulebook and stored
as ``callqa batch`` stores it (row, result file, the recording's path), plus two calls that
exercise the edge cases: a call whose roles are uncertain (no recording found) and an unscored
misdial."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

from callqa.batch.store import Store
from callqa.result import CallResult
from callqa.scoring import load_rulebook
from callqa.scoring.engine import score_transcript
from callqa.transcript import ROLES_UNCERTAIN, Transcript, Utterance

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
UNCERTAIN = "mono_uncertain_roles"
MISDIAL = "misdial"
XSS_CALL = "xss_call"
XSS = "<img src=x onerror=alert(1)>"


def _transcript(call_id: str, agent_id: str | None, truth: dict, **kw) -> Transcript:
    utts = [Utterance(t["speaker"], float(t["start"]), float(t["end"]), t["text"])
            for t in truth["turns"]]
    return Transcript(call_id, agent_id, float(truth["duration"]), utts, **kw)


@functools.lru_cache(maxsize=1)
def _scored() -> tuple[tuple[CallResult, str, str], ...]:
    """(result, recording path, started_at) per call, scored once per test session."""
    rb = load_rulebook()
    out = []
    with open(SAMPLES / "manifest.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        truth = json.loads((SAMPLES / f"{row['call_id']}.truth.json").read_text("utf-8"))
        tr = _transcript(row["call_id"], row["agent_id"], truth)
        out.append((score_transcript(tr, rb), str(SAMPLES / row["path"]), row["started_at"]))
    first = json.loads((SAMPLES / f"{rows[5]['call_id']}.truth.json").read_text("utf-8"))
    tr = _transcript(UNCERTAIN, rows[5]["agent_id"], first, roles=ROLES_UNCERTAIN,
                     roles_confidence=0.5)
    out.append((score_transcript(tr, rb), str(SAMPLES / "no_such_recording.wav"),
                "2026-11-22T08:00:00"))
    # An unscored call as the record has it (the engine's misdial detection is not what these
    # tests are about): no findings, score None, the reason.
    misdial = CallResult(MISDIAL, rows[0]["agent_id"], 4.0, None, False, [],
                         [Utterance("customer", 0.5, 1.5, "喂？")],
                         unscored="没有坐席语音（可能是误拨）", rulebook=rb.info())
    out.append((misdial, str(SAMPLES / rows[0]["path"]), "2026-11-22T08:05:00"))
    # Markup in what people said must reach the page as text.
    xss = Transcript(XSS_CALL, "A002", 12.0, [
        Utterance("agent", 0.5, 3.0, "您好，光明物业客服中心。"),
        Utterance("customer", 3.5, 7.0, f"楼道灯坏了 {XSS} 谁管？"),
        Utterance("agent", 7.5, 11.0, "这个不归我们管，您找电力公司吧。")])
    out.append((score_transcript(xss, rb), str(SAMPLES / rows[1]["path"]),
                "2026-11-22T09:00:00"))
    return tuple(out)


def build_store(out: Path) -> list[CallResult]:
    """Write the scored sample calls into ``out`` as a batch would."""
    results = []
    with Store.open(out) as store:
        for result, recording, started_at in _scored():
            path = store.write_result(result)
            store.update(result.call_id, path=recording, abs_path=recording,
                         agent_id=result.agent_id, started_at=started_at, status="scored",
                         result_path=store.relative(path), score=result.score,
                         passed=int(result.passed))
            results.append(result)
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """Run ``app`` in a real uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def webm(samples, rate: int = 48000) -> bytes:
    """Opus in WebM, as MediaRecorder writes it."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as c:
        s = c.add_stream("libopus", rate=rate)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    return buf.getvalue()
