"""One attempt, scored: the trainee's microphone recording and the customer turns as they were
played become a call recorded as two files — the agent's leg (the browser's recording, as
uploaded) and the customer's leg (each turn's clip at the moment it started playing) — which
goes through the same ASR pipeline (:func:`callqa.asr.pipeline.transcribe_call` with
``customer=``) and the same scorer as any call.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callqa.asr.audio import SAMPLE_RATE, load_audio
from callqa.drill.scenario import DrillError, Scenario, clip
from callqa.drill.store import Attempt, DrillStore, Play
from callqa.errors import AudioError, CallqaError
from callqa.result import CallResult

__all__ = ["AGENT_FILE", "CUSTOMER_FILE", "RESULT_FILE", "Outcome", "call_wav", "check_complete",
           "customer_leg", "customer_samples", "drill_options", "load_result", "prepare_attempt",
           "score_attempt", "warm_up"]

logger = logging.getLogger("callqa.drill")

AGENT_FILE = "answers.webm"
CUSTOMER_FILE = "customer.wav"
RESULT_FILE = "result.json"


@functools.lru_cache(maxsize=4)
def _decoded(path: str, mtime_ns: int, channel: int) -> np.ndarray:
    return load_audio(path).channels[channel]


def customer_samples(scenario: Scenario) -> np.ndarray:
    """The customer's channel of the scenario's recording at 16 kHz (decoded once)."""
    path = Path(scenario.recording)
    try:
        return _decoded(str(path), path.stat().st_mtime_ns, scenario.customer_channel)
    except (OSError, AudioError) as exc:
        raise DrillError(str(path), f"练习的录音无法读取：{exc}") from None


def customer_leg(scenario: Scenario, plays: list[Play]) -> np.ndarray:
    """The customer's leg of the attempt: each played turn's clip at its moment (16 kHz)."""
    samples = customer_samples(scenario)
    clips = [(int(round(p.at_s * SAMPLE_RATE)), clip(scenario.turns[p.turn], samples,
                                                     SAMPLE_RATE)) for p in plays]
    out = np.zeros(max((at + len(c) for at, c in clips), default=SAMPLE_RATE), np.float32)
    for at, c in clips:
        out[at: at + len(c)] += c
    return out


@dataclass(frozen=True)
class Outcome:
    status: str  # scored | unscored | incomplete
    result: CallResult | None
    message: str | None = None


def check_complete(scenario: Scenario, attempt: Attempt, chunks: int,
                   plays: list[Play]) -> str | None:
    """Why an attempt cannot be scored as it stands (None: it can)."""
    if attempt.chunks == 0:
        return "没有收到任何录音（麦克风未开启或连接中断）"
    if chunks != attempt.chunks:
        return (f"录音不完整：页面录了 {chunks} 段，服务器只收到 {attempt.chunks} 段"
                "（连接中断过）；这次练习保留但不评分")
    played = sorted(p.turn for p in plays)
    if played != list(range(len(scenario.turns))):
        return (f"客户的 {len(scenario.turns)} 轮话只播放了 {len(played)} 轮"
                "（通话中途结束）；这次练习保留但不评分")
    if any(not (0 <= p.at_s < 3600) for p in plays):
        return "播放时间不合理"
    return None


def score_attempt(store: DrillStore, scenario: Scenario, attempt: Attempt, rulebook,
                  asr) -> Outcome:
    """Assemble the attempt's two legs, transcribe and score them; record the outcome.

    A recording with no voice on it is ``unscored`` (never a perfect call); the pass is the
    scenario's: a score at or above its pass mark with no veto finding."""
    import soundfile as sf

    from callqa.asr.pipeline import transcribe_call
    from callqa.scoring import Scorer

    folder = store.attempt_dir(attempt.id)
    customer = folder / CUSTOMER_FILE
    sf.write(customer, customer_leg(scenario, attempt.plays), SAMPLE_RATE, subtype="FLOAT")
    try:
        # every attempt is new audio: nothing to find in, or add to, the transcript cache
        transcript = transcribe_call(folder / AGENT_FILE, drill_options(asr), customer=customer,
                                     offset_s=0.0,
                                     call_id=f"drill-{attempt.id}", agent_id=attempt.trainee,
                                     use_cache=False)
        result = Scorer(rulebook).score(transcript)
    except AudioError as exc:
        message = f"录音无法使用：{exc}"
        store.set_status(attempt.id, "unscored", message)
        return Outcome("unscored", None, message)
    except CallqaError as exc:
        logger.error("drill attempt %s: %s", attempt.id, exc)
        store.set_status(attempt.id, "incomplete", f"评分失败：{exc}")
        return Outcome("incomplete", None, str(exc))
    (folder / RESULT_FILE).write_text(json.dumps(result.to_dict(), ensure_ascii=False),
                                      encoding="utf-8")
    if result.unscored is not None or result.score is None:
        message = f"没有评分：{result.unscored}"
        store.set_status(attempt.id, "unscored", message,
                         rules=json.dumps([f.rule_id for f in result.findings]))
        return Outcome("unscored", result, message)
    passed = result.score >= scenario.pass_mark and not result.vetoed
    store.set_status(attempt.id, "scored", None, score=result.score, passed=int(passed),
                     vetoed=int(bool(result.vetoed)),
                     rules=json.dumps([f.rule_id for f in result.findings]))
    return Outcome("scored", result)


