"""Scenarios: the customer's side of a scored stereo call, played to a trainee turn by turn.

A scenario is made from any call of the batch (a sample call, or a real call a trainer marks):
its customer turns (times from the call's transcript), a brief shown before the start (the
trainer's, else the sample's description from ``<stem>.truth.json``), the original agent's turns
as a model answer, and the pass mark of the rulebook the call was scored with.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from callqa.errors import CallqaError
from callqa.result import CallResult
from callqa.transcript import AGENT, CUSTOMER

__all__ = ["CLIP_PAD_S", "DrillError", "Scenario", "Turn", "clip", "clip_wav", "recording_channels",
           "scenario_from_call"]

#: recording kept around each customer turn when it is played (a clipped first syllable or
#: breath sounds unnatural); the assembled call places the clip, pads included
CLIP_PAD_S = (0.15, 0.35)


class DrillError(CallqaError):
    """A drill cannot be made or taken: a mono scenario, a missing recording, a bad upload."""


@dataclass(frozen=True)
class Turn:
    """One turn of the scenario's source call (seconds on that call's timeline)."""

    start: float
    end: float
    text: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Scenario:
    """What a trainee is drilled on.

    Attributes:
        call_id: the call it was made from.
        recording: that call's stereo recording (the customer turns are cut from it).
        customer_channel: 0 or 1, the customer's channel in ``recording``.
        agent_first: the call opens with the agent (the trainee picks up and greets first).
        turns: the customer's turns, consecutive customer utterances joined.
        model_answer: the original agent's turns.
        pass_mark: a score at or above it, with no veto finding, passes.
        rulebook_path: the rulebook the source call was scored with (None: the default).
        assigned: trainees the trainer assigned it to.
        source_score: the source call's own score (its agent's turns are the model answer: a
            failed call's are shown as a counter-example).
    """

    call_id: str
    title: str
    brief: str
    recording: str
    customer_channel: int
    agent_first: bool
    turns: list[Turn]
    model_answer: list[Turn]
    pass_mark: float
    rulebook_path: str | None = None
    created_by: str = ""
    source_score: float | None = None
    id: int | None = None
    assigned: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Answers the trainee gives: one after each customer turn, plus the greeting."""
        return len(self.turns) + (1 if self.agent_first else 0)

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("id"), d.pop("assigned")
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, *, id: int | None = None,
                  assigned: list[str] | None = None) -> "Scenario":
        d: dict[str, Any] = json.loads(text)
        d["turns"] = [Turn(**t) for t in d["turns"]]
        d["model_answer"] = [Turn(**t) for t in d["model_answer"]]
        return cls(**d, id=id, assigned=list(assigned or []))


def recording_channels(path: Path) -> int:
    """The channel count stored in a recording (without decoding it)."""
    from callqa.asr.audio import load_audio
    import soundfile as sf

    try:
        return int(sf.info(str(path)).channels)
    except Exception:  # not a libsndfile format: decode it
        return len(load_audio(path).channels)


def _brief_of(recording: Path) -> str:
    """Who calls and why: the first sentence of a sample's description (the rest says what the
    agent did, which is for after the attempt)."""
    truth = recording.with_name(recording.stem + ".truth.json")
    try:
        text = str(json.loads(truth.read_text("utf-8")).get("scenario") or "")
    except (OSError, ValueError, AttributeError):
        return ""
    return text.split("。")[0] + "。" if "。" in text else text


def _join(utts, speaker: str) -> list[Turn]:
    """The speaker's utterances, those with nothing of the other party between them joined."""
    out: list[Turn] = []
    last_speaker = None
    for u in sorted(utts, key=lambda u: (u.start, u.end)):
        if u.speaker == speaker:
            if out and last_speaker == speaker:
                prev = out[-1]
                out[-1] = Turn(prev.start, max(prev.end, u.end), prev.text + u.text)
            else:
                out.append(Turn(round(u.start, 3), round(u.end, 3), u.text))
        last_speaker = u.speaker
    return out


def scenario_from_call(result: CallResult, recording: Path, *, agent_channel: str = "left",
                       title: str = "", brief: str = "", pass_mark: float | None = None,
                       rulebook_path: str | None = None, created_by: str = "") -> Scenario:
    """A scenario from a scored call and its recording.

    Raises:
        DrillError: the recording is missing or mono (the customer is not on a track of their
            own, so their turns cannot be played alone), or the call has no customer turn.
    """
    if not recording.is_file():
        raise DrillError(str(recording), "找不到这通电话的录音，无法做成练习")
    if recording_channels(recording) != 2:
        raise DrillError(str(recording), "单声道录音：客户的声音不在单独的声道上，无法单独播放给"
                                         "学员，请选择双声道录音")
    customer = _join(result.utterances, CUSTOMER)
    if not customer:
        raise DrillError(result.call_id, "这通电话里没有客户说话，无法做成练习")
    agent = [Turn(round(u.start, 3), round(u.end, 3), u.text)
             for u in sorted(result.utterances, key=lambda u: u.start) if u.speaker == AGENT]
    first = min(result.utterances, key=lambda u: u.start)
    mark = pass_mark if pass_mark is not None else float(
        (result.rulebook or {}).get("pass_mark") or 80.0)
    return Scenario(
        call_id=result.call_id, title=title.strip() or result.call_id,
        brief=brief.strip() or _brief_of(recording), recording=str(recording.resolve()),
        customer_channel=0 if agent_channel == "right" else 1,
        agent_first=first.speaker == AGENT, turns=customer, model_answer=agent,
        pass_mark=mark, rulebook_path=rulebook_path, created_by=created_by,
        source_score=result.score)


def clip(turn: Turn, samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """The customer's turn as played (pads included), from the decoded customer channel."""
    lo = max(0, int((turn.start - CLIP_PAD_S[0]) * rate_hz))
    hi = min(len(samples), int((turn.end + CLIP_PAD_S[1]) * rate_hz))
    return samples[lo:hi]


def clip_wav(turn: Turn, samples: np.ndarray, rate_hz: int) -> bytes:
    """:func:`clip` as a 16-bit mono WAV (what the page plays)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, clip(turn, samples, rate_hz), rate_hz, format="WAV", subtype="PCM_16")
    return buf.getvalue()
