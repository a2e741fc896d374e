"""A cheaper decode for the customer's track (issue 20): verdicts, customer CER and CPU.

The customer's words are only context for the rules (a complaint, dictated details, thanks),
so the customer's track may not need beam 5. For every labelled call of the given sets, the
call is transcribed with the default options and with ``--set`` (default
``customer_beam_size=1``), both scored with the default rulebook; the findings are compared
(rule, agent/customer, charged or 待复核, start within 1 s) and the customer track's CER
against the truth turns is summed. The default transcripts come from the transcript cache
when present; ``--timing`` transcribes both without the cache (alternating, one call at a
time) and sums the CPU seconds of each.

    python bench/customer_decode.py samples ../shared/eval/calls bench/devcalls
    python bench/customer_decode.py samples --timing
    python bench/customer_decode.py ../shared/eval/harder --set customer_beam_size=2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callqa.asr.pipeline import AsrOptions, transcribe_call  # noqa: E402
from callqa.scoring import Scorer, load_rulebook  # noqa: E402
from callqa.text import char_edits, normalize_match  # noqa: E402

AUDIO = (".wav", ".flac", ".mp3")


def labelled(folder: str):
    """(name, audio, agent id, customer reference text) of each labelled call in ``folder``
    (``samples``: the sample corpus)."""
    base = ROOT / "samples" if folder == "samples" else Path(folder)
    for tf in sorted(base.glob("*.truth.json")):
        truth = json.loads(tf.read_text(encoding="utf-8"))
        stem = str(tf)[: -len(".truth.json")]
        audio = next((Path(stem + e) for e in AUDIO if Path(stem + e).exists()), None)
        if audio is None:
            continue
        turns = truth.get("turns", [])
        ref = "".join(t["text"] for t in turns if t.get("who", t.get("speaker")) == "customer")
        yield (truth.get("call", truth.get("call_id")), audio,
               truth.get("agent", truth.get("agent_id")), normalize_match(ref))


def verdicts(result) -> list[tuple[str, str, bool, float]]:
    return sorted((f.rule_id, f.speaker, f.deduction > 0, f.start) for f in result.findings)


def differences(a, b) -> list[str]:
    """Findings of one list without a counterpart in the other (same rule, speaker, charge,
    start within 1 s)."""
    rest = list(b)
    out = []
    for f in a:
        match = next((g for g in rest if g[:3] == f[:3] and abs(g[3] - f[3]) <= 1.0), None)
        if match is None:
            out.append(f"-{f[0]}@{f[3]:.1f}{'' if f[2] else '(待复核)'}")
        else:
            rest.remove(match)
    out += [f"+{g[0]}@{g[3]:.1f}{'' if g[2] else '(待复核)'}" for g in rest]
    return out


def customer_text(transcript) -> str:
    return normalize_match("".join(u.text for u in transcript.utterances
                                   if u.speaker == "customer"))


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="folders of labelled calls, or 'samples'")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="AsrOptions of the cheaper decode (default customer_beam_size=1)")
    ap.add_argument("--timing", action="store_true",
                    help="transcribe both without the cache and sum their CPU seconds")
    args = ap.parse_args(argv)
    cheap = dict(kv.split("=", 1) for kv in (args.set or ["customer_beam_size=1"]))
    options = {"default": AsrOptions(),
               "cheap": AsrOptions(**{k: _value(v) for k, v in cheap.items()})}
    scorer = Scorer(load_rulebook())
    print(f"cheaper decode: {cheap}")
    if args.timing:  # load the model (and Silero) before any call is timed
        first = next(labelled(args.sets[0]))
        transcribe_call(first[1], options["cheap"], use_cache=False)
    for folder in args.sets:
        same = calls = 0
        edits = {k: 0 for k in options}
        chars = 0
        cpu = {k: 0.0 for k in options}
        audio_s = 0.0
        for name, audio, agent, ref in labelled(folder):
            found = {}
            order = list(options.items())[:: 1 if calls % 2 == 0 else -1]  # alternate
            for kind, opts in order:
                t0 = time.process_time()
                t = transcribe_call(audio, opts, agent_id=agent, use_cache=not args.timing)
                cpu[kind] += time.process_time() - t0
                found[kind] = verdicts(scorer.score(t))
                edits[kind] += char_edits(ref, customer_text(t))
            audio_s += t.duration
            chars += len(ref)
            diff = differences(found["default"], found["cheap"])
            calls += 1
            same += not diff
            print(f"  {name}: {'same' if not diff else ' '.join(diff)}", flush=True)
        cer = " / ".join(f"{edits[k] / max(chars, 1):.3f}" for k in options)
        line = (f"{folder}: {same}/{calls} calls with the same findings; customer CER "
                f"(default / cheaper) {cer} on {chars} characters")
        if args.timing:
            line += (f"; CPU s {cpu['default']:.1f} / {cpu['cheap']:.1f} for {audio_s:.0f} s "
                     f"of audio ({cpu['cheap'] / max(cpu['default'], 1e-9):.2f}×)")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
