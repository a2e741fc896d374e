"""The drill's recogniser backend on real audio through the real model: the call so far,
recognised while it goes on, is found again when the finished call is scored (only what came
after is recognised), and the verdicts are the standard Whisper backend's within two rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callqa.asr.pipeline import transcribe_call
from callqa.drill import recognizer
from callqa.drill.recognizer import NAME, stretches
from callqa.scoring import Scorer, load_rulebook

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CALL = SAMPLES / "call_06_rude_pickup.flac"
CUT_S = 27.0  # between the agent's third answer (to 25.1 s) and the customer's third turn


def test_the_call_so_far_is_remembered(tmp_path, asr_options):
    data, rate = sf.read(CALL, dtype="float32", always_2d=True)
    legs = {}
    for name, x in (("agent", data[:, 0]), ("customer", data[:, 1]),
                    ("agent_so_far", data[: int(CUT_S * rate), 0]),
                    ("customer_so_far", data[: int(CUT_S * rate), 1])):
        legs[name] = tmp_path / f"{name}.wav"
        sf.write(legs[name], x, rate, subtype="FLOAT")
    drill = replace(asr_options, backend=NAME)
    rb = load_rulebook()

    before = dict(recognizer.stats)
    so_far = transcribe_call(legs["agent_so_far"], drill, customer=legs["customer_so_far"],
                             use_cache=False)
    done_early = recognizer.stats["recognised"] - before["recognised"]
    assert done_early >= 4  # the greeting, two answers, two customer turns (some joined)
    assert so_far.asr["decode"]["remembered"] == 0

    final = transcribe_call(legs["agent"], drill, customer=legs["customer"], use_cache=False)
    groups = final.asr["decode"]["stretches"]
    remembered = final.asr["decode"]["remembered"]
    # everything heard before the cut was found again; only what came after was recognised
    early = sum(len([g for g in stretches(ivs) if g[-1].end < CUT_S - 1.5])
                for ivs in final.speech.values())
    assert remembered >= early - 1 and remembered >= 3, (remembered, early, groups)
    assert groups - remembered <= 4

    # the verdicts of the standard backend on the same call, within two rules: a stretch is
    # heard without the turns Whisper would otherwise have in the same window, and the CPU's
    # kernels move the words (measured: the 0.9 s "喂，哪位？" alone once came out as "请问那里",
    # its 请 clearing PL01; under CT2_FORCE_CPU_ISA=GENERIC as 努力努力, losing GR02, while a
    # 请 heard before 我跟店公说一声 cleared PL01)
    standard = transcribe_call(legs["agent"], asr_options, customer=legs["customer"],
                               use_cache=False)
    got = {f.rule_id for f in Scorer(rb).score(final).findings}
    want = {f.rule_id for f in Scorer(rb).score(standard).findings}
    assert len(got ^ want) <= 2, (got, want)
    # the call's clear violations, found by both; one may be lost to the CPU's kernels (under
    # CT2_FORCE_CPU_ISA=AVX the 0.9 s 喂，哪位 is heard otherwise by one of the two backends)
    assert len({"GR01", "GR02", "FB03", "CL01"} & got & want) >= 3, (got, want)
    assert np.isclose(final.duration, standard.duration)
