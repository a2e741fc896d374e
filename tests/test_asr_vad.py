"""Speech intervals, turns from intervals, window packing and word placement (no Whisper)."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from callqa.asr.audio import resample
from callqa.asr.utterances import join_words, words_to_utterances
from callqa.asr.whisper.windows import Chunk, pack_windows
from callqa.asr.vad import PHONE_VAD, group_turns, speech_intervals
from callqa.transcript import Interval, Word
from conftest import REAL_AUDIO, speech_span


def iv(a, b):
    return Interval(a, b)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_speech_interval_bounds_match_energy_truth(rate):
    x, sr = sf.read(REAL_AUDIO / "funasr_asr_example.wav", dtype="float32")
    phone = resample(resample(x, sr, rate)[:, 0], rate)[:, 0]  # band-limited when 8 kHz
    a, b = speech_span(x, sr)
    found = speech_intervals(phone)
    assert found, "no speech found"
    assert found[0].start == pytest.approx(a / sr, abs=0.3)
    assert found[-1].end == pytest.approx(b / sr, abs=0.3)


def test_no_speech_in_line_noise():
    noise = np.random.default_rng(1).normal(0, 0.01, 16000 * 5).astype(np.float32)
    assert speech_intervals(noise) == []
    assert speech_intervals(np.zeros(0, np.float32)) == []


def test_phone_vad_values_are_documented_choices():
    assert PHONE_VAD.min_silence_duration_ms == 300
    assert PHONE_VAD.speech_pad_ms == 100
    assert PHONE_VAD.max_speech_duration_s <= 30


TURN_CASES = [
    # (name, own intervals, other party's intervals, expected turns)
    ("short pause joins", [iv(0, 2), iv(2.8, 4)], [], [iv(0, 4)]),
    ("long pause splits", [iv(0, 2), iv(4, 5)], [], [iv(0, 2), iv(4, 5)]),
    ("other party starts in the pause", [iv(0, 2), iv(2.8, 4)], [iv(2.1, 2.6)],
     [iv(0, 2), iv(2.8, 4)]),
    ("talk-over does not split", [iv(0, 2), iv(2.8, 4)], [iv(1.0, 2.3)], [iv(0, 4)]),
    ("other party later", [iv(0, 2), iv(2.8, 4)], [iv(5, 6)], [iv(0, 4)]),
    ("empty", [], [iv(0, 1)], []),
]


@pytest.mark.parametrize("name,own,other,expected", TURN_CASES, ids=[c[0] for c in TURN_CASES])
def test_group_turns(name, own, other, expected):
    assert group_turns(own, other, merge_gap_s=1.5) == expected


def test_pack_windows_maps_back_to_the_recording():
    rate = 16000
    samples = np.random.default_rng(2).normal(0, 0.1, rate * 80).astype(np.float32)
    intervals = [iv(1.0, 4.0), iv(10.0, 22.0), iv(30.0, 45.0), iv(50.0, 51.0), iv(60.0, 79.0)]
    windows = pack_windows(samples, intervals, window_max_s=30.0, window_gap_s=0.5)
    chunks = [c for w in windows for c in w.chunks]
    assert [(c.start_s, c.end_s) for c in chunks] == [(i.start, i.end) for i in intervals]
    for w in windows:
        assert len(w.audio) / rate <= 30.0
        for c in w.chunks:
            a = int(round(c.offset_s * rate))
            n = int(round(c.duration_s * rate))
            src = samples[int(c.start_s * rate): int(c.start_s * rate) + n]
            # same waveform up to the per-chunk gain
            assert np.corrcoef(w.audio[a:a + n], src)[0, 1] > 0.999
    assert len(windows) == 3  # [3 + 12] [15 + 1] [19] seconds


def test_pack_windows_splits_overlong_interval():
    samples = np.zeros(16000 * 70, np.float32) + 0.1
    windows = pack_windows(samples, [iv(0, 65)], window_max_s=30.0)
    assert [round(c.duration_s, 3) for w in windows for c in w.chunks] == [30.0, 30.0, 5.0]


def test_chunk_time_mapping_clamps_into_the_chunk():
    c = Chunk(start_s=100.0, end_s=103.0, offset_s=5.0)
    assert c.to_original(6.0) == pytest.approx(101.0)
    assert c.to_original(4.0) == 100.0   # in the padding before: clamped to the start
    assert c.to_original(9.0) == 103.0   # after: clamped to the end


def test_words_go_to_the_turn_they_overlap_most():
    turns = [iv(0.0, 3.0), iv(5.0, 8.0)]
    words = [Word("你", 0.1, 0.3), Word("好", 2.8, 3.4), Word("请", 4.8, 5.3), Word("讲", 9.0, 9.2)]
    utts = words_to_utterances(words, turns, "agent")
    assert [(u.start, u.end, u.text) for u in utts] == [(0.0, 3.0, "你好"), (5.0, 8.0, "请讲")]
    assert all(u.speaker == "agent" for u in utts)
    # times are clamped into the turn
    assert [(w.start, w.end) for u in utts for w in u.words] == [
        (0.1, 0.3), (2.8, 3.0), (5.0, 5.3), (8.0, 8.0)]


def test_turn_without_words_is_left_out():
    utts = words_to_utterances([Word("好", 0.1, 0.3)], [iv(0, 1), iv(3, 4)], "customer")
    assert len(utts) == 1 and utts[0].start == 0


def test_join_words():
    assert join_words(["您好", "，", "我", "是"]) == "您好，我是"
    assert join_words(["WiFi", "密码", "是", "abc", "123"]) == "WiFi密码是abc 123"
    assert join_words(["call", "center"]) == "call center"


def test_words_aligned_into_silence_go_back_to_the_empty_turn_before():
    """Whisper aligned a short turn's 不知道 late, into the silence before the next turn
    (samples/call_08): text order gives it back to the turn that heard nothing."""
    from callqa.asr.utterances import words_to_utterances
    from callqa.transcript import Interval, Word

    turns = [Interval(23.8, 24.58), Interval(28.28, 31.62)]
    words = [Word("不知道,", 27.4, 27.92), Word("这个", 27.92, 28.44), Word("要", 28.44, 28.7)]
    utts = words_to_utterances(words, turns, "agent")
    assert [(u.start, u.text) for u in utts] == [(23.8, "不知道,"), (28.28, "这个要")]
    assert utts[0].words[0].start == 23.8 and utts[0].words[0].end == 24.58
    # when the turn before already heard words, a late first word stays where it landed
    words = [Word("好的", 23.9, 24.3), *words]
    utts = words_to_utterances(words, turns, "agent")
    assert [u.text for u in utts] == ["好的", "不知道,这个要"]


def test_pack_windows_fill_needs_fewer_windows_and_keeps_time_order_inside():
    rate = 16000
    samples = np.random.default_rng(3).normal(0, 0.1, rate * 80).astype(np.float32)
    intervals = [iv(1.0, 4.0), iv(10.0, 22.0), iv(30.0, 45.0), iv(50.0, 51.0), iv(60.0, 79.0)]
    windows = pack_windows(samples, intervals, window_max_s=30.0, window_gap_s=0.5, fill=True)
    assert len(windows) == 2  # [19 + 3 + 1] [12 + 15] instead of 3 windows in time order
    chunks = [c for w in windows for c in w.chunks]
    assert sorted((c.start_s, c.end_s) for c in chunks) == [(i.start, i.end) for i in intervals]
    for w in windows:
        assert len(w.audio) / rate <= 30.0
        assert [c.start_s for c in w.chunks] == sorted(c.start_s for c in w.chunks)
        for c in w.chunks:
            a, n = int(round(c.offset_s * rate)), int(round(c.duration_s * rate))
            src = samples[int(round(c.start_s * rate)): int(round(c.start_s * rate)) + n]
            assert np.array_equal(w.audio[a:a + n], src)


def test_pack_windows_two_channels_share_windows():
    rate = 16000
    left = np.full(rate * 20, 0.1, np.float32)
    right = np.full(rate * 20, -0.2, np.float32)
    items = [(0, iv(0.0, 5.0)), (1, iv(6.0, 9.0)), (0, iv(10.0, 12.0)), (1, iv(8.5, 11.0))]
    windows = pack_windows([left, right], items, window_max_s=30.0, window_gap_s=0.5)
    assert len(windows) == 1
    w = windows[0]
    assert [(c.source, c.start_s) for c in w.chunks] == [(0, 0.0), (1, 6.0), (1, 8.5), (0, 10.0)]
    for c in w.chunks:
        a = int(round(c.offset_s * rate))
        assert w.audio[a] == pytest.approx(0.1 if c.source == 0 else -0.2)


def test_hallucination_filter_drops_only_the_chunk_that_holds_the_phantom(monkeypatch):
    """With one segment per window (no timestamps), a phantom in one turn must not take the
    other turns of the window with it: the filters judge each chunk's words on their own."""
    import callqa.asr.whisper.windows as tr

    rate = 16000
    left = np.zeros(rate * 30, np.float32)
    right = np.zeros(rate * 30, np.float32)
    channels = [("agent", left, [iv(1.0, 3.0)]), ("customer", right, [iv(5.0, 8.0)])]

    def fake_decode(model, windows, options, batch_size):
        (window,) = windows
        out, raw = [], {}
        texts = [(0, ["您好", "请讲"]), (1, ["字幕由", "Amara.org", "社群提供"])]
        for idx, ws in texts:
            c = window.chunks[idx]
            step = c.duration_s / len(ws)  # the words fill the chunk: nothing left to re-decode
            for k, t in enumerate(ws):
                word = tr.Word(t, c.start_s + step * k, c.start_s + step * (k + 1), 0.9)
                raw[id(word)] = t
                out.append((idx, word))
        return [[({"text": "", "raw": raw, "no_speech_prob": 0.1, "avg_logprob": -0.3}, out)]]

    monkeypatch.setattr(tr, "_decode_windows", fake_decode)
    words, dropped = tr.transcribe_channels(None, channels, tr.DecodeOptions(), together=True,
                                           decode_pad_s=0.0)
    assert "".join(w.text for w in words["agent"]) == "您好请讲"
    assert words["customer"] == []
    assert [(d["speaker"], d["reason"]) for d in dropped] == [("customer", "phantom")]