def drill_options(asr):
    """The pipeline's options with the drill's recogniser (:mod:`callqa.drill.recognizer`):
    the same model and settings, each answer recognised alone and remembered."""
    from dataclasses import replace

    from callqa.drill import recognizer

    return replace(asr, backend=recognizer.NAME)


def prepare_attempt(store: DrillStore, scenario: Scenario, attempt: Attempt, asr) -> bool:
    """Run the pipeline on the call so far (the recording uploaded until now, the customer
    turns played until now), so that the recogniser remembers every answer already given and
    every customer turn already played: called in the background after each customer turn.
    Its transcript is thrown away; False when there was nothing to do yet or the partial
    recording could not be read (the final scoring reads it again anyway)."""
    from callqa.asr.pipeline import transcribe_call

    import soundfile as sf

    folder = store.attempt_dir(attempt.id)
    answers = folder / AGENT_FILE
    if not attempt.plays or not answers.is_file():
        return False
    partial, leg = folder / "partial.webm", folder / "partial-customer.wav"
    partial.write_bytes(answers.read_bytes())
    # silence after the last turn, as the finished call has (its trainee's answer follows)
    tail = np.zeros(int(3 * SAMPLE_RATE), np.float32)
    sf.write(leg, np.concatenate([customer_leg(scenario, attempt.plays), tail]), SAMPLE_RATE,
             subtype="FLOAT")
    try:
        transcribe_call(partial, drill_options(asr), customer=leg, use_cache=False,
                        call_id=f"drill-{attempt.id}-partial")
    except CallqaError as exc:
        logger.info("drill attempt %s: nothing prepared (%s)", attempt.id, exc)
        return False
    finally:
        partial.unlink(missing_ok=True)
        leg.unlink(missing_ok=True)
    return True


def warm_up(asr) -> None:
    """Load what scoring needs (the recogniser's model, the sentence encoder) while the call
    is going on, so that the last answer does not wait for it. Both load once per process."""
    from callqa.asr.pipeline import load_recognizer
    from callqa.scoring.semantic import get_encoder

    load_recognizer(drill_options(asr))
    get_encoder()


def call_wav(store: DrillStore, attempt_id: int) -> Path:
    """The assembled call as a stereo WAV (trainee left, customer right), made once on first
    request (the browser's WebM has no index to seek in).

    Raises:
        FileNotFoundError: the attempt was never assembled (no customer leg written).
    """
    import soundfile as sf

    from callqa.asr.audio import load_legs

    folder = store.attempt_dir(attempt_id)
    out = folder / "call.wav"
    if not out.is_file():
        if not (folder / CUSTOMER_FILE).is_file():
            raise FileNotFoundError(folder / CUSTOMER_FILE)
        try:
            legs = load_legs(folder / AGENT_FILE, folder / CUSTOMER_FILE)
        except AudioError as exc:
            raise FileNotFoundError(str(exc)) from None
        tmp = out.with_suffix(".tmp.wav")
        sf.write(tmp, np.stack(legs.channels, axis=1), SAMPLE_RATE, subtype="PCM_16")
        tmp.replace(out)
    return out


def load_result(store: DrillStore, attempt_id: int) -> CallResult | None:
    path = store.attempt_dir(attempt_id) / RESULT_FILE
    if not path.is_file():
        return None
    return CallResult.from_dict(json.loads(path.read_text("utf-8")))
