"""Probe the rulebook's forbidden-phrase kinds with sentences written from the kinds, as text.

Each line of ``bench/phrase_probe.txt`` is ``RULE sentence`` (the rule that must fire) or
``- sentence`` (a compliant near miss: nothing of the forbidden, shirking or refusal categories
may fire). The sentence is the agent's answer in a standard short call (greeting, a repair
request, the answer, 好吧, farewell), scored by the default rulebook. No ASR: this measures the
rules' reach over phrasings, not the recogniser.

    python bench/phrase_probe.py [bench/phrase_probe.txt]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callqa.scoring import Scorer, load_rulebook  # noqa: E402
from callqa.transcript import Transcript, Utterance  # noqa: E402

CATS = {"forbidden_phrase", "shirking", "refusal_without_apology"}


def call(agent_line: str,
         cust: str = "我家厨房的水龙头坏了，一直在滴水，你们能派人来修一下吗？") -> Transcript:
    turns = [("agent", 0.5, 4.0, "您好，这里是光明物业客服中心，请问有什么可以帮您？"),
             ("customer", 4.6, 9.0, cust),
             ("agent", 9.6, 14.0, agent_line),
             ("customer", 14.6, 16.0, "好吧。"),
             ("agent", 16.6, 20.0, "感谢您的来电，再见。")]
    return Transcript("probe", "A1", 21.0, [Utterance(w, a, b, t) for w, a, b, t in turns])


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:] or [ROOT / "bench" / "phrase_probe.txt"])[0])
    scorer = Scorer(load_rulebook())
    right = total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            if line:
                print(line)
            continue
        want, text = line.split(" ", 1)
        found = scorer.score(call(text)).findings
        got = sorted({f.rule_id for f in found if f.category in CATS and f.speaker == "agent"})
        ok = (want == "-" and not got) or (want != "-" and want in got)
        right += ok
        total += 1
        print(("ok " if ok else "XX ") + f"{want:5} {','.join(got) or '-':12} {text}")
    print(f"\n{right}/{total} as the line says")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
