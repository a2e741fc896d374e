"""Checks shared by the front-end tests (echo, telephone conditions) on conftest's test call."""

from __future__ import annotations

from conftest import SyntheticCall


def assert_parties_heard(transcript, call: SyntheticCall, cer_max: float = 0.25,
                         tolerance_s: float = 0.4) -> None:
    """The transcript hears ``call`` as its truth says, in bounds that do not depend on one
    machine's exact words: each truth turn is covered by its own party's utterances (edges
    within ``tolerance_s``), no utterance lies outside its party's truth turns (no phantom
    speech, no words of the other party), and each party's text has a CER under ``cer_max``.
    Where a turn is split (the other party starting inside a pause) does not matter."""
    from callqa.text import cer

    for party in ("agent", "customer"):
        truth = [t for t in call.turns if t.speaker == party]
        got = [u for u in transcript.utterances if u.speaker == party]
        for t in truth:
            covered = sum(max(0.0, min(u.end, t.end) - max(u.start, t.start)) for u in got)
            assert covered > t.end - t.start - 2 * tolerance_s, (party, t, got)
        for u in got:
            assert any(t.start - tolerance_s <= u.start and u.end <= t.end + tolerance_s
                       for t in truth), (party, u, truth)
        ref = "".join(t.reference for t in truth)
        assert cer(ref, "".join(u.text for u in got)) < cer_max, (party, got)
