"""Shared fixtures: the real clips in ../shared, the embedded model in a session temp cache,
and a stereo 8 kHz test call built from the real clips with known turn timing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_AUDIO = SHARED / "audio" / "real"


def speech_span(samples: np.ndarray, rate: int, floor_db: float = 30.0) -> tuple[int, int]:
    """First and last sample of the 10 ms frames within ``floor_db`` of the loudest frame:
    an energy-based speech span, independent of the VAD under test."""
    hop = rate // 100
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    level = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-9)
    loud = np.nonzero(level > level.max() - floor_db)[0]
    return int(loud[0] * hop), int((loud[-1] + 1) * hop)


@dataclass(frozen=True)
class Turn:
    speaker: str
    start: float
    end: float
    reference: str


@dataclass(frozen=True)
class SyntheticCall:
    path: Path
    turns: tuple[Turn, ...]
    duration: float


# (speaker, start s, clip); agent left. The last customer turn overlaps the agent's long turn.
CALL_PLAN = (
    ("agent", 0.5, "funasr_asr_example.wav"),
    ("customer", 6.0, "kimi_audio_asr_example.wav"),
    ("agent", 12.5, "funasr_csharp_example_1.wav"),
    ("customer", 22.0, "cosyvoice_zero_shot_prompt.wav"),
)


def reference_texts() -> dict[str, str]:
    rows = (REAL_AUDIO / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split("\t")
    out = {}
    for row in rows[1:]:
        rec = dict(zip(header, row.split("\t")))
        out[rec["file"]] = rec["reference_text"]
    return out


def build_call(path: Path, rate: int = 8000, agent_channel: str = "left",
               plan=CALL_PLAN, noise_dbfs: float = -55.0) -> SyntheticCall:
    """Write a stereo call: each clip trimmed to its speech span and placed at its start time
    on its party's channel, over faint line noise. Returns the true turn times."""
    import soundfile as sf

    from callqa.asr.audio import resample

    refs = reference_texts()
    placed, turns = [], []
    for speaker, start, name in plan:
        x, sr = sf.read(REAL_AUDIO / name, dtype="float32")
        x = resample(x, sr, rate)[:, 0]
        a, b = speech_span(x, rate)
        x = x[a:b] / np.abs(x[a:b]).max() * 0.5
        placed.append((speaker, int(start * rate), x))
        turns.append(Turn(speaker, start, start + len(x) / rate, refs[name]))
    n = max(s + len(x) for _, s, x in placed) + rate
    rng = np.random.default_rng(7)
    channels = {s: rng.normal(0, 10 ** (noise_dbfs / 20), n).astype(np.float32)
                for s in ("agent", "customer")}
    for speaker, s, x in placed:
        channels[speaker][s:s + len(x)] += x
    left, right = (("agent", "customer") if agent_channel == "left" else ("customer", "agent"))
    sf.write(path, np.stack([channels[left], channels[right]], axis=1), rate, subtype="PCM_16")
    return SyntheticCall(path, tuple(turns), n / rate)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The embedded whisper-base assembled once per session into a temp cache."""
    from callqa.asr.whisper.models import ensure_embedded_model

    return ensure_embedded_model(tmp_path_factory.mktemp("models") / "whisper-base")


@pytest.fixture(scope="session")
def asr_options(model_dir, tmp_path_factory):
    from callqa.asr.pipeline import AsrOptions

    return AsrOptions(model_dir=str(model_dir),
                      cache_dir=str(tmp_path_factory.mktemp("transcripts")))


@pytest.fixture(scope="session")
def test_call(tmp_path_factory) -> SyntheticCall:
    return build_call(tmp_path_factory.mktemp("calls") / "call_8k.wav")


@pytest.fixture
def env(asr_options, monkeypatch, tmp_path) -> list[str]:
    """CLI arguments and environment for commands that transcribe: the session's assembled
    model, and the default caches pointed at a temp dir (no writes to ~/.cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return ["--model-dir", asr_options.model_dir]
