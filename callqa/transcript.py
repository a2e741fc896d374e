"""The transcript model: the contract between ``callqa.asr`` and ``callqa.scoring``.

Everything downstream of the ASR reads these records and nothing else, so a team with its own
ASR can produce this JSON and score it. Times are seconds from the start of the recording.
The JSON form is documented in ``docs/transcript.md``; ``SCHEMA_VERSION`` changes when it does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from callqa.errors import TranscriptError

__all__ = [
    "AGENT",
    "CUSTOMER",
    "SPEAKERS",
    "SCHEMA_VERSION",
    "ROLES",
    "ROLES_CHANNELS",
    "ROLES_SINGLE",
    "ROLES_SEPARATED",
    "ROLES_UNCERTAIN",
    "Interval",
    "Word",
    "Utterance",
    "Entity",
    "Transcript",
    "load_transcript",
    "save_transcript",
]

SCHEMA_VERSION = 1
AGENT = "agent"
CUSTOMER = "customer"
SPEAKERS = (AGENT, CUSTOMER)
# How the parties in a transcript were told apart (``Transcript.roles``):
ROLES_CHANNELS = "channels"    # stereo: one party per channel (agent left unless told otherwise)
ROLES_SINGLE = "single"        # mono with one voice: the agent alone (a trainee's own recording)
ROLES_SEPARATED = "separated"  # mono with two voices, split and assigned with confidence
ROLES_UNCERTAIN = "uncertain"  # mono with two voices whose roles could not be told apart
ROLES = (ROLES_CHANNELS, ROLES_SINGLE, ROLES_SEPARATED, ROLES_UNCERTAIN)


@dataclass(frozen=True)
class Interval:
    """A stretch of detected speech on one party's channel (from VAD)."""

    start: float
    end: float

    def __post_init__(self) -> None:
        # plain floats: numpy scalars from the signal arithmetic would reach the JSON, and the
        # comparisons made on them would give numpy bools that json cannot write
        object.__setattr__(self, "start", float(self.start))
        object.__setattr__(self, "end", float(self.end))

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Word:
    """One recognised word (for Chinese usually one to a few characters)."""

    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass(frozen=True)
class Utterance:
    """One turn of one party: timing from VAD, text and words from the ASR."""

    speaker: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Entity:
    """One piece of personal data said in the call (found by ``callqa.privacy.detect``).

    Attributes:
        type: one of ``callqa.privacy.detect.ENTITY_TYPES`` (phone, id_number, bank_card,
            email, address, name).
        speaker: who said it (``agent`` restating the customer's number counts too).
        utterance: index of the utterance in the transcript (ordered by start time).
        char_start, char_end: the characters of that utterance's ``text`` it covers.
        start, end: seconds, from the words' timing.
        text: the characters as written.
    """

    type: str
    speaker: str
    utterance: int
    char_start: int
    char_end: int
    start: float
    end: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = round(self.start, 3), round(self.end, 3)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Entity":
        return cls(str(d["type"]), str(d["speaker"]), int(d["utterance"]), int(d["char_start"]),
                   int(d["char_end"]), float(d["start"]), float(d["end"]), str(d["text"]))