def test_stray_words_that_repeat_the_turn_before_are_dropped():
    """A short turn decoded again on its own (不知到) and also aligned late into the next turn
    (不知道,): the late copy is the same speech heard twice, not new words."""
    from callqa.asr.utterances import words_to_utterances
    from callqa.transcript import Interval, Word

    turns = [Interval(23.8, 24.58), Interval(28.28, 31.62)]
    words = [Word("不知到", 23.9, 24.4), Word("不知道,", 27.4, 27.92), Word("这个", 28.3, 28.44)]
    utts = words_to_utterances(words, turns, "agent")
    assert [u.text for u in utts] == ["不知到", "这个"]


def test_a_sentence_squeezed_onto_the_turn_edge_and_heard_again_is_kept_once():
    """Text Whisper aligned into a stretch's decoding context is clamped onto the turn's edge
    (every word at one instant); when the same speech is also heard, timed, right after, it is
    one sentence heard twice: kept once, the timed hearing. A squeezed run that nothing after
    it repeats stays (it may be the only hearing)."""
    from callqa.transcript import Interval, Word

    said = ["另外", "如果", "晚上", "或者", "周末", "有", "违规", "施工"]
    heard = ["另外", "如果", "晚上", "或者", "中默", "有", "违规", "施工"]  # 周末 misheard
    squeezed = [Word(w, 10.0, 10.0, 0.5) for w in heard]
    timed = [Word(w, 10.0 + 0.4 * k, 10.4 + 0.4 * k, 0.8) for k, w in enumerate(said)]
    turn = [Interval(9.5, 14.0)]
    (u,) = words_to_utterances([Word("好的", 9.5, 9.8, 0.9), *squeezed, *timed], turn, "agent")
    assert u.text == "好的" + "".join(said)
    other = [Word(w, 10.0 + 0.4 * k, 10.4 + 0.4 * k, 0.8) for k, w in
             enumerate(["您", "可以", "直接", "打", "我们", "电话"])]
    (v,) = words_to_utterances([*squeezed, *other], turn, "agent")
    assert v.text == "".join(heard) + "您可以直接打我们电话"


