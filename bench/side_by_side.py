#!/usr/bin/env python
"""callqa against the plain faster-whisper run, as whole processes, side by side.

    python bench/side_by_side.py                    # every pair below, 3 runs each (~15 min)
    python bench/side_by_side.py --pairs score --runs 5
    python bench/side_by_side.py --call samples/call_02_fee_hold_announced.flac

Pairs (A = callqa, B = the plain alternative), run in turn A B A B … so both see the same load:

- ``transcript``: ``callqa score --transcript T.json`` (scoring only: imports, rulebook, jieba,
  sentence encoder) vs ``python -c pass`` (the interpreter alone): the fixed cost of a score.
- ``score``: ``callqa score CALL --no-cache`` (a stereo call, cold: a new process loads
  everything, transcribes, scores) vs ``python bench/plain_whisper.py CALL`` (faster-whisper over
  both channels, ``vad_filter=True``, beam 5, the same whisper-base int8).
- ``batch``: ``callqa batch samples/ --out NEW_DIR`` with its default options vs
  ``python bench/plain_whisper.py --threads 2 samples/*.flac`` (one process, model loaded once).

Per run: wall seconds, CPU seconds of the whole process tree (the children's rusage, so worker
processes count), and the peak of the summed RSS of the process tree (sampled every 0.1 s from
/proc). Medians are printed, and the ratio B/A of the medians (above 1: callqa is faster).
Linux only; no dependencies beyond callqa's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from batch_throughput import PeakSampler, load_average  # noqa: E402

CALLQA = [sys.executable, "-c", "from callqa.cli import main; main()"]
PLAIN = [sys.executable, str(ROOT / "bench" / "plain_whisper.py")]


def run(cmd: list[str]) -> dict:
    """One whole-process run: wall, CPU of the tree, peak summed RSS of the tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = PeakSampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{err[-2000:]}")
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": sampler.peak_kib / 1024}


def pair(name: str, a: list[str], b: list[str], runs: int, fresh_out: bool = False) -> dict:
    rows: dict[str, list[dict]] = {"A": [], "B": []}
    if not fresh_out:  # warm-up: the file cache, the assembled model, the tokenizer cache
        run(b)
    for _ in range(runs):
        if fresh_out:
            out = Path(tempfile.mkdtemp(prefix="callqa-sbs-"))
            rows["A"].append(run([*a, "--out", str(out / "out")]))
            shutil.rmtree(out, ignore_errors=True)
        else:
            rows["A"].append(run(a))
        rows["B"].append(run(b))
        print(f"{name}: A {rows['A'][-1]['wall_s']:.1f} s, B {rows['B'][-1]['wall_s']:.1f} s "
              f"(load {load_average()})", file=sys.stderr, flush=True)
    med = {k: {f: statistics.median(r[f] for r in v) for f in ("wall_s", "cpu_s", "peak_mb")}
           for k, v in rows.items()}
    return {"name": name, "a": a, "b": b, "runs": runs, "median": med}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", default="transcript,score,batch")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--call", type=Path, default=ROOT / "samples" /
                    "call_11_fee_fast_speech.flac", help="the stereo call of the score pair")
    ap.add_argument("--transcript", type=Path, default=ROOT / "tests" / "data" / "samples" /
                    "call_11_fee_fast_speech.json")
    ap.add_argument("--recordings", type=Path, default=ROOT / "samples")
    args = ap.parse_args()
    wanted = args.pairs.split(",")
    print(f"# {os.cpu_count()} CPUs, load average before {load_average()}", file=sys.stderr)
    done = []
    if "transcript" in wanted:
        done.append(pair("transcript", [*CALLQA, "score", "--transcript", str(args.transcript)],
                         [sys.executable, "-c", "pass"], args.runs))
    if "score" in wanted:
        done.append(pair("score", [*CALLQA, "score", str(args.call), "--no-cache"],
                         [*PLAIN, str(args.call)], args.runs))
    if "batch" in wanted:
        flacs = sorted(str(p) for p in args.recordings.glob("*.flac"))
        done.append(pair("batch", [*CALLQA, "batch", str(args.recordings), "--no-progress"],
                         [*PLAIN, "--threads", "2", *flacs], args.runs, fresh_out=True))
    print("| pair | runs | callqa wall s | callqa CPU s | callqa peak MB | plain wall s | "
          "plain CPU s | plain peak MB | plain/callqa wall | plain/callqa CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in done:
        a, b = d["median"]["A"], d["median"]["B"]
        print(f"| {d['name']} | {d['runs']} | {a['wall_s']:.1f} | {a['cpu_s']:.1f} | "
              f"{a['peak_mb']:.0f} | {b['wall_s']:.1f} | {b['cpu_s']:.1f} | {b['peak_mb']:.0f} | "
              f"{b['wall_s'] / a['wall_s']:.2f}× | {b['cpu_s'] / a['cpu_s']:.2f}× |")
    print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