@dataclass
class Transcript:
    """A whole call as the scoring engine sees it.

    Attributes:
        call_id: stable identifier of the call (file stem by default).
        agent_id: the agent who took the call, or None when unknown.
        duration: length of the recording in seconds.
        utterances: all turns of both parties, ordered by start time.
        speech: per-speaker speech intervals from VAD; silence and overlap are measured on these.
        speakers: which parties were recorded; a mono trainer recording has only the agent,
            and rules that need both parties are then not applicable.
        asr: how the transcript was made (model, options, VAD settings, audio hash ...).
        dropped: segments the ASR produced but callqa discarded (hallucination filters), kept
            so a reviewer can see what was removed and why.
        notes: human-readable remarks about the call (e.g. "mono recording").
        roles: how agent and customer were told apart (one of ``ROLES``). With
            ``uncertain`` no phrase may be charged to either party.
        roles_confidence: for ``separated``/``uncertain``, how sure the role assignment is
            (0..1); None where the channels say who is who.
        entities: the personal data said, when a stage has detected it (None: not yet). A
            redacted transcript keeps them (types and times, text masked), so rules that ask
            whether a phone number was given still hold on it.
    """

    call_id: str
    agent_id: str | None
    duration: float
    utterances: list[Utterance]
    speech: dict[str, list[Interval]] = field(default_factory=dict)
    speakers: tuple[str, ...] = SPEAKERS
    asr: dict[str, Any] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    roles: str = ROLES_CHANNELS
    roles_confidence: float | None = None
    entities: list[Entity] | None = None

    def __post_init__(self) -> None:
        if self.roles == ROLES_CHANNELS and CUSTOMER not in self.speakers:
            self.roles = ROLES_SINGLE
        self.utterances = sorted(self.utterances, key=lambda u: (u.start, u.end))
        # Hand-written transcripts (rule tests, other ASRs) may omit VAD intervals: the
        # utterances themselves are then the best estimate of when each party spoke.
        for speaker in self.speakers:
            if speaker not in self.speech:
                self.speech[speaker] = merge_intervals(
                    Interval(u.start, u.end) for u in self.utterances if u.speaker == speaker
                )

    def by(self, speaker: str) -> list[Utterance]:
        return [u for u in self.utterances if u.speaker == speaker]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "call_id": self.call_id,
            "agent_id": self.agent_id,
            "duration": round(self.duration, 3),
            "speakers": list(self.speakers),
            "utterances": [utterance_to_dict(u) for u in self.utterances],
            "speech": {
                s: [[round(i.start, 3), round(i.end, 3)] for i in ivs]
                for s, ivs in self.speech.items()
            },
            "asr": self.asr,
            "dropped": self.dropped,
            "notes": self.notes,
            "roles": self.roles,
            "roles_confidence": self.roles_confidence,
            **({} if self.entities is None
               else {"entities": [e.to_dict() for e in self.entities]}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<transcript>") -> "Transcript":
        try:
            version = data.get("schema_version", SCHEMA_VERSION)
            if version != SCHEMA_VERSION:
                raise TranscriptError(source, f"unsupported schema_version {version!r}")
            speakers = tuple(data.get("speakers") or SPEAKERS)
            for s in speakers:
                if s not in SPEAKERS:
                    raise TranscriptError(source, f"unknown speaker {s!r} in speakers")
            utterances = [utterance_from_dict(u, source) for u in data["utterances"]]
            speech = {
                s: [Interval(float(a), float(b)) for a, b in ivs]
                for s, ivs in (data.get("speech") or {}).items()
            }
            roles = data.get("roles") or (ROLES_CHANNELS if CUSTOMER in speakers else ROLES_SINGLE)
            if roles not in ROLES:
                raise TranscriptError(source, f"unknown roles {roles!r} (one of {', '.join(ROLES)})")
            confidence = data.get("roles_confidence")
            duration = data.get("duration")
            if duration is None:
                duration = max((u.end for u in utterances), default=0.0)
            return cls(
                call_id=str(data.get("call_id") or Path(source).stem),
                agent_id=data.get("agent_id"),
                duration=float(duration),
                utterances=utterances,
                speech=speech,
                speakers=speakers,
                asr=dict(data.get("asr") or {}),
                dropped=list(data.get("dropped") or []),
                notes=list(data.get("notes") or []),
                roles=roles,
                roles_confidence=None if confidence is None else float(confidence),
                entities=None if data.get("entities") is None
                else [Entity.from_dict(e) for e in data["entities"]],
            )
        except TranscriptError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TranscriptError(source, f"malformed transcript: {exc!r}") from exc


def utterance_to_dict(u: Utterance) -> dict[str, Any]:
    return {
        "speaker": u.speaker,
        "start": round(u.start, 3),
        "end": round(u.end, 3),
        "text": u.text,
        "words": [
            {"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3),
             "probability": round(w.probability, 4)}
            for w in u.words
        ],
    }


def utterance_from_dict(d: dict[str, Any], source: str) -> Utterance:
    speaker = d["speaker"]
    if speaker not in SPEAKERS:
        raise TranscriptError(source, f"unknown speaker {speaker!r}")
    start, end = float(d["start"]), float(d["end"])
    if end < start:
        raise TranscriptError(source, f"utterance ends before it starts ({start} > {end})")
    words = tuple(
        Word(str(w["text"]), float(w["start"]), float(w["end"]), float(w.get("probability", 1.0)))
        for w in d.get("words") or ()
    )
    return Utterance(speaker, start, end, str(d.get("text", "")), words)


def merge_intervals(intervals: Iterable[Interval], gap_s: float = 0.0) -> list[Interval]:
    """Union of intervals; neighbours closer than ``gap_s`` are joined."""
    merged: list[Interval] = []
    for iv in sorted(intervals, key=lambda i: i.start):
        if merged and iv.start <= merged[-1].end + gap_s:
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, iv.end))
        else:
            merged.append(iv)
    return merged


def load_transcript(path: str | Path) -> Transcript:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TranscriptError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise TranscriptError(str(path), f"line {exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise TranscriptError(str(path), "a transcript must be a JSON object")
    return Transcript.from_dict(data, source=str(path))


def save_transcript(transcript: Transcript, path: str | Path) -> None:
    """Write atomically, so a killed process never leaves half a transcript behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(transcript.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
