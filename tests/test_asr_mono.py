"""Mono recordings (callqa/asr/speakers.py): one voice or two, and who said what.

Fast tests run the attribution on real audio with given texts (no ASR); slow ones run the
whole pipeline. Two-speaker material: real voices from ../shared/audio/real mixed by
bench/mono_real.py, and the sample TTS calls downmixed to mono.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callqa.asr.audio import resample
from callqa.asr.speakers import attribute, text_cues
from callqa.asr.vad import speech_intervals
from callqa.transcript import Transcript
from conftest import REAL_AUDIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from degrade import attribution  # noqa: E402
from mono_real import SPEAKER_A, phrases, real_mix  # noqa: E402


def _attributed(mono_8k: np.ndarray, texts_for=None) -> tuple:
    x = resample(mono_8k, 8000, 16000)[:, 0]
    stretches = speech_intervals(x)
    texts = [texts_for(iv) if texts_for else "" for iv in stretches]
    found = attribute(x, stretches, texts)
    speech = {"agent": [], "customer": []}
    for iv, label in zip(stretches, found.labels):
        speech["agent" if label == 0 else "customer"].append(iv)
    return found, Transcript("t", None, len(mono_8k) / 8000, [], speech=speech)


@pytest.mark.parametrize("text,cues", [
    ("您好，这里是光明物业客服中心，请问有什么可以帮您？", (4, 0)),
    ("你好，我要投诉你们小区的电梯。", (0, 2)),
    ("九栋三单元，三楼到五楼的灯都不亮。", (0, 0)),
    ("好的，跟您确认一下，我已经记下了。", (1, 0)),
])
def test_text_cues(text, cues):
    assert text_cues(text) == cues


def test_one_real_voice_is_one_voice():
    x, sr = sf.read(REAL_AUDIO / SPEAKER_A, dtype="float32")
    found, _ = _attributed(resample(x, sr, 8000)[:, 0])
    assert found.voices == 1
    assert set(found.labels) == {0}


@pytest.mark.parametrize("speaker_b", ["aishell1_BAC009S0764W0121.wav", "funasr_csharp_example_2.wav",
                                       "funasr_llamacpp_sample_hotline.wav"])
def test_two_real_voices_are_told_apart_by_voice(speaker_b):
    """No words at all: the voices and the turn structure alone split the speech."""
    mono, truth = real_mix(speaker_b)
    found, t = _attributed(mono)
    assert found.voices == 2
    right, detected = attribution(t, truth)
    assert right >= 0.9 and detected >= 0.9


@pytest.mark.parametrize("call_id", ["call_01_repair_leak", "call_08_manager_out_rude",
                                     "call_14_garbage_abusive"])
def test_words_attribute_one_tts_voice_to_both_parties(call_id):
    """samples/ uses one TTS voice for both parties: the words (given here as the truth texts
    of the turns each stretch overlaps) and the turn structure must carry the split."""
    truth = json.loads((ROOT / "samples" / f"{call_id}.truth.json").read_text(encoding="utf-8"))
    x, sr = sf.read(ROOT / "samples" / truth["audio"], dtype="float32")

    def text(iv):
        return max(truth["turns"], key=lambda t: min(iv.end, t["end"]) - max(iv.start, t["start"]))["text"]

    found, t = _attributed(x.mean(axis=1), text)
    assert found.voices == 2
    assert attribution(t, truth)[0] >= 0.95
    assert found.confidence >= 0.7


def test_the_opening_is_evidence_for_a_rude_agent_without_agent_words():
    """call_06's agent never says 您 (喂，哪位？): the turn structure, the caller's words and who
    answered place the turns. The answering voice labelled the agent's counts as evidence;
    the same recording without its opening has less to go on."""
    truth = json.loads((ROOT / "samples" / "call_06_rude_pickup.truth.json")
                       .read_text(encoding="utf-8"))
    assert not any(text_cues(t["text"])[0] for t in truth["turns"] if t["speaker"] == "agent")
    x, sr = sf.read(ROOT / "samples" / truth["audio"], dtype="float32")
    x = resample(x.mean(axis=1), sr, 16000)[:, 0]
    stretches = speech_intervals(x)

    def text(iv):
        return max(truth["turns"], key=lambda t: min(iv.end, t["end"]) - max(iv.start, t["start"]))["text"]

    found = attribute(x, stretches, [text(iv) for iv in stretches])
    assert found.voices == 2 and found.labels[0] == 0
    assert "the first speaker labelled the agent" in found.reasons
    rest = attribute(x, stretches[1:], [text(iv) for iv in stretches[1:]])
    assert found.confidence > rest.confidence


# --------------------------------------------------------------------------- whole pipeline
def _agent_tts_with_real_customer(path: Path) -> dict:
    """A mono call: the agent's turns of a sample call (TTS voice, greeting and all) with a real
    speaker's phrases as the customer's turns in between."""
    truth = json.loads((ROOT / "samples" / "call_12_aircon_refusal.truth.json")
                       .read_text(encoding="utf-8"))
    x, sr = sf.read(ROOT / "samples" / truth["audio"], dtype="float32")
    customer = phrases("funasr_llamacpp_sample_hotline.wav") + phrases("paddlespeech_zh.wav")
    out, turns, t = [], [], 0.5
    agent_turns = [u for u in truth["turns"] if u["speaker"] == "agent"][:4]
    for k, turn in enumerate(agent_turns):
        piece = x[int(turn["start"] * sr): int(turn["end"] * sr), 0]
        for who, p in (("agent", piece), ("customer", customer[k % len(customer)])):
            p = p / (np.abs(p).max() + 1e-9) * 0.5
            out.append((int(t * sr), p))
            turns.append({"speaker": who, "start": t, "end": t + len(p) / sr})
            t += len(p) / sr + 0.7
    mono = np.random.default_rng(1).normal(0, 10 ** (-55 / 20), int((t + 0.5) * sr))
    for start, p in out:
        mono[start:start + len(p)] += p
    sf.write(path, mono.astype(np.float32), sr, subtype="PCM_16")
    return {"duration": t + 0.5, "turns": turns}


@pytest.mark.slow
def test_mono_two_voices_agent_found_by_greeting(tmp_path, asr_options):
    from callqa.asr.pipeline import transcribe_call

    truth = _agent_tts_with_real_customer(tmp_path / "mixed.flac")
    t = transcribe_call(tmp_path / "mixed.flac", asr_options)
    assert t.speakers == ("agent", "customer")
    assert t.roles == "separated" and t.roles_confidence >= 0.7
    right, detected = attribution(t, truth)
    assert right >= 0.9 and detected >= 0.9
    first = t.utterances[0]
    assert first.speaker == "agent" and text_cues(first.text)[0] >= 1, first


@pytest.mark.slow
def test_downmixed_sample_is_not_all_agent(tmp_path, asr_options):
    """The issue's complaint: a downmixed call scored as if the agent said everything."""
    from callqa.asr.pipeline import transcribe_call

    truth = json.loads((ROOT / "samples" / "call_08_manager_out_rude.truth.json")
                       .read_text(encoding="utf-8"))
    x, sr = sf.read(ROOT / "samples" / truth["audio"], dtype="float32")
    sf.write(tmp_path / "mono.flac", x.mean(axis=1), sr, subtype="PCM_16")
    t = transcribe_call(tmp_path / "mono.flac", asr_options)
    assert t.roles in ("separated", "uncertain")
    assert t.speakers == ("agent", "customer")
    customer_s = sum(iv.duration for iv in t.speech["customer"])
    assert customer_s > 0.25 * sum(iv.duration for ivs in t.speech.values() for iv in ivs)
    if t.roles == "separated":
        assert attribution(t, truth)[0] >= 0.85
    else:
        assert any("roles uncertain" in n for n in t.notes)


