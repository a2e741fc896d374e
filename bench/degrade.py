"""The sample corpus under telephone conditions: render, transcribe, score, compare with truth.

Usage::

    python bench/degrade.py                          # every condition (long: ~2-3 min each)
    python bench/degrade.py -c clean -c echo_20 -c mono
    python bench/degrade.py --list                   # the named conditions
    python bench/degrade.py --render-only -o DIR     # just write the degraded recordings
    python bench/degrade.py -c echo_-20db_60ms --set echo_suppression=false   # without a step

Each condition is a function of the 8 kHz stereo sample (agent left) returning the recording
as it would arrive: noise (white / pink / babble at 10, 20, 30 dB SNR against each track's
speech level), G.711 μ-law and A-law, GSM 06.10, AMR-NB, MP3 (sox), 16 kHz, one side −12 dB,
clipping, line echo, a downmixed mono file, and an open-plan floor (``agent_babble_20db`` /
15 / 10: the agent 12 dB under the customer with colleagues' voices that far under the agent on
the agent's track only). Per condition the table gives:

- CER of all agent and all customer text against the truth turns (per party, concatenated);
- verdicts: rule verdicts agreeing with the truth (per call and rule: fired or not, as the
  live corpus test counts them), calls whose findings equal the truth violations (rule and
  start within 1 s, as tests/test_samples_e2e.py), violations caught, and findings the truth
  does not list;
- tracks enhanced: tracks whose floor showed background voices (``callqa.asr.enhance``);
- phantom and missed speech: seconds of detected speech outside the party's truth turns, and
  of truth speech not detected (both parties, summed over the calls);
- for mono, attribution: the share of truth speech time (one party speaking) that the
  transcript's speech intervals give to the right party, and the roles decided.

Recordings and transcripts go under ``--out`` (default a temp dir); transcripts are cached as
usual (keyed by the degraded file's hash), so re-running a condition costs no ASR.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SAMPLES = ROOT / "samples"
#: Real Mandarin voices for babble: the shared folder beside the project (or beside the folder
#: that holds the project's worktrees).
REAL = next((d for d in (ROOT.parent / "shared" / "audio" / "real",
                         ROOT.parent.parent / "shared" / "audio" / "real") if d.is_dir()),
            ROOT.parent / "shared" / "audio" / "real")
RATE = 8000


# --------------------------------------------------------------------------- degradations
def speech_power(x: np.ndarray, rate: int = RATE) -> float:
    """Mean power of the loud 20 ms frames (within 30 dB of the loudest): the speech level."""
    hop = rate // 50
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    p = (frames.astype(np.float64) ** 2).mean(axis=1)
    loud = p[p > p.max() * 1e-3]
    return float(loud.mean()) if len(loud) else 0.0


def white(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0, 1, n)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.arange(len(spec))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    return np.fft.irfft(spec, n)


def babble(n: int, rng: np.random.Generator, voices: int = 6) -> np.ndarray:
    """Several real Mandarin voices talking at once (../shared/audio/real), looped."""
    from callqa.asr.audio import resample

    files = sorted(p for p in REAL.glob("*.wav"))
    out = np.zeros(n)
    for k in range(voices):
        x, sr = sf.read(files[k % len(files)], dtype="float32")
        x = resample(x, sr, RATE)[:, 0]
        x = np.tile(x, n // len(x) + 2)
        off = int(rng.integers(0, len(x) - n))
        seg = x[off:off + n]
        out += seg / (np.sqrt((seg ** 2).mean()) + 1e-9)
    return out


def add_noise(kind: Callable, snr_db: float) -> Callable:
    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = x.copy()
        for c in range(x.shape[1]):
            noise = kind(len(x), rng)
            noise *= np.sqrt(speech_power(x[:, c]) / 10 ** (snr_db / 10) / (noise ** 2).mean())
            out[:, c] = x[:, c] + noise
        return out
    return apply


def quiet_agent_in_babble(snr_db: float, agent_db: float = -12) -> Callable:
    """An open-plan floor: the agent ``agent_db`` under the recording as made (the customer
    louder), colleagues' voices on the agent's track ``snr_db`` under the agent."""
    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = gain_side(0, agent_db)(x, rng)
        noise = babble(len(x), rng)
        noise *= np.sqrt(speech_power(out[:, 0]) / 10 ** (snr_db / 10) / (noise ** 2).mean())
        out[:, 0] += noise
        return out
    return apply


def add_echo(gain_db: float, delay_s: float) -> Callable:
    """Each track also carries the other track, ``gain_db`` down and ``delay_s`` late."""
    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        d = int(delay_s * RATE)
        g = 10 ** (gain_db / 20)
        out = x.copy()
        out[d:, 0] += g * x[:-d or None, 1][: len(x) - d]
        out[d:, 1] += g * x[:-d or None, 0][: len(x) - d]
        return out
    return apply


def gain_side(channel: int, db: float) -> Callable:
    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = x.copy()
        out[:, channel] *= 10 ** (db / 20)
        return out
    return apply


def clip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """+12 dB into a hard limit at the original peak/2: the loud half of every syllable flat."""
    limit = np.abs(x).max() / 2
    return np.clip(x * 4, -limit, limit)


def mono(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x.mean(axis=1, keepdims=True)


def sox_codec(suffix: str, *args: str, per_channel: bool = False) -> Callable:
    """Encode with sox and decode back (GSM and AMR are mono-only codecs: per channel)."""
    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        chans = [x[:, [c]] for c in range(x.shape[1])] if per_channel else [x]
        outs = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, part in enumerate(chans):
                src, enc, dec = (Path(tmp) / f"{i}.wav", Path(tmp) / f"{i}.enc{suffix}",
                                 Path(tmp) / f"{i}.dec.wav")
                sf.write(src, np.clip(part, -1, 1), RATE, subtype="PCM_16")
                subprocess.run(["sox", str(src), *args, str(enc)], check=True)
                subprocess.run(["sox", str(enc), "-r", str(RATE), "-e", "signed-integer",
                                "-b", "16", str(dec)], check=True)
                y, _ = sf.read(dec, dtype="float32", always_2d=True)
                outs.append(y)
        n = min(len(y) for y in outs)
        y = np.concatenate([o[:n] for o in outs], axis=1)
        return np.pad(y, ((0, max(0, len(x) - n)), (0, 0)))[: len(x)]
    return apply


#: name → (degradation, sample rate of the written file)
CONDITIONS: dict[str, tuple[Callable, int]] = {
    "clean": (lambda x, rng: x, RATE),
    **{f"{name}_{snr}db": (add_noise(fn, snr), RATE)
       for name, fn in (("white", white), ("pink", pink), ("babble", babble))
       for snr in (30, 20, 10)},
    "ulaw": (sox_codec(".wav", "-e", "u-law"), RATE),
    "alaw": (sox_codec(".wav", "-e", "a-law"), RATE),
    "gsm": (sox_codec(".gsm", per_channel=True), RATE),
    "amr": (sox_codec(".amr-nb", "-C", "0", per_channel=True), RATE),
    "mp3": (sox_codec(".mp3", "-C", "32"), RATE),
    "16khz": (lambda x, rng: x, 16000),
    "customer_-12db": (gain_side(1, -12), RATE),
    "agent_-12db": (gain_side(0, -12), RATE),
    "clipping": (clip, RATE),
    **{f"agent_babble_{snr}db": (quiet_agent_in_babble(snr), RATE) for snr in (20, 15, 10)},
    "echo_-15db_120ms": (add_echo(-15, 0.12), RATE),
    "echo_-20db_60ms": (add_echo(-20, 0.06), RATE),
    "echo_-30db_10ms": (add_echo(-30, 0.01), RATE),
    "phone_mix": (lambda x, rng: sox_codec(".wav", "-e", "u-law")(
        add_noise(white, 25)(add_echo(-20, 0.04)(x, rng), rng), rng), RATE),
    "mono": (mono, RATE),
    "mono_ulaw": (lambda x, rng: sox_codec(".wav", "-e", "u-law")(mono(x, rng), rng), RATE),
}


def degraded(condition: str, x: np.ndarray, sr: int, seed_key: str) -> tuple[np.ndarray, int]:
    """``x`` (n, channels) at ``sr`` under ``condition``, seeded by ``seed_key``: (audio, rate)."""
    fn, rate = CONDITIONS[condition]
    rng = np.random.default_rng(sum(map(ord, condition + seed_key)))
    y = fn(x.astype(np.float64), rng)
    if rate != sr:
        from callqa.asr.audio import resample

        y = resample(y.astype(np.float32), sr, rate)
    peak = np.abs(y).max()
    if peak > 0.99:  # a real recorder would have clipped or normalised: keep the file valid
        y = y * (0.99 / peak)
    return y.astype(np.float32), rate


def render(condition: str, sample: Path, out_dir: Path) -> Path:
    """Write ``sample`` under ``condition`` to ``out_dir`` (deterministic: seeded per call)."""
    x, sr = sf.read(sample, dtype="float32", always_2d=True)
    y, rate = degraded(condition, x, sr, sample.stem)
    path = out_dir / condition / f"{sample.stem}.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, rate, subtype="PCM_16")
    return path


# --------------------------------------------------------------------------- measures
def attribution(transcript, truth: dict, step_s: float = 0.01) -> tuple[float, float]:
    """(share of single-party truth speech whose detected speech has the right party,
    share of that truth speech detected at all)."""
    n = int(truth["duration"] / step_s) + 1
    who = np.zeros((2, n), bool)
    for t in truth["turns"]:
        who[0 if t["speaker"] == "agent" else 1, int(t["start"] / step_s):int(t["end"] / step_s)] = True
    got = np.zeros((2, n), bool)
    for i, party in enumerate(("agent", "customer")):
        for iv in transcript.speech.get(party, []):
            got[i, int(iv.start / step_s):int(iv.end / step_s)] = True
    single = who[0] ^ who[1]
    detected = single & (got[0] | got[1])
    right = detected & (((who[0] & got[0]) & ~got[1]) | ((who[1] & got[1]) & ~got[0]))
    return (right.sum() / max(detected.sum(), 1), detected.sum() / max(single.sum(), 1))


def phantom_missed(transcript, truth: dict, step_s: float = 0.01) -> tuple[float, float]:
    """(seconds of detected speech outside the party's truth turns, seconds of truth speech not
    detected), both parties (stereo) or all speech (mono) summed."""
    n = int(truth["duration"] / step_s) + 2
    phantom = missed = 0.0
    parties = ("agent", "customer") if len(transcript.speech) > 1 or "customer" in \
        transcript.speech else (None,)
    for party in parties:
        want = np.zeros(n, bool)
        for t in truth["turns"]:
            if party is None or t["speaker"] == party:
                want[int(t["start"] / step_s):int(t["end"] / step_s)] = True
        got = np.zeros(n, bool)
        ivs = transcript.speech.get(party, []) if party else \
            [iv for ivs in transcript.speech.values() for iv in ivs]
        for iv in ivs:
            got[int(iv.start / step_s):int(iv.end / step_s)] = True
        phantom += (got & ~want).sum() * step_s
        missed += (want & ~got).sum() * step_s
    return phantom, missed


def party_text(turns, party: str) -> str:
    return "".join(t.text if hasattr(t, "text") else t["text"] for t in turns
                   if (t.speaker if hasattr(t, "speaker") else t["speaker"]) == party)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-c", "--condition", action="append", choices=list(CONDITIONS),
                    help="condition to run (repeatable; default: all)")
    ap.add_argument("--only", action="append", metavar="CALL_ID", help="only these calls")
    ap.add_argument("-o", "--out", type=Path, help="where recordings and transcripts go")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--list", action="store_true", help="print the conditions and exit")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print each call's missed and extra findings on stderr")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="an AsrOptions field for the run, e.g. echo_suppression=false "
                         "(to measure what a front-end step is worth)")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(CONDITIONS))
        return 0

    from callqa.scoring import Scorer, load_rulebook
    from callqa.text import cer
    from test_samples_e2e import TRUTHS, compare, verdicts

    out = args.out or Path(tempfile.mkdtemp(prefix="callqa-degrade-"))
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = {"true": True, "false": False}.get(value.lower(), value)
    scorer = Scorer(load_rulebook(ROOT / "rules" / "default.yaml"))
    rule_ids = [r.id for r in scorer.rulebook.rules]
    rows = []
    print("| condition | CER agent | CER customer | rule verdicts agreeing | calls agreeing | "
          "violations caught | extra findings | phantom s | missed s | tracks enhanced | "
          "attribution | roles | s/call |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|", flush=True)
    for condition in args.condition or list(CONDITIONS):
        totals = Counter()
        refs = {"agent": [], "customer": []}
        hyps = {"agent": [], "customer": []}
        attr, roles, wall = [], Counter(), 0.0
        for truth_path in TRUTHS:
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
            if args.only and truth["call_id"] not in args.only:
                continue
            path = render(condition, SAMPLES / truth["audio"], out)
            if args.render_only:
                continue
            from callqa.asr.pipeline import AsrOptions, transcribe_call

            t0 = time.perf_counter()
            transcript = transcribe_call(path, AsrOptions(**overrides), agent_id=truth["agent_id"],
                                         call_id=truth["call_id"])
            wall += time.perf_counter() - t0
            result = scorer.score(transcript)
            unexpected, missed = compare(result.findings, truth["violations"])
            if args.verbose and (unexpected or missed):
                print(f"  {condition} {truth['call_id']}: extra "
                      f"{[(f.rule_id, round(f.start, 1), f.evidence[:30]) for f in unexpected]} "
                      f"missed {missed}", file=sys.stderr, flush=True)
            totals["calls"] += 1
            totals["agree"] += not unexpected and not missed
            totals["violations"] += len(truth["violations"])
            totals["caught"] += len(truth["violations"]) - len(missed)
            totals["extra"] += len(unexpected)
            agree, judged = verdicts(result.findings, truth["violations"], rule_ids)
            totals["verdicts_agree"] += agree
            totals["verdicts"] += judged
            for party in refs:
                refs[party].append(party_text(truth["turns"], party))
                hyps[party].append(party_text(transcript.utterances, party))
            roles[transcript.roles] += 1
            ph, mi = phantom_missed(transcript, truth)
            totals["phantom"] += ph
            totals["missed"] += mi
            totals["enhanced"] += sum(e.get("enhanced", False) for e in transcript.asr[
                "front_end"].get("enhance", {}).values())
            if condition.startswith("mono"):
                attr.append(attribution(transcript, truth))
        if args.render_only:
            print(f"| {condition} | rendered to {out / condition} |")
            continue
        row = {
            "condition": condition,
            "cer": {p: round(cer("".join(refs[p]), "".join(hyps[p])), 3) for p in refs},
            "calls": totals["calls"], "agree": totals["agree"],
            "violations": totals["violations"], "caught": totals["caught"],
            "extra": totals["extra"],
            "phantom_s": round(totals["phantom"], 1), "missed_s": round(totals["missed"], 1),
            "tracks_enhanced": totals["enhanced"],
            "verdicts": totals["verdicts"], "verdicts_agree": totals["verdicts_agree"],
            "attribution": round(float(np.mean([a for a, _ in attr])), 3) if attr else None,
            "detected": round(float(np.mean([d for _, d in attr])), 3) if attr else None,
            "roles": dict(roles), "s_per_call": round(wall / max(totals["calls"], 1), 1),
        }
        rows.append(row)
        att = f"{row['attribution']:.1%} (of {row['detected']:.0%} detected)" if attr else "—"
        print(f"| {condition} | {row['cer']['agent']:.3f} | {row['cer']['customer']:.3f} | "
              f"{row['verdicts_agree'] / max(row['verdicts'], 1):.1%} | "
              f"{row['agree']}/{row['calls']} | {row['caught']}/{row['violations']} | "
              f"{row['extra']} | {row['phantom_s']} | {row['missed_s']} | "
              f"{row['tracks_enhanced']} | {att} | "
              f"{', '.join(f'{k} {v}' for k, v in sorted(roles.items()))} | "
              f"{row['s_per_call']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
