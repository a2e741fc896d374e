"""Hallucination filters on crafted segment records: must-drop and must-keep tables."""

import pytest

from callqa.asr.whisper.hallucinations import HallucinationFilter, SegmentInfo
from callqa.asr.whisper.windows import NEUTRAL_PROMPT

CLEAN = dict(compression_ratio=1.2, no_speech_prob=0.05, avg_logprob=-0.3)

MUST_DROP = [
    ("字幕由Amara.org社群提供", CLEAN, "phantom"),
    ("字幕由 Amara.org 社区提供", CLEAN, "phantom"),
    ("請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目", CLEAN, "phantom"),  # Traditional form
    ("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", CLEAN, "phantom"),
    ("明镜与点点栏目", CLEAN, "phantom"),
    ("中文字幕志愿者 李宗盛", CLEAN, "phantom"),
    ("谢谢观看", CLEAN, "phantom"),
    ("謝謝觀看!", CLEAN, "phantom"),
    ("谢谢观看。", CLEAN, "phantom"),
    ("好的好的好的好的好的好的好的好的好的好的好的好的", dict(CLEAN, compression_ratio=5.0),
     "compression_ratio"),
    ("嗯", dict(compression_ratio=0.8, no_speech_prob=0.9, avg_logprob=-1.4), "no_speech"),
]

MUST_KEEP = [
    ("您好，光明物业客服中心，请问有什么可以帮您？", CLEAN),
    ("谢谢", CLEAN),                        # real speech: only the video outro is a phantom
    ("谢谢观看了我们的房子，我们再考虑一下", CLEAN),  # 谢谢观看 inside a real sentence
    ("再见", CLEAN),
    ("对不起，请您稍等", CLEAN),
    # a confident segment over a noisy line: high no-speech alone is not enough
    ("我想问一下物业费", dict(compression_ratio=1.1, no_speech_prob=0.8, avg_logprob=-0.4)),
    # an unsure segment the model believes is speech: low log-prob alone is not enough
    ("我想问一下物业费", dict(compression_ratio=1.1, no_speech_prob=0.2, avg_logprob=-1.5)),
]


@pytest.mark.parametrize("text,scores,reason", MUST_DROP)
def test_must_drop(text, scores, reason):
    assert HallucinationFilter().reason(SegmentInfo(text, **scores)) == reason


@pytest.mark.parametrize("text,scores", MUST_KEEP)
def test_must_keep(text, scores):
    assert HallucinationFilter().reason(SegmentInfo(text, **scores)) is None


def test_thresholds_are_configurable():
    seg = SegmentInfo("我想问一下", compression_ratio=2.6, no_speech_prob=0.1, avg_logprob=-0.2)
    assert HallucinationFilter().reason(seg) == "compression_ratio"
    assert HallucinationFilter(compression_ratio_max=3.0).reason(seg) is None


def test_empty_text_is_flagged_as_empty():
    assert HallucinationFilter().reason(SegmentInfo(" ，。", **CLEAN)) == "empty"


@pytest.mark.parametrize("phrase", ["您好", "你好", "不知道", "再见", "稍等", "久等", "对不起",
                                    "谢谢", "抱歉", "不好意思", "请问"])
def test_prompt_is_neutral(phrase):
    """The initial prompt must not prime the model with a phrase the rules look for."""
    assert phrase not in NEUTRAL_PROMPT


@pytest.mark.parametrize("text,looped", [
    ("我以为我以为我以为我以为我以为我以为", "我以为我以为我以为我以为我以为我以为"),  # babble at 20 dB
    ("在那里存在的东西大小在那里存在的东西大小在那里存在的东西大小", "在那里存在的东西大小" * 3),
    ("可以。谢谢。好，好，好，好，好，好，好，好", "好好好好好好好好"),
    # loops whose period wanders (babble on a quiet agent's track, harder eval n11 / n13)
    ("的严谋严谋的严谋的严谋严谋的严谋", "的严谋严谋的严谋的严谋严谋的严谋"),
    ("严谋的严谋严谋的严谋楼道里的都是物业负责", "严谋的严谋严谋的严谋"),
    ("第2次第2次第2次第2", "第2次第2次第2次第2"),  # with the unit's cut-off start
    ("好的好的对对好的好的对", None),  # backchannels, however many
    ("十一栋二单元一二零一一", None),
    ("好的好的好的", None),          # how people talk
    ("对对对对", None),
    ("谢谢谢谢", None),
    ("电话13800000000", None),       # numbers repeat for real
    ("三零一三零一三零一", None),
])
def test_loop_span(text, looped):
    from callqa.asr.whisper.hallucinations import loop_span
    from callqa.text import normalize_match

    span = loop_span(text)
    assert (normalize_match(text)[span[0]:span[1]] if span else None) == looped


