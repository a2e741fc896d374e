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
    python tools/make_devcalls.py degrade --conditions mono,babble15,gsm,echo --out /tmp/devcond
    python ../shared/eval/eval_calls.py --project . --dir bench/devcalls
    python ../shared/eval/eval_calls.py --project . --dir /tmp/devcond

Conditions (deterministic, seeded by call id): ``mono`` (both parties on one track, the way
most PBX exports are), ``whiteN``/``babbleN`` (noise at N dB SNR per track), ``ulaw``/``alaw``/
``gsm``/``amr`` (sox round trip through the telephone codec), ``echo`` (each track carries the
other at −20 dB, 60 ms late: line echo), ``quiet`` (customer −12 dB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_samples as ms  # noqa: E402  (the sample corpus's TTS voice and telephone line)

ROOT = Path(__file__).resolve().parent.parent
DEV_DIR = ROOT / "bench" / "devcalls"
EXPECT_KEYS = {"greeting", "closing", "forbidden", "dead_air", "hold_etiquette", "interruptions",
               "fast", "refusal_without_apology", "shirking"}
SOX_CODECS = {"ulaw": ["-e", "u-law", "-t", "wav"], "alaw": ["-e", "a-law", "-t", "wav"],
              "gsm": ["-t", "gsm"], "amr": ["-t", "amr-nb"]}


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


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)) + 1e-12)


def babble(n: int, rng: np.random.Generator, voices: np.ndarray) -> np.ndarray:
    """Several far-off talkers: the call's own speech at random offsets, summed."""
    out = np.zeros(n)
    for _ in range(6):
        out += np.roll(voices, int(rng.integers(n)))
    return out


def degrade(stereo: np.ndarray, condition: str, seed: int) -> np.ndarray:
    """One named condition applied to an 8 kHz (n, 2) recording; mono comes back (n,)."""
    rng = np.random.default_rng(seed)
    x = stereo.copy()
    if condition == "mono":
        return x.mean(axis=1)
    if condition == "quiet":
        x[:, 1] *= 10 ** (-12 / 20)
        return x
    if condition == "echo":
        d = int(0.060 * ms.OUT_RATE)
        g = 10 ** (-20 / 20)
        x[d:, 0] += g * stereo[:-d, 1]
        x[d:, 1] += g * stereo[:-d, 0]
        return x
    for kind in ("white", "babble"):
        if condition.startswith(kind):
            snr = float(condition[len(kind):])
            for ch in range(2):
                speech = x[:, ch][np.abs(x[:, ch]) > 1e-3]
                noise = rng.standard_normal(len(x)) if kind == "white" else \
                    babble(len(x), rng, stereo.sum(axis=1))
                x[:, ch] += noise * rms(speech) / rms(noise) * 10 ** (-snr / 20)
            return x
    if condition in SOX_CODECS:
        with tempfile.TemporaryDirectory() as tmp:
            src, coded, back = (Path(tmp) / n for n in ("in.wav", "coded", "out.wav"))
            chans = []
            for ch in range(2):
                sf.write(src, x[:, ch], ms.OUT_RATE, subtype="PCM_16")
                subprocess.run(["sox", str(src), "-r", "8000", "-c", "1", *SOX_CODECS[condition],
                                str(coded)], check=True)
                subprocess.run(["sox", *SOX_CODECS[condition][-2:], str(coded), "-b", "16", str(back)],
                               check=True)
                y, _ = sf.read(back)
                chans.append(np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)])
            return np.stack(chans, axis=1)
    raise SystemExit(f"unknown condition {condition!r}")


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
        write(args.out, path.stem, stereo, truth)


def degrade_all(args: argparse.Namespace) -> None:
    conditions = [c for c in args.conditions.split(",") if c]
    args.out.mkdir(parents=True, exist_ok=True)
    for truth_path in sorted(args.calls.glob("*.truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        stereo, rate = sf.read(args.calls / f"{truth['call']}.flac")
        assert rate == ms.OUT_RATE and stereo.ndim == 2, truth_path
        for condition in conditions:
            name = f"{truth['call']}__{condition}"
            audio = degrade(stereo, condition, zlib.crc32(name.encode()))
            write(args.out, name, audio, {**truth, "call": name, "condition": condition})


def write(out: Path, name: str, audio: np.ndarray, truth: dict) -> None:
    peak = np.abs(audio).max()
    if peak > 0.99:  # noise or echo pushed it over full scale
        audio = audio * (0.99 / peak)
    sf.write(out / f"{name}.flac", audio, ms.OUT_RATE, subtype="PCM_16", format="FLAC")
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
