"""Drill feedback latency: from the trainee's last answer to a scored result, for a ~90 s
scenario, against a live uvicorn on loopback.

The scenario is a sample call (default call_11_fee_fast_speech, 88 s, the longest sample); the
trainee's microphone recording is that call's own agent channel, encoded as the browser does
(Opus in WebM, 48 kHz), uploaded in one-second pieces while the "call" runs, and the customer
turns are reported as played at their original moments. The call is replayed in real time as
the page does it: after each customer turn the recording so far is uploaded and the turns played
are posted (the server recognises the call so far in the background). What is timed is what the
trainee waits for: from the "finish" request (sent 1.2 s after the last answer, when the page
hears the quiet) to the attempt being scored, polled every 0.1 s as the page does.

    python bench/drill_latency.py [--call call_11_fee_fast_speech] [--runs 3] [--no-head-start]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import soundfile as sf

from callqa.asr.audio import resample_channel
from callqa.batch.store import Store
from callqa.drill import recognizer
from callqa.drill.scenario import CLIP_PAD_S
from callqa.scoring import load_rulebook
from callqa.scoring.engine import score_transcript
from callqa.serve import create_app
from callqa.transcript import Transcript, Utterance
from callqa.verdicts import ReviewStore

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from serve_helpers import live_server, webm  # noqa: E402

TRAINER, TRAINEE = ("trainer", "pw-trainer"), ("trainee", "pw-trainee")


def request(base: str, path: str, user, body: bytes | None = None,
            ctype: str = "application/json") -> dict:
    token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    req = urllib.request.Request(base + path, data=body, method="POST" if body is not None
                                 else "GET", headers={"Authorization": f"Basic {token}",
                                                      "Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--call", default="call_11_fee_fast_speech")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-head-start", action="store_true",
                    help="do not post the turns played during the call (nothing is recognised "
                         "before the end: what the head start saves)")
    args = ap.parse_args()
    samples = ROOT / "samples"
    truth = json.loads((samples / f"{args.call}.truth.json").read_text("utf-8"))
    recording = samples / f"{args.call}.flac"
    out = Path(tempfile.mkdtemp(prefix="drill-bench-"))
    t = Transcript(args.call, None, float(truth["duration"]),
                   [Utterance(x["speaker"], x["start"], x["end"], x["text"])
                    for x in truth["turns"]])
    result = score_transcript(t, load_rulebook())
    with Store.open(out) as store:
        path = store.write_result(result)
        store.update(args.call, path=str(recording), abs_path=str(recording), status="scored",
                     result_path=store.relative(path), score=result.score,
                     passed=int(result.passed), agent_channel="left")
    with ReviewStore.open(out / "callqa.db") as rs:
        rs.add_user(*TRAINER[:1], "trainer", TRAINER[1])
        rs.add_user(*TRAINEE[:1], "trainee", TRAINEE[1])

    data, rate = sf.read(recording, dtype="float32", always_2d=True)
    mic = webm(resample_channel(data[:, 0], rate, 48000))
    pieces = [mic[i: i + 4096] for i in range(0, len(mic), 4096)]
    with live_server(create_app(out)) as base:
        sc = request(base, "/api/drills/scenarios", TRAINER,
                     json.dumps({"call_id": args.call, "trainees": [TRAINEE[0]]}).encode())
        customer = [x for x in truth["turns"] if x["speaker"] == "customer"]
        turn_starts = []  # the scenario joins consecutive customer utterances
        last = None
        for x in truth["turns"]:
            if x["speaker"] == "customer" and last != "customer":
                turn_starts.append(x["start"])
            last = x["speaker"]
        assert len(turn_starts) == len(sc["turns"]), (len(turn_starts), len(customer))
        plays = [{"turn": i, "at_s": max(0.0, s - CLIP_PAD_S[0])}
                 for i, s in enumerate(turn_starts)]
        ends = []  # when each customer turn's clip ends, on the call's clock
        data_s = len(data) / rate
        for sc_turn, p in zip(sc["turns"], plays):
            ends.append(p["at_s"] + sc_turn["duration_s"] + sum(CLIP_PAD_S))
        waits = []
        for run in range(args.runs):
            recognizer.forget()  # each run a new trainee: nothing remembered from the last
            before = dict(recognizer.stats)
            a = request(base, f"/api/drills/scenarios/{sc['id']}/attempts", TRAINEE, b"{}")
            sent = 0
            began = time.perf_counter()

            def upload_until(t_s: float) -> None:
                """The pieces the browser has uploaded by then (bytes ∝ time)."""
                nonlocal sent
                upto = min(len(pieces), int(len(pieces) * min(1.0, t_s / data_s)) + 1)
                for seq in range(sent, upto):
                    request(base, f"/api/drills/attempts/{a['id']}/audio?seq={seq}", TRAINEE,
                            pieces[seq], "application/octet-stream")
                sent = upto

            for i, end in enumerate(ends):  # in real time, as the page does it
                time.sleep(max(0.0, end - (time.perf_counter() - began)))
                upload_until(end)
                if not args.no_head_start:
                    request(base, f"/api/drills/attempts/{a['id']}/plays", TRAINEE,
                            json.dumps({"plays": plays[: i + 1]}).encode())
            # the last answer, then the page's 1.2 s of quiet
            time.sleep(max(0.0, data_s + 1.2 - (time.perf_counter() - began)))
            upload_until(data_s + 10)
            started = time.perf_counter()
            got = request(base, f"/api/drills/attempts/{a['id']}/finish", TRAINEE,
                          json.dumps({"chunks": len(pieces), "plays": plays}).encode())
            while got["status"] == "scoring":
                time.sleep(0.1)
                got = request(base, f"/api/drills/attempts/{a['id']}", TRAINEE)
            waits.append(time.perf_counter() - started)
            print(f"run {run + 1}: {got['status']} score {got['score']} in {waits[-1]:.2f} s "
                  f"(rules {','.join(got['rules'])}); stretches recognised "
                  f"{recognizer.stats['recognised'] - before['recognised']}, remembered "
                  f"{recognizer.stats['remembered'] - before['remembered']}",
                  flush=True)
    print(f"{args.call}: {truth['duration']:.0f} s scenario, {len(sc['turns'])} customer turns; "
          f"result {statistics.median(waits):.2f} s after the last answer (median of "
          f"{len(waits)}, slowest {max(waits):.2f} s)")


if __name__ == "__main__":
    main()
