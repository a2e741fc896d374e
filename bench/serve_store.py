"""The workbench on a large store: list, filter and search answer times over N synthetic calls.

A synthetic batch output directory is written (rows in ``callqa.db``, a result file per call, as
``callqa batch`` writes them): the sample corpus's 18 dialogues scored with the default rulebook,
repeated over N calls, 40 agents and 30 days; 1 % of the calls get an agent turn containing
"不归我们管" (a rare phrase to search for) and 5 % get reviewer verdicts. Then the workbench
starts on it (timing the first index build), and each request is sent to a live uvicorn on
loopback several times (the median and the slowest are reported, end to end over HTTP).

    python bench/serve_store.py [--calls 10000] [--repeat 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from callqa.batch.store import Store
from callqa.result import CallResult
from callqa.verdicts import ReviewStore
from callqa.scoring import load_rulebook
from callqa.scoring.engine import score_transcript
from callqa.transcript import Utterance

from engine_throughput import corpus_transcripts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serve_helpers import live_server  # noqa: E402

RARE = "这个不归我们管，您找别的部门吧。"


def write_store(out: Path, n: int, seed: int = 7) -> None:
    rb = load_rulebook()
    base = [score_transcript(t, rb) for t in corpus_transcripts()]
    rng = random.Random(seed)
    day0 = datetime(2026, 10, 1, 8, 0, 0)
    with Store.open(out) as store:
        store.conn.execute("BEGIN")
        for i in range(n):
            src = base[i % len(base)]
            utts = list(src.utterances)
            if i % 100 == 0:
                end = utts[-1].end
                utts.append(Utterance("agent", end + 0.5, end + 3.0, RARE))
            cid = f"c{i:05d}"
            agent = f"A{i % 40:03d}"
            r: CallResult = replace(src, call_id=cid, agent_id=agent, utterances=utts)
            path = store.write_result(r)
            started = day0 + timedelta(days=rng.randrange(30), seconds=rng.randrange(36000))
            store.update(cid, path=f"/recordings/{cid}.flac", agent_id=agent,
                         started_at=started.isoformat(), status="scored",
                         result_path=store.relative(path), score=r.score, passed=int(r.passed))
        store.conn.execute("COMMIT")
    with ReviewStore.open(out / "callqa.db") as rs:
        qa = rs.add_user("qa", "reviewer", "bench")
        for i in range(0, n, 20):
            r = base[i % len(base)]
            for f in r.findings:
                rs.set_verdict(qa, f"c{i:05d}", f, rng.choice(["confirmed", "rejected"]),
                               "bench")
            rs.mark_reviewed(qa, f"c{i:05d}")


def timed_get(url: str, auth: str, repeat: int) -> tuple[float, float, int]:
    times = []
    size = 0
    for _ in range(repeat):
        req = urllib.request.Request(url, headers={"Authorization": auth})
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=120) as r:
            body = r.read()
        times.append(time.perf_counter() - t)
        size = len(body)
    return statistics.median(times), max(times), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="callqa-serve-bench-"))

    t = time.perf_counter()
    write_store(out, args.calls)
    print(f"store: {args.calls} calls written to {out} in {time.perf_counter() - t:.1f} s",
          file=sys.stderr)

    from callqa.serve import create_app

    t = time.perf_counter()
    app = create_app(out)
    build_s = time.perf_counter() - t
    db_mb = (out / "callqa.db").stat().st_size / 1e6
    auth = "Basic " + base64.b64encode(b"qa:bench").decode()
    q = urllib.parse.urlencode
    requests = [
        ("calls list, page 1 (newest first)", "/api/calls"),
        ("calls list as HTML page", "/calls"),
        ("filter agent + fail", "/api/calls?" + q({"agent": "A007", "result": "fail"})),
        ("filter rule FB03, sort by score", "/api/calls?" + q({"rule": "FB03", "sort": "score",
                                                              "order": "asc"})),
        ("filter date range + score ≤ 80", "/api/calls?" + q({"since": "2026-10-10",
                                                              "until": "2026-10-12",
                                                              "score_max": 80})),
        ("filter review status unreviewed", "/api/calls?" + q({"review": "unreviewed"})),
        ("filter review status reviewed, page 3", "/api/calls?" + q({"review": "reviewed",
                                                                     "page": 3})),
        ("search 不归我们管 said by the agent (rare)", "/api/search?" + q({"q": "不归我们管",
                                                                       "speaker": "agent"})),
        ("search 不知道 (common)", "/api/search?" + q({"q": "不知道"})),
        ("search 您好 as HTML page (very common)", "/search?" + q({"q": "您好"})),
        ("search 喂 (1 character: scan, no index)", "/api/search?" + q({"q": "喂"})),
        ("one call (detail with reviews)", "/api/calls/c00020"),
        ("rule precision", "/api/precision"),
        ("agents summary (40 agents, metrics)", "/api/agents"),
    ]
    rows = []
    with live_server(app) as base:
        for label, path in requests:
            med, worst, size = timed_get(base + path, auth, args.repeat)
            rows.append((label, med, worst, size))
        # a re-scored call: the next request re-reads only that call
        with Store.open(out) as store:
            time.sleep(1.1)
            store.update("c00001", path="/recordings/c00001.flac", status="scored")
        t = time.perf_counter()
        timed_get(base + "/api/calls", auth, 1)
        rows.append(("list after one call changed (incremental re-index)",
                     time.perf_counter() - t, time.perf_counter() - t, 0))
    print(f"\n{args.calls} calls; index built in {build_s:.1f} s; callqa.db {db_mb:.0f} MB; "
          f"median and slowest of {args.repeat} requests over HTTP on loopback\n")
    print("| request | median | slowest | response |")
    print("|---|---|---|---|")
    for label, med, worst, size in rows:
        print(f"| {label} | {med * 1000:.0f} ms | {worst * 1000:.0f} ms | "
              f"{size / 1000:.0f} kB |")


if __name__ == "__main__":
    main()
