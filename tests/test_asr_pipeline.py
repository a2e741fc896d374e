"""The real embedded model on real speech: a stereo 8 kHz call with known turn timing."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from callqa.asr import cache, pipeline
from callqa.asr.pipeline import MONO_NOTE, transcribe_call
from callqa.text import cer, to_simplified
from callqa.transcript import Transcript, load_transcript
from conftest import REAL_AUDIO, build_call

pytestmark = pytest.mark.slow

TOLERANCE_S = 0.3


@pytest.fixture(scope="session")
def call_transcript(test_call, asr_options) -> Transcript:
    return transcribe_call(test_call.path, asr_options, agent_id="A007")


def test_turn_boundaries_and_speakers(call_transcript, test_call):
    got = [(u.speaker, u.start, u.end) for u in call_transcript.utterances]
    assert len(got) == len(test_call.turns), got
    for (speaker, start, end), truth in zip(got, test_call.turns):
        assert speaker == truth.speaker
        assert start == pytest.approx(truth.start, abs=TOLERANCE_S), (got, truth)
        assert end == pytest.approx(truth.end, abs=TOLERANCE_S), (got, truth)


def test_text_is_recognised_and_simplified(call_transcript, test_call):
    for utt, truth in zip(call_transcript.utterances, test_call.turns):
        assert utt.text == to_simplified(utt.text)
        assert cer(truth.reference, utt.text) < 0.35, (utt.text, truth.reference)


def test_words_lie_inside_their_utterance(call_transcript):
    for utt in call_transcript.utterances:
        assert utt.words
        for w in utt.words:
            assert utt.start <= w.start <= w.end <= utt.end
            assert w.text == to_simplified(w.text)
        assert [w.start for w in utt.words] == sorted(w.start for w in utt.words)


def test_overlap_is_visible_in_speech_intervals(call_transcript, test_call):
    agent_long, customer_late = test_call.turns[2], test_call.turns[3]
    assert customer_late.start < agent_long.end  # the plan has an overlap
    agent = call_transcript.speech["agent"]
    customer = call_transcript.speech["customer"]
    overlap = sum(max(0.0, min(a.end, c.end) - max(a.start, c.start))
                  for a in agent for c in customer)
    assert overlap == pytest.approx(agent_long.end - customer_late.start, abs=0.6)


def test_transcript_records_how_it_was_made(call_transcript, test_call):
    asr = call_transcript.asr
    assert asr["model"].startswith("whisper-base@sha256:")
    assert asr["compute_type"] == "int8" and asr["device"] == "cpu"
    assert asr["options"]["language"] == "zh"
    assert asr["vad"]["min_silence_duration_ms"] == 300
    assert asr["source_sample_rate"] == 8000 and asr["channels"] == 2
    assert len(asr["audio_sha256"]) == 64
    assert call_transcript.speakers == ("agent", "customer")
    assert call_transcript.agent_id == "A007"
    assert call_transcript.call_id == test_call.path.stem
    assert call_transcript.duration == pytest.approx(test_call.duration, abs=0.01)
    # the JSON form round-trips through the transcript contract
    again = Transcript.from_dict(json.loads(json.dumps(call_transcript.to_dict())))
    assert [u.text for u in again.utterances] == [u.text for u in call_transcript.utterances]


def test_second_call_is_a_cache_hit(call_transcript, test_call, asr_options):
    key = call_transcript.asr["cache_key"]
    assert cache.cache_path(asr_options.cache_dir, key).is_file()
    runs, hits = pipeline.stats["transcribed"], pipeline.stats["cache_hits"]
    again = transcribe_call(test_call.path, asr_options, agent_id="B1", call_id="other")
    assert pipeline.stats["transcribed"] == runs  # the model did not run
    assert pipeline.stats["cache_hits"] == hits + 1
    assert (again.agent_id, again.call_id) == ("B1", "other")  # identity is not cached
    assert [u.text for u in again.utterances] == [u.text for u in call_transcript.utterances]


def test_cache_key_depends_on_options(call_transcript, test_call, asr_options):
    other = replace(asr_options, beam_size=1)
    key = cache.cache_key(call_transcript.asr["audio_sha256"], call_transcript.asr["model"],
                          other.keyed())
    assert key != call_transcript.asr["cache_key"]
    assert replace(asr_options, cache_dir="/elsewhere").keyed() == asr_options.keyed()


def test_agent_on_the_right(tmp_path, asr_options):
    plan = (("agent", 0.5, "funasr_asr_example.wav"), ("customer", 6.0, "paddlespeech_zh.wav"))
    call = build_call(tmp_path / "right.wav", agent_channel="right", plan=plan)
    options = replace(asr_options, agent_channel="right")
    t = transcribe_call(call.path, options, use_cache=False)
    assert [u.speaker for u in t.utterances] == ["agent", "customer"]
    assert cer(call.turns[0].reference, t.utterances[0].text) < 0.35
    assert t.asr["agent_channel"] == "right"


def test_mono_is_the_agent_alone(tmp_path, asr_options):
    import soundfile as sf

    x, sr = sf.read(REAL_AUDIO / "paddlespeech_zh.wav", dtype="float32")
    path = tmp_path / "trainer.flac"
    sf.write(path, x, sr)
    t = transcribe_call(path, asr_options, use_cache=False)
    assert t.speakers == ("agent",)
    assert MONO_NOTE in t.notes
    assert set(t.speech) == {"agent"}
    assert t.utterances and all(u.speaker == "agent" for u in t.utterances)
    assert cer("我认为跑步最重要的就是给我带来了身体健康", "".join(u.text for u in t.utterances)) < 0.2


def test_silent_line_gives_no_utterances_and_no_phantoms(tmp_path, asr_options):
    import numpy as np
    import soundfile as sf

    noise = np.random.default_rng(3).normal(0, 0.003, (8000 * 12, 2)).astype(np.float32)
    path = tmp_path / "hiss.wav"
    sf.write(path, noise, 8000)
    t = transcribe_call(path, asr_options, use_cache=False)
    assert t.utterances == []
    assert t.duration == pytest.approx(12.0)


def test_no_cache_bypasses_the_cache(tmp_path, asr_options):
    import soundfile as sf

    x, sr = sf.read(REAL_AUDIO / "cosyvoice_zero_shot_prompt.wav", dtype="float32")
    path = tmp_path / "short.wav"
    sf.write(path, x, sr)
    options = replace(asr_options, cache_dir=str(tmp_path / "cache"))
    transcribe_call(path, options, use_cache=False)
    assert not (tmp_path / "cache").exists()
    saved = transcribe_call(path, options)
    assert load_transcript(cache.cache_path(options.cache_dir, saved.asr["cache_key"]))


@pytest.mark.parametrize("faster", [
    {"without_timestamps": True},
    {"channels_together": True, "pack_fill": True},
], ids=["without_timestamps", "together_fill"])
def test_faster_settings_keep_turns_and_speakers(faster, call_transcript, test_call,
                                                 asr_options):
    """The speed settings that are off by default (docs/benchmarks.md, "Speed") still give a
    usable transcript: turns and speakers from the VAD, every word inside its turn, each
    party's words on its own channel (no agent text in a customer turn). Packing both parties
    and filling windows never needs more encoder passes than the default."""
    options = replace(asr_options, **faster)
    t = transcribe_call(test_call.path, options, use_cache=False)
    assert t.asr["options"] == {**call_transcript.asr["options"], **faster}
    assert [u.speaker for u in t.utterances] == [turn.speaker for turn in test_call.turns]
    for utt, truth in zip(t.utterances, test_call.turns):
        assert all(utt.start <= w.start <= w.end <= utt.end for w in utt.words)
        assert cer(truth.reference, utt.text) < 0.6, (utt.text, truth.reference)
    heard = "".join(u.text for u in t.utterances)
    reference = "".join(turn.reference for turn in test_call.turns)
    assert cer(reference, heard) < 0.3, heard
    if options.channels_together:
        assert t.asr["decode"]["windows"] <= call_transcript.asr["decode"]["windows"]


def test_batch_size_changes_memory_not_the_transcript(call_transcript, test_call, asr_options):
    """One window at a time (what a single-threaded batch worker uses) gives the same words
    and times as four at a time, so the batch size is not part of the cache key: a re-run
    with another --workers count reuses the transcripts."""
    one = replace(asr_options, batch_size=1, cpu_threads=1)
    t = transcribe_call(test_call.path, one, use_cache=False)

    def words(tr):
        return [(u.speaker, u.start, u.end, [(w.text, w.start, w.end) for w in u.words])
                for u in tr.utterances]

    assert call_transcript.asr["options"].get("batch_size") is None
    assert words(t) == words(call_transcript)
    assert one.keyed() == asr_options.keyed()
    assert replace(asr_options, cpu_threads=1).resolved_batch_size == 1
    assert replace(asr_options, cpu_threads=2).resolved_batch_size == 4
    assert replace(asr_options, cpu_threads=1, batch_size=3).resolved_batch_size == 3
    with pytest.raises(ValueError, match="batch_size"):
        replace(asr_options, batch_size=-1)


def test_parallel_decoders_change_nothing(call_transcript, test_call, asr_options):
    """Two single-threaded decoders sharing a call's windows (the default on two cores, issue
    20) hear exactly what one two-threaded decoder hears, four windows at a time: same words,
    times and probabilities; the layout is not part of the cache key."""
    from callqa.asr.whisper import models

    def words(tr):
        return [(u.speaker, u.start, u.end, [(w.text, w.start, w.end, w.probability)
                                             for w in u.words]) for u in tr.utterances]

    two = replace(asr_options, decoders=2, cpu_threads=1)
    one = replace(asr_options, decoders=1, cpu_threads=2)
    assert two.resolved_parallelism == (2, 1) and two.resolved_batch_size == 1
    assert one.resolved_parallelism == (1, 2) and one.resolved_batch_size == 4
    by_two = transcribe_call(test_call.path, two, use_cache=False)
    by_one = transcribe_call(test_call.path, one, use_cache=False)
    assert by_two.asr["decode"]["windows"] >= 2  # work for both decoders
    assert words(by_two) == words(by_one)
    assert by_two.dropped == by_one.dropped
    assert two.keyed() == one.keyed() == asr_options.keyed()
    replicas = {key[-1]: m.model.num_workers for key, m in models._loaded.items()}
    assert replicas[2] == 2 and replicas[1] == 1
    with pytest.raises(ValueError, match="decoders"):
        replace(asr_options, decoders=-1)


def test_a_narrower_beam_for_the_customer_leaves_the_agent_alone(call_transcript, test_call,
                                                                 asr_options):
    """``customer_beam_size`` (issue 20) decodes only the customer's windows with its beam:
    the agent's words and times are those of the default decode, the customer's turns are
    still heard (CER margin as above), and the option is recorded and keyed only when it
    differs from ``beam_size``."""
    cheap = replace(asr_options, customer_beam_size=1)
    t = transcribe_call(test_call.path, cheap, use_cache=False)

    def words(tr, speaker):
        return [(u.start, u.end, [(w.text, w.start, w.end) for w in u.words])
                for u in tr.utterances if u.speaker == speaker]

    assert words(t, "agent") == words(call_transcript, "agent")
    assert [u.speaker for u in t.utterances] == [turn.speaker for turn in test_call.turns]
    for utt, truth in zip(t.utterances, test_call.turns):
        if truth.speaker == "customer":
            assert cer(truth.reference, utt.text) < 0.6, (utt.text, truth.reference)
    assert t.asr["options"]["customer_beam_size"] == 1
    assert "customer_beam_size" not in call_transcript.asr["options"]
    assert replace(asr_options, customer_beam_size=5).keyed() == asr_options.keyed()
    with pytest.raises(ValueError, match="customer_beam_size"):
        replace(asr_options, customer_beam_size=-1)
