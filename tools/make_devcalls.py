#!/usr/bin/env python
"""Render the development call set: scripts → labelled calls in ``../shared/eval``'s format.

Dev-only, like ``tools/make_samples.py`` (whose TTS voice and telephone line it reuses; it needs
the same TTS environment, see ``docs/samples.md``). ``bench/devcalls/scripts/*.yaml`` are calls
written apart from ``samples/`` (other scenarios, phrasings and voice settings), each with an
``expect:`` block labelled by the policy of ``../shared/eval/README.md``. For every script it writes
``bench/devcalls/<id>.flac`` and ``<id>.truth.json`` (``call``, ``agent``, ``duration``, ``expect``,
``turns`` with ``who/text/start/end``), so the external scorer runs on them as is. ``degrade``
(no TTS needed) writes a copy of every rendered call under each named condition, with its own
truth file, into another folder::

    /work/ttsvenv/bin/python tools/make_devcalls.py render
    python tools/make_devcalls.py degrade --conditions mono,babble_20db,gsm,echo_-20db_60ms --out /tmp/devcond
    python ../shared/eval/eval_calls.py --project . --dir bench/devcalls
    python ../shared/eval/eval_calls.py --project . --dir /tmp/devcond

Conditions are ``bench/degrade.py``'s (``python bench/degrade.py --list``; deterministic, seeded
by call id), e.g. ``mono``, ``babble_20db``, ``gsm``, ``echo_-20db_60ms``, ``customer_-12db``.
``--calls`` takes any folder of labelled calls, e.g. ``../shared/eval/calls``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_samples as ms  # noqa: E402  (the sample corpus's TTS voice and telephone line)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from degrade import CONDITIONS, degraded  # noqa: E402  (the one definition of each condition)

ROOT = Path(__file__).resolve().parent.parent
DEV_DIR = ROOT / "bench" / "devcalls"
EXPECT_KEYS = {"greeting", "closing", "forbidden", "dead_air", "hold_etiquette", "interruptions",
               "fast", "refusal_without_apology", "shirking"}


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    expect = data.pop("expect", None)
    if not isinstance(expect, dict) or set(expect) - EXPECT_KEYS:
        raise ms.ScriptError(f"{path}: expect must be a mapping of {sorted(EXPECT_KEYS)}")
    if data.get("call_id") != path.stem:
        raise ms.ScriptError(f"{path}: call_id must equal the file stem")
    data["expect"] = expect
    return data


def truth_of(script: dict, rendered: dict, name: str, duration: float, condition: str) -> dict:
    return {
        "call": name, "agent": script["agent_id"], "duration": duration,
        "expect": script["expect"], "condition": condition or "clean",
        "scenario": script["scenario"].strip(),
        "turns": [{"who": t["speaker"], "text": t["text"], "start": t["start"], "end": t["end"]}
                  for t in rendered["turns"]],
        "generator": {"tool": "tools/make_devcalls.py", **rendered["generator"]},
    }


def render(args: argparse.Namespace) -> None:
    voice = ms.Voice()
    for path in sorted(args.scripts.glob("*.yaml")):
        if args.only and path.stem not in args.only:
            continue
        script = load(path)
        stereo, rendered = ms.render_call(voice, script)
        for warning in ms.lint_truth(rendered):
            print(f"{path.stem}: warning: {warning}", file=sys.stderr)
        truth = truth_of(script, rendered, path.stem, rendered["duration"], "")
        write(args.out, path.stem, stereo, ms.OUT_RATE, truth)


def degrade_all(args: argparse.Namespace) -> None:
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown:
        raise SystemExit(f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for truth_path in sorted(args.calls.glob("*.truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        stereo, rate = sf.read(args.calls / f"{truth['call']}.flac", dtype="float32", always_2d=True)
        for condition in conditions:
            name = f"{truth['call']}__{condition}"
            audio, out_rate = degraded(condition, stereo, rate, truth["call"])
            write(args.out, name, audio, out_rate, {**truth, "call": name, "condition": condition})


def write(out: Path, name: str, audio: np.ndarray, rate: int, truth: dict) -> None:
    peak = np.abs(audio).max()
    if peak > 0.99:  # noise or echo pushed it over full scale
        audio = audio * (0.99 / peak)
    sf.write(out / f"{name}.flac", audio, rate, subtype="PCM_16", format="FLAC")
    (out / f"{name}.truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n",
                                           encoding="utf-8")
    print(f"{name}: {truth['duration']:.1f} s", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="scripts → clean calls (needs the TTS environment)")
    r.add_argument("--scripts", type=Path, default=DEV_DIR / "scripts")
    r.add_argument("--out", type=Path, default=DEV_DIR)
    r.add_argument("--only", action="append", metavar="CALL_ID")
    d = sub.add_parser("degrade", help="rendered calls → copies under named conditions")
    d.add_argument("--calls", type=Path, default=DEV_DIR)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--conditions", required=True, help="comma-separated, e.g. mono,babble15,gsm,echo")
    args = ap.parse_args(argv)
    render(args) if args.command == "render" else degrade_all(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