def test_a_speaker_with_its_own_decoding_gets_it_for_its_windows(monkeypatch):
    """``decode_for`` (``customer_beam_size``): each channel's windows are decoded with that
    channel's options, and the results come back in the windows' order."""
    from callqa.asr.whisper import windows as tr
    from callqa.transcript import Interval

    rate = 16000
    left = np.zeros(rate * 70, np.float32)
    right = np.zeros(rate * 70, np.float32)
    channels = [("agent", left, [Interval(1.0, 25.0), Interval(33.0, 60.0)]),
                ("customer", right, [Interval(26.0, 32.0), Interval(61.0, 66.0)])]
    beams: list[tuple[int, int, float]] = []  # (beam, channel, first chunk's start)

    def fake_decode(model, windows, options, batch_size):
        out = []
        for window in windows:
            beams.append((options.beam_size, window.chunks[0].source, window.chunks[0].start_s))
            mapped = []
            for idx, c in enumerate(window.chunks):  # one word filling each chunk
                word = tr.Word(f"w{c.source}", c.start_s, c.end_s, 0.9)
                mapped.append((idx, word))
            raw = {id(w): w.text for _, w in mapped}
            out.append([({"text": "", "raw": raw, "no_speech_prob": 0.1,
                          "avg_logprob": -0.3}, mapped)])
        return out

    monkeypatch.setattr(tr, "_decode_windows", fake_decode)
    base = tr.DecodeOptions()
    words, _ = tr.transcribe_channels(None, channels, base, decode_pad_s=0.0,
                                      decode_for={"customer": replace(base, beam_size=1)})
    assert sorted(beams) == [(1, 1, 26.0), (5, 0, 1.0), (5, 0, 33.0)]
    assert {w.text for w in words["agent"]} == {"w0"}
    assert [(w.start, w.end) for w in words["customer"]] == [(26.0, 32.0), (61.0, 66.0)]
