#!/usr/bin/env python
"""Batch throughput: ``callqa batch`` over the sample corpus with 1 and 2 workers.

For each worker count it runs a fresh batch (new output directory, so every call is transcribed
by the embedded model) as a subprocess and reports calls/hour, audio-hours/hour and the peak RSS
of the whole process tree (the batch parent plus its workers, summed), sampled from ``/proc``
every 0.1 s. Linux only; no extra dependencies.

Usage (from the repository root)::

    python bench/batch_throughput.py                      # samples/, workers 1 and 2
    python bench/batch_throughput.py --workers 2 --recordings /path/to/dir --markdown
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (via /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakSampler(threading.Thread):
    """Samples the summed RSS of a process tree; ``peak_kib`` is the largest sum seen."""

    def __init__(self, pid: int, interval_s: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.peak_kib, self.peak_processes = 0, 0
        self.peak_parts: list[int] = []  # RSS (KiB) of each process at the peak, parent first
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids = _tree(self.pid)
            parts = [_rss_kib(p) for p in pids]
            total = sum(parts)
            if total > self.peak_kib:
                self.peak_kib, self.peak_processes, self.peak_parts = total, len(pids), parts
            self.stop.wait(self.interval_s)


def run_once(recordings: Path, workers: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="callqa-bench-") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-c", "from callqa.cli import main; main()", "batch",
               str(recordings), "--out", str(out), "--workers", str(workers), "--no-progress",
               *extra]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        sampler = PeakSampler(proc.pid)
        sampler.start()
        _, stderr = proc.communicate()
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        conn = sqlite3.connect(out / "callqa.db")
        scored, audio_s, asr_s = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(audio_seconds), 0), COALESCE(SUM(asr_seconds), 0) "
            "FROM calls WHERE status = 'scored'").fetchone()
        failed = conn.execute("SELECT COUNT(*) FROM calls WHERE status = 'failed'").fetchone()[0]
        conn.close()
    return {"workers": workers, "exit_code": proc.returncode, "calls": scored,
            "failed": failed, "audio_s": audio_s, "asr_s": asr_s, "wall_s": wall,
            "calls_per_hour": scored / wall * 3600, "audio_h_per_hour": audio_s / wall,
            "peak_rss_mb": sampler.peak_kib / 1024, "processes": sampler.peak_processes,
            "peak_parts_mb": [round(k / 1024) for k in sampler.peak_parts],
            "summary": stderr.strip().splitlines()[-1] if stderr.strip() else ""}


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=Path, default=ROOT / "samples")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("extra", nargs="*", help="more `callqa batch` options (after --)")
    args = ap.parse_args()
    files = [p for p in args.recordings.rglob("*")
             if p.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3", ".m4a")]
    print(f"# {len(files)} recordings in {args.recordings}; {os.cpu_count()} cores; "
          f"{platform.processor() or platform.machine()}; load average before: "
          f"{load_average()}", file=sys.stderr)
    results = []
    for w in args.workers:
        r = run_once(args.recordings, w, args.extra)
        r["load_after"] = load_average()
        results.append(r)
        print(f"workers={w}: {r['calls']} calls ({r['failed']} failed), "
              f"{r['audio_s'] / 60:.1f} min audio in {r['wall_s']:.0f} s wall → "
              f"{r['calls_per_hour']:.0f} calls/h, {r['audio_h_per_hour']:.2f} audio-h/h, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB over {r['processes']} processes "
              f"({' + '.join(map(str, r['peak_parts_mb']))} MB, batch parent first) "
              f"(load average after: {r['load_after']})", file=sys.stderr)
    if args.markdown:
        print("| workers × threads | calls | audio (min) | wall (s) | calls/hour | "
              "audio-hours/hour | peak RSS (MB, all processes) |")
        print("|---|---|---|---|---|---|---|")
        cores = os.cpu_count() or 1
        for r in results:
            print(f"| {r['workers']} × {max(1, cores // r['workers'])} | {r['calls']} | "
                  f"{r['audio_s'] / 60:.1f} | {r['wall_s']:.0f} | {r['calls_per_hour']:.0f} | "
                  f"{r['audio_h_per_hour']:.2f} | {r['peak_rss_mb']:.0f} |")
    return 0 if all(r["exit_code"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
