#!/usr/bin/env python
"""Overhead of ``callqa batch --executor ray`` against the local process pool, same calls.

Runs ``callqa batch`` (fresh output directory, so every call is transcribed) once with the
local executor and once with ``--executor ray`` (a private Ray instance started by the batch on
this machine, as a user without a cluster gets), both with the same ``--workers`` and otherwise
the same command, and reports calls/hour, audio-hours/hour, wall time and peak RSS of the
process tree (batch_throughput.py's measurement). A second pair of runs on a single recording
shows the fixed cost per batch (Ray start-up, actors, model loads).

Usage (from the repository root; needs ``pip install -e '.[ray]'``)::

    RAY_USAGE_STATS_ENABLED=0 python bench/ray_overhead.py [--workers 2] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_throughput import ROOT, load_average, run_once  # noqa: E402

SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")


def pair(recordings: Path, workers: int) -> list[dict]:
    out = []
    for name, extra in (("local", []), ("ray", ["--executor", "ray"])):
        r = run_once(recordings, workers, extra)
        r["executor"] = name
        print(f"{name:5} workers={workers}: {r['calls']} calls ({r['failed']} failed) in "
              f"{r['wall_s']:.1f} s wall → {r['calls_per_hour']:.0f} calls/h, "
              f"{r['audio_h_per_hour']:.2f} audio-h/h, peak RSS {r['peak_rss_mb']:.0f} MB over "
              f"{r['processes']} processes (load average after: {load_average()})",
              file=sys.stderr)
        out.append(r)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=Path, default=ROOT / "samples")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--calls", type=int, default=0, help="only the first N recordings")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    files = sorted(p for p in args.recordings.rglob("*") if p.suffix.lower() in SUFFIXES)
    files = files[: args.calls or None]
    print(f"# {len(files)} recordings from {args.recordings}; {os.cpu_count()} cores; load "
          f"average before: {load_average()}", file=sys.stderr)
    rows = []
    for which, chosen in (("all", files), ("one", files[:1])):
        with tempfile.TemporaryDirectory(prefix="callqa-bench-rec-") as tmp:
            for f in chosen:
                shutil.copy(f, tmp)
            rows += [(which, r) for r in pair(Path(tmp), args.workers)]
    if args.markdown:
        print("| recordings | executor | workers | calls | audio (min) | wall (s) | calls/hour | "
              "audio-hours/hour | peak RSS (MB, all processes) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for which, r in rows:
            label = f"{len(files)} calls" if which == "all" else f"1 ({files[0].name})"
            print(f"| {label} | {r['executor']} | {r['workers']} | {r['calls']} | "
                  f"{r['audio_s'] / 60:.1f} | {r['wall_s']:.1f} | {r['calls_per_hour']:.0f} | "
                  f"{r['audio_h_per_hour']:.2f} | {r['peak_rss_mb']:.0f} |")
    return 0 if all(r["exit_code"] == 0 for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
