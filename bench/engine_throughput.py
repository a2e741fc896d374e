"""Rule-engine throughput: typical calls scored per second on one core, full default rulebook.

A "typical call" here: 4 minutes, 40 alternating turns of 8–25 characters, drawn from realistic
property-service sentences, some with violations (so matching does its boundary checks too).
The transcripts are built once; only ``Scorer.score`` is timed.

    python bench/engine_throughput.py [--calls 2000] [--rules rules/default.yaml]
"""

from __future__ import annotations

import argparse
import random
import time

from callqa.scoring import Scorer, load_rulebook
from callqa.transcript import Transcript, Utterance

AGENT_LINES = [
    "您好，这里是光明物业客服中心，请问有什么可以帮您", "好的，请问您贵姓", "请问您的门牌号是多少",
    "您反映的问题我已记下", "请您稍等，我帮您查询一下", "让您久等了", "对不起，这个我们暂时不能办理",
    "这个我不知道", "经理暂时不在，需要给他留言吗", "我们马上安排维修师傅上门", "好的", "嗯",
    "您的物业费已经缴清了", "感谢您的来电，再见", "明天再打来吧", "不好意思，我没听清楚，请您再说一遍",
]
CUSTOMER_LINES = [
    "你好，我家厨房的水管漏水了", "我姓王", "三栋二单元八零一", "大概什么时候能来人", "好的谢谢",
    "我不知道怎么关总阀", "上个月的物业费交了没有", "你们经理在不在", "那好吧", "嗯嗯", "再见",
]


def typical_call(rng: random.Random, i: int) -> Transcript:
    utts, t = [], 0.5
    for k in range(40):
        speaker = "agent" if k % 2 == 0 else "customer"
        text = rng.choice(AGENT_LINES if speaker == "agent" else CUSTOMER_LINES)
        dur = max(0.6, len(text) / 4.2)
        utts.append(Utterance(speaker, t, t + dur, text))
        t += dur + rng.uniform(0.3, 2.0) + (12.0 if rng.random() < 0.03 else 0.0)
    return Transcript(f"bench{i}", f"A{i % 7}", t + 1.0, utts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rules", default=None)
    args = ap.parse_args()
    rng = random.Random(7)
    calls = [typical_call(rng, i) for i in range(args.calls)]
    rulebook = load_rulebook(args.rules)
    scorer = Scorer(rulebook)
    scorer.score(calls[0])  # warm caches (jieba dictionary, pinyin table)
    t0 = time.process_time()
    findings = sum(len(scorer.score(c).findings) for c in calls)
    cpu = time.process_time() - t0
    print(f"rules: {len(rulebook.rules)}  calls: {len(calls)}  utterances/call: 40  "
          f"findings: {findings}")
    print(f"CPU time {cpu:.2f} s -> {len(calls) / cpu:,.0f} calls/s per core "
          f"({cpu / len(calls) * 1000:.2f} ms/call)")


if __name__ == "__main__":
    main()