@pytest.mark.slow
def test_one_tts_voice_stays_the_agent_alone(tmp_path, asr_options):
    """A trainee's own recording: the agent track of a sample call alone."""
    from callqa.asr.pipeline import MONO_NOTE, transcribe_call

    x, sr = sf.read(ROOT / "samples" / "call_06_rude_pickup.flac", dtype="float32")
    sf.write(tmp_path / "trainee.flac", x[:, 0], sr, subtype="PCM_16")
    t = transcribe_call(tmp_path / "trainee.flac", asr_options)
    assert t.roles == "single" and t.speakers == ("agent",)
    assert MONO_NOTE in t.notes
    assert t.utterances and all(u.speaker == "agent" for u in t.utterances)


@pytest.mark.slow
def test_downmixed_sample_corpus_attribution(tmp_path, asr_options):
    """The issue's bar over all 18 sample calls downmixed to mono, through the real model: no
    call taken as the agent alone, and at least 95 % of single-party speech time attributed to
    the right party over the calls whose roles were decided (measured 99.0 % on an AVX2
    machine; the margin covers other CPUs' words)."""
    from callqa.asr.pipeline import transcribe_call

    shares, roles = [], []
    for truth_path in sorted((ROOT / "samples").glob("*.truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        x, sr = sf.read(ROOT / "samples" / truth["audio"], dtype="float32")
        path = tmp_path / f"{truth['call_id']}.flac"
        sf.write(path, x.mean(axis=1), sr, subtype="PCM_16")
        t = transcribe_call(path, asr_options)
        roles.append(t.roles)
        if t.roles == "separated":
            shares.append(attribution(t, truth)[0])
    assert "single" not in roles, roles
    assert roles.count("separated") >= 15, roles
    assert float(np.mean(shares)) >= 0.95, shares