def test_loop_words_are_split_from_the_rest_of_the_segment():
    from callqa.asr.whisper.windows import _split_loop
    from callqa.transcript import Word

    raw = ["可以。", "谢谢。", "好,", "好,", "好,", "好,", "好,", "好"]
    pairs = [(Word(r, i * 0.5, i * 0.5 + 0.4), r) for i, r in enumerate(raw)]
    keep, loop = _split_loop(pairs)
    assert [r for _, r in keep] == ["可以。", "谢谢。"]
    assert [r for _, r in loop] == raw[2:]
    assert _split_loop(pairs[:4]) == (pairs[:4], [])


def test_a_loop_spread_over_segments_of_one_chunk_is_dropped():
    """Whisper on babble puts a loop one phrase per segment (就是 / 就是就是 / …): the pass over
    each chunk's words drops it and keeps the rest; the same words in separate chunks, numbers
    and how people repeat themselves stay."""
    from callqa.asr.whisper.hallucinations import drop_loops
    from callqa.transcript import Interval, Word

    def words(texts, start=0.0):
        return [Word(t, start + i * 0.4, start + i * 0.4 + 0.3) for i, t in enumerate(texts)]

    chunk = words(["您好,", "就是", "就是就是", "就是", "就是就是", "请问您贵姓"])
    kept, dropped = drop_loops("agent", chunk, [Interval(0.0, 3.0)])
    assert [w.text for w in kept] == ["您好,", "请问您贵姓"]
    assert [(d["speaker"], d["start"], round(d["end"], 3), d["text"], d["reason"])
            for d in dropped] == [("agent", 0.4, 1.9, "就是就是就是就是就是就是", "loop")]
    # one 就是 per chunk is speech, not a loop
    apart = [w for i in range(6) for w in words(["就是"], start=i * 3.0)]
    assert drop_loops("agent", apart, [Interval(i * 3.0, i * 3.0 + 1) for i in range(6)]) \
        == (apart, [])
    # a phone number and 好的好的 are kept
    real = words(["电话", "138", "0013", "8000", "好的", "好的"])
    assert drop_loops("customer", real, [Interval(0.0, 3.0)]) == (real, [])


def test_a_loop_spread_over_bursts_of_speech_is_dropped():
    """Babble cut by the VAD into bursts a second apart carries one loop over them (第2次第 |
    2次第2): chunks under 1.5 s apart are searched together; a real turn after a longer pause
    is kept."""
    from callqa.asr.whisper.hallucinations import drop_loops
    from callqa.transcript import Interval, Word

    chunks = [Interval(76.96, 77.26), Interval(78.28, 78.56), Interval(87.1, 89.9)]
    loop = [Word(t, 76.96 + 0.15 * i, 77.1 + 0.15 * i) for i, t in enumerate("第2次第2次第2次第2")]
    real = [Word(t, 87.2 + 0.3 * i, 87.4 + 0.3 * i) for i, t in enumerate(["下周五", "上午", "可以"])]
    kept, dropped = drop_loops("agent", loop + real, chunks)
    assert kept == real and [d["reason"] for d in dropped] == ["loop"]


def test_bursts_without_words_are_not_speech():
    from callqa.asr.utterances import worded_speech
    from callqa.transcript import Interval, Word

    speech = [Interval(1.0, 3.0), Interval(43.77, 44.36), Interval(54.6, 58.7)]
    words = [Word("请您稍等", 1.2, 2.8), Word("查到了", 54.7, 55.3)]
    kept, dropped = worded_speech("agent", speech, words)
    assert kept == [speech[0], speech[2]]
    assert dropped == [{"speaker": "agent", "start": 43.77, "end": 44.36, "text": "",
                        "reason": "no_words"}]
