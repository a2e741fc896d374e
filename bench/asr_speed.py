#!/usr/bin/env python
"""Speed: callqa's full ``score`` path vs plain faster-whisper, side by side on the same calls.

    python bench/asr_speed.py                        # the 16 sample calls, markdown table
    python bench/asr_speed.py --calls call_01_repair_leak,call_11_fee_fast_speech
    python bench/asr_speed.py --long 60,300,1200     # longer calls built from the samples
    python bench/asr_speed.py --set beam_size=1      # try callqa with other AsrOptions

Two pipelines, each in its own worker process (so each has its own peak RSS), fed the calls
alternately by this process (so both see the same machine load):

- ``baseline``: what a user writes by hand — ``faster_whisper.decode_audio(split_stereo=True)``,
  then ``WhisperModel.transcribe(channel, language="zh", vad_filter=True, beam_size=5)`` over
  each channel in turn (faster-whisper's own VAD and decoding defaults otherwise), same model
  (the embedded whisper-base) and compute type. Timed: decoding the file and transcribing both
  channels (segments consumed). Not timed: scoring, which this process does afterwards, only
  to compare verdicts.
- ``callqa``: ``transcribe_call(path, AsrOptions(...), use_cache=False)`` + ``Scorer.score``
  with the default rulebook — the path ``callqa score CALL`` runs. Timed: both.

The model is loaded once per worker before any call (load time printed, not in the per-call
times), and the scorer is built and warmed up (jieba, semantic encoder) before the first call.

Per call: wall and CPU seconds (``time.perf_counter`` / ``time.process_time`` in the worker;
CPU time covers all CTranslate2 threads), their ratio to the call's duration, the speedup
(baseline wall / callqa wall), CER and verdict agreement. CER: per channel, the concatenated
text of the truth turns of that speaker against the concatenated recognised text of that
channel, after ``normalize_match`` (OpenCC t2s, no punctuation or spaces); edits and reference
characters are summed over channels and calls. Verdicts: findings vs. the truth violations,
matched exactly as ``tests/test_samples_e2e.py`` does (rule, start within 1 s); a call agrees
when nothing is missed and nothing unexpected is found. The baseline's transcript has one
utterance per faster-whisper segment (segment times, segment text; speech = segment spans).
Peak RSS: ``ru_maxrss`` of each worker at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


# --------------------------------------------------------------------------- workers

def _parse_set(items: list[str]) -> dict[str, Any]:
    from callqa.asr.pipeline import AsrOptions

    types = {f.name: f.type for f in dataclasses.fields(AsrOptions)}
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in types:
            raise SystemExit(f"--set: AsrOptions has no field {key!r}")
        t = str(types[key])
        if value in ("None", "none"):
            out[key] = None
        elif "bool" in t:
            out[key] = value.lower() in ("1", "true", "yes")
        elif "int" in t and "float" not in t:
            out[key] = int(value)
        elif "float" in t:
            out[key] = float(value)
        elif "tuple" in t:
            out[key] = tuple(v for v in value.split(",") if v)
        else:
            out[key] = value
    return out


def _worker(kind: str, conn, settings: dict[str, Any]) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import warnings

    warnings.filterwarnings("ignore")
    from callqa.asr.whisper.models import load_model, resolve_model
    from callqa.asr.pipeline import AsrOptions, load_recognizer, transcribe_call
    from callqa.scoring import Scorer, load_rulebook

    t0 = time.perf_counter()
    rulebook = load_rulebook(ROOT / "rules" / "default.yaml")
    options = AsrOptions(**{"hotwords": tuple(rulebook.vocabulary), **settings})
    if kind == "baseline":  # faster-whisper's own threading, as a user leaves it
        model = load_model(resolve_model(options.model, options.model_dir), options.device,
                           options.resolved_compute_type, options.cpu_threads)
    else:  # callqa's layout (decoders × threads) for these options
        load_recognizer(options)
    load_s = time.perf_counter() - t0
    scorer = None
    if kind == "callqa":
        from test_samples_e2e import load_truth, truth_transcript

        scorer = Scorer(rulebook)
        scorer.score(truth_transcript(load_truth("call_01_repair_leak")))  # warm up
    conn.send({"load_s": load_s, "options": options.keyed()})

    while True:
        job = conn.recv()
        if job is None:
            break
        path, agent_id = job
        w, c = time.perf_counter(), time.process_time()
        if kind == "baseline":
            from faster_whisper import decode_audio

            channels = decode_audio(path, sampling_rate=16000, split_stereo=True)
            out = []
            for samples in channels:
                segments, _info = model.transcribe(samples, language="zh", vad_filter=True,
                                                   beam_size=5)
                out.append([(s.start, s.end, s.text) for s in segments])
            result: dict[str, Any] = {"segments": out}
        else:
            transcript = transcribe_call(path, options, agent_id=agent_id, use_cache=False)
            scored = scorer.score(transcript)
            result = {
                "text": {sp: "".join(u.text for u in transcript.utterances if u.speaker == sp)
                         for sp in transcript.speakers},
                "findings": [(f.rule_id, f.category, f.start, f.evidence)
                             for f in scored.findings],
                "decode": transcript.asr.get("decode", {}),
                "duration": transcript.duration,
            }
        result["wall_s"] = time.perf_counter() - w
        result["cpu_s"] = time.process_time() - c
        conn.send(result)
    conn.send({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


class Worker:
    def __init__(self, kind: str, settings: dict[str, Any]):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(kind, child, settings), daemon=True)
        self.proc.start()
        self.info = self.conn.recv()

    def run(self, path: Path, agent_id: str | None) -> dict[str, Any]:
        self.conn.send((str(path), agent_id))
        return self.conn.recv()

    def close(self) -> float:
        self.conn.send(None)
        peak = self.conn.recv()["peak_rss_mb"]
        self.proc.join()
        return peak


# --------------------------------------------------------------------------- calls

def sample_calls(names: list[str] | None) -> list[dict[str, Any]]:
    from test_samples_e2e import load_truth

    ids = sorted(p.name.removesuffix(".truth.json") for p in SAMPLES.glob("*.truth.json"))
    if names:
        ids = [i for i in ids if any(i.startswith(n) for n in names)]
    calls = []
    for call_id in ids:
        truth = load_truth(call_id)
        calls.append({"id": call_id, "path": SAMPLES / truth["audio"], "truth": truth,
                      "duration": truth["duration"], "agent_id": truth["agent_id"]})
    return calls


def long_calls(targets_s: list[float], tmp: Path) -> list[dict[str, Any]]:
    """Calls of at least each target length: whole sample calls concatenated in order
    (cycling), so every turn is complete; the truth turns are shifted along (no verdicts)."""
    import numpy as np
    import soundfile as sf

    base = sample_calls(None)
    calls = []
    for target in targets_s:
        pieces, turns, t, i = [], [], 0.0, 0
        while t < target:
            c = base[i % len(base)]
            x, rate = sf.read(c["path"], dtype="float32")
            pieces.append(x)
            turns += [{**u, "start": u["start"] + t, "end": u["end"] + t}
                      for u in c["truth"]["turns"]]
            t += len(x) / rate
            i += 1
        path = tmp / f"long_{int(target)}s.flac"
        sf.write(path, np.concatenate(pieces), rate)
        truth = {"turns": turns, "violations": None, "agent_id": "A001"}
        calls.append({"id": f"{i} samples joined ({t / 60:.1f} min)", "path": path,
                      "truth": truth, "duration": t, "agent_id": "A001"})
    return calls


# --------------------------------------------------------------------------- scoring

def cer_counts(truth: dict, text: dict[str, str]) -> tuple[int, int]:
    from callqa.text import char_edits, normalize_match

    edits = chars = 0
    for speaker in ("agent", "customer"):
        ref = normalize_match("".join(u["text"] for u in truth["turns"] if u["speaker"] == speaker))
        hyp = normalize_match(text.get(speaker, ""))
        edits += char_edits(ref, hyp)
        chars += len(ref)
    return edits, chars


def baseline_transcript(call: dict, segments: list[list[tuple[float, float, str]]]):
    from callqa.text import to_simplified
    from callqa.transcript import Interval, Transcript, Utterance

    speakers = ("agent", "customer")  # left = agent, as in every sample call
    utts = [Utterance(sp, round(s, 3), round(e, 3), to_simplified(text.strip()))
            for sp, segs in zip(speakers, segments) for s, e, text in segs if text.strip()]
    speech = {sp: [Interval(s, e) for s, e, _ in segs] for sp, segs in zip(speakers, segments)}
    return Transcript(call["id"], call["agent_id"], call["duration"], utts, speech=speech)


def agreement(findings, violations) -> tuple[bool, str]:
    from test_samples_e2e import compare

    unexpected, missed = compare(findings, violations)
    detail = ", ".join([f"+{f.rule_id}@{f.start:.0f}" for f in unexpected]
                       + [f"-{v.get('rule_id') or v['category']}@{v['start']:.0f}"
                          for v in missed])
    return not unexpected and not missed, detail


# --------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", default="", help="comma-separated call id prefixes (default: all)")
    ap.add_argument("--long", default="", help="also (or, with --no-samples, only) calls of at "
                    "least these lengths in seconds, built by joining sample calls")
    ap.add_argument("--no-samples", action="store_true")
    ap.add_argument("--pipelines", default="baseline,callqa")
    ap.add_argument("--repeat", type=int, default=1, help="runs per call and pipeline; the "
                    "fastest wall time (and its CPU time) is kept")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="an AsrOptions field for the callqa pipeline (repeatable)")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    ap.add_argument("--verbose", action="store_true", help="print verdict mismatches")
    args = ap.parse_args()

    from callqa.scoring import Scorer, load_rulebook

    settings = _parse_set(args.set)
    kinds = [k for k in args.pipelines.split(",") if k]
    tmp = Path(tempfile.mkdtemp(prefix="callqa-speed-"))
    calls = [] if args.no_samples else sample_calls([n for n in args.calls.split(",") if n])
    if args.long:
        calls += long_calls([float(v) for v in args.long.split(",")], tmp)
    scorer = Scorer(load_rulebook(ROOT / "rules" / "default.yaml")) if "baseline" in kinds \
        else None
    # the baseline runs the same model on the same device with the same compute type
    same = {k: v for k, v in settings.items()
            if k in ("model", "model_dir", "device", "compute_type", "cpu_threads")}
    workers = {k: Worker(k, settings if k == "callqa" else same) for k in kinds}
    for k, w in workers.items():
        print(f"{k}: model loaded in {w.info['load_s']:.1f} s", file=sys.stderr)
    if "callqa" in workers:
        print(f"callqa options: {json.dumps(workers['callqa'].info['options'], ensure_ascii=False)}",
              file=sys.stderr)

    rows = []
    for call in calls:
        row: dict[str, Any] = {"call": call["id"], "duration": call["duration"]}
        for k in kinds:
            runs = [workers[k].run(call["path"], call["agent_id"]) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["wall_s"])
            row[k] = best
            if k == "baseline":
                t = baseline_transcript(call, best["segments"])
                text = {sp: "".join(u.text for u in t.utterances if u.speaker == sp)
                        for sp in ("agent", "customer")}
                findings = scorer.score(t).findings if call["truth"]["violations"] is not None \
                    else None
            else:
                text = best["text"]
                findings = [SimpleNamespace(rule_id=r, category=c, start=s, evidence=e)
                            for r, c, s, e in best["findings"]]
            best["cer"] = cer_counts(call["truth"], text)
            if call["truth"]["violations"] is not None:
                best["agree"], best["detail"] = agreement(findings, call["truth"]["violations"])
            else:
                best["agree"], best["detail"] = None, ""
        rows.append(row)
        print(_line(row, kinds), file=sys.stderr, flush=True)
    peaks = {k: w.close() for k, w in workers.items()}

    _table(rows, kinds, peaks, args.verbose)
    load = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} CPUs, load average at end {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f}; callqa options changed: {settings or 'none (defaults)'}")
    if args.json:
        args.json.write_text(json.dumps({"settings": settings, "peaks_mb": peaks, "rows": rows},
                                        ensure_ascii=False, indent=1, default=str))
    return 0


def _line(row, kinds) -> str:
    parts = [f"{row['call'][:28]:<28} {row['duration']:6.1f}s"]
    for k in kinds:
        r = row[k]
        e, n = r["cer"]
        parts.append(f"{k} wall {r['wall_s']:5.1f} cpu {r['cpu_s']:5.1f} "
                     f"({r['wall_s'] / row['duration']:.3f}x) cer {e / max(n, 1):.3f} "
                     f"{'' if r['agree'] is None else ('ok' if r['agree'] else 'DIFF ' + r['detail'])}")
    return " | ".join(parts)


def _table(rows, kinds, peaks, verbose) -> None:
    head = ["call", "audio s"]
    for k in kinds:
        head += [f"{k} wall s", f"{k} CPU s", f"{k} wall/audio", f"{k} CER", f"{k} verdicts"]
    if len(kinds) == 2:
        head.append("speedup (wall)")
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    tot = {k: [0.0, 0.0, 0, 0, 0, 0] for k in kinds}  # wall, cpu, edits, chars, agree, judged
    audio = 0.0
    for row in rows:
        audio += row["duration"]
        cells = [row["call"], f"{row['duration']:.1f}"]
        for k in kinds:
            r = row[k]
            e, n = r["cer"]
            t = tot[k]
            t[0] += r["wall_s"]
            t[1] += r["cpu_s"]
            t[2] += e
            t[3] += n
            if r["agree"] is not None:
                t[4] += int(r["agree"])
                t[5] += 1
            verdict = "–" if r["agree"] is None else ("✓" if r["agree"] else f"✗ {r['detail']}")
            cells += [f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}",
                      f"{r['wall_s'] / row['duration']:.3f}", f"{e / max(n, 1):.3f}", verdict]
        if len(kinds) == 2:
            cells.append(f"{row[kinds[0]]['wall_s'] / row[kinds[1]]['wall_s']:.2f}×")
        print("| " + " | ".join(cells) + " |")
    cells = [f"**total ({len(rows)} calls)**", f"{audio:.1f}"]
    for k in kinds:
        t = tot[k]
        cells += [f"**{t[0]:.1f}**", f"{t[1]:.1f}", f"**{t[0] / audio:.3f}**",
                  f"**{t[2] / max(t[3], 1):.3f}**", f"{t[4]}/{t[5]}"]
    if len(kinds) == 2:
        cells.append(f"**{tot[kinds[0]][0] / tot[kinds[1]][0]:.2f}×**")
    print("| " + " | ".join(cells) + " |")
    cpu = ", ".join(f"{k} CPU/audio {tot[k][1] / audio:.3f}" for k in kinds)
    print(f"\npeak RSS: " + ", ".join(f"{k} {peaks[k]:.0f} MB" for k in kinds) + f"; {cpu}")
    if verbose:
        for row in rows:
            for k in kinds:
                if row[k]["agree"] is False:
                    print(f"{k} {row['call']}: {row[k]['detail']}")


if __name__ == "__main__":
    raise SystemExit(main())
