"""Decoding recordings into per-channel 16 kHz float32 arrays.

wav/flac (and anything else libsndfile reads) go through ``soundfile``, which reports the true
channel count and sample rate and reads them losslessly; other formats (ogg/mp3/m4a/...) go
through PyAV, the decoder faster-whisper itself uses. Resampling to 16 kHz uses libswresample
(via PyAV) for both, so 8 kHz telephone audio and 44.1 kHz recordings come out alike.

A call recorded as two files, one per leg (Asterisk MixMonitor ``r()``/``t()``, FreeSWITCH),
is decoded by :func:`load_legs` into the same two-channel form a stereo recording has (agent
first), each leg resampled on its own and the customer's shifted by the offset between them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callqa.errors import AudioError

__all__ = ["SAMPLE_RATE", "DecodedAudio", "file_sha256", "load_audio", "load_legs", "legs_sha256",
           "resample",
           "resample_channel"]

SAMPLE_RATE = 16000
_SOUNDFILE_SUFFIXES = {".wav", ".flac", ".aiff", ".aif"}


@dataclass(frozen=True)
class DecodedAudio:
    """A recording as the ASR sees it.

    Attributes:
        channels: one float32 array per channel, resampled to ``SAMPLE_RATE``.
        source_sample_rate: the sample rate stored in the file.
        sha256: hash of the file's bytes (the transcript cache key).
    """

    path: str
    channels: tuple[np.ndarray, ...]
    source_sample_rate: int
    sha256: str

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE if self.channels else 0.0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def resample(samples: np.ndarray, rate_hz: int, target_hz: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a (frames, channels) float array with libswresample; returns (frames, channels)."""
    if samples.ndim == 1:
        samples = samples[:, None]
    if rate_hz == target_hz:
        return np.ascontiguousarray(samples, dtype=np.float32)
    out = [resample_channel(samples[:, c], rate_hz, target_hz) for c in range(samples.shape[1])]
    n = min(len(x) for x in out)
    return np.stack([x[:n] for x in out], axis=1)


def resample_channel(samples: np.ndarray, rate_hz: int, target_hz: int = SAMPLE_RATE,
                     block: int = 1 << 16) -> np.ndarray:
    """Resample one channel (1-D float array) with libswresample, fed in blocks: the
    resampler is a stream, so the output is the same as for one frame, without the
    several full-length temporaries one frame costs (a 20-minute call peaked near 1 GB)."""
    if rate_hz == target_hz:
        return np.ascontiguousarray(samples, dtype=np.float32)
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=target_hz)
    out = np.empty(int(len(samples) * target_hz / rate_hz) + 2 * block, np.float32)
    filled = 0

    def take(frames) -> None:
        nonlocal out, filled
        for f in frames:
            piece = f.to_ndarray().reshape(-1)
            if filled + len(piece) > len(out):
                out = np.concatenate([out, np.empty(len(piece) + block, np.float32)])
            out[filled: filled + len(piece)] = piece
            filled += len(piece)

    for start in range(0, len(samples), block):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[start: start + block], dtype=np.float32)[None, :],
            format="flt", layout="mono")
        frame.sample_rate = rate_hz
        take(resampler.resample(frame))
    take(resampler.resample(None))
    return out[:filled]


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data, int(rate)


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path), mode="r", metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise AudioError(str(path), "no audio stream")
        stream = container.streams.audio[0]
        n_channels = stream.codec_context.channels
        rate = stream.codec_context.sample_rate
        if not rate or not n_channels:
            raise AudioError(str(path), "audio stream has no sample rate or channels")
        # Decode to interleaved-free planar float at the native rate; resampling happens once,
        # in :func:`resample`, for every format alike.
        chunks = []
        for frame in container.decode(stream):
            arr = frame.to_ndarray()
            if frame.format.is_planar:
                arr = arr.T  # (channels, n) → (n, channels)
            else:
                arr = arr.reshape(-1, n_channels)
            if arr.dtype.kind == "i":
                arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max + 1)
            chunks.append(arr.astype(np.float32, copy=False))
    if not chunks:
        return np.zeros((0, n_channels), np.float32), rate
    return np.concatenate(chunks, axis=0), rate


def load_audio(path: str | Path) -> DecodedAudio:
    """Decode ``path`` into one or two 16 kHz channels.

    Raises:
        AudioError: the file is missing, cannot be decoded, is empty (no samples or pure
            digital silence), or has more than two channels.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(str(path), "no such audio file")
    try:
        if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
            try:
                data, rate = _read_soundfile(path)
            except Exception:  # e.g. a WAV codec libsndfile lacks: let FFmpeg try
                data, rate = _read_av(path)
        else:
            data, rate = _read_av(path)
    except AudioError:
        raise
    except Exception as exc:  # soundfile/av raise format-specific errors
        raise AudioError(str(path), f"cannot decode audio: {exc}") from exc
    n_channels = data.shape[1]
    if n_channels > 2:
        raise AudioError(str(path), f"{n_channels} channels; expected mono or stereo "
                                    "(agent and customer on separate channels)")
    if data.shape[0] == 0:
        raise AudioError(str(path), "empty recording (no audio samples)")
    if not np.any(data):
        raise AudioError(str(path), "empty recording (digital silence only)")
    channels = [resample_channel(data[:, c], rate) for c in range(n_channels)]
    del data
    n = min(len(x) for x in channels)
    return DecodedAudio(str(path), tuple(x[:n] for x in channels), rate, file_sha256(path))


#: a two-channel leg whose channels differ by less than this (RMS, relative: 30 dB) is mono
_SAME_SIGNAL_RATIO = 10 ** (-30 / 20)


def _one_leg(path: Path, role: str) -> DecodedAudio:
    audio = load_audio(path)
    if len(audio.channels) == 2:
        left, right = audio.channels
        # a mono source written as two channels (a browser's Opus recording, some PBXs): the
        # same signal in both, up to the codec's error (measured: Chromium's differ ~75 dB
        # below the speech); two parties differ by far more
        signal = float(np.sqrt(np.mean(left ** 2) + 1e-20))
        diff = float(np.sqrt(np.mean((left - right) ** 2)))
        if diff > signal * _SAME_SIGNAL_RATIO:
            raise AudioError(str(path), f"stereo file given as the {role}'s leg: each leg of a "
                                        "two-file call must be mono (one party)")
        audio = DecodedAudio(audio.path, ((left + right) / 2,), audio.source_sample_rate,
                             audio.sha256)
    return audio


def load_legs(agent: str | Path, customer: str | Path, offset_s: float = 0.0) -> DecodedAudio:
    """One call from an agent file and a customer file (each mono, any format and rate).

    ``offset_s``: the customer's file starts this many seconds after the agent's (negative:
    before). Both legs are placed on one timeline starting with the earlier file and padded
    with silence to the same length; channel 0 is the agent's, channel 1 the customer's.
    The hash covers both files and the offset (the transcript cache key).

    Raises:
        AudioError: naming the file: missing, undecodable, empty or silent, or not mono.
    """
    if not np.isfinite(offset_s):
        raise AudioError(str(customer), f"offset {offset_s!r} is not a number of seconds")
    a, c = _one_leg(Path(agent), "agent"), _one_leg(Path(customer), "customer")
    shift = int(round(abs(offset_s) * SAMPLE_RATE))
    pad = np.zeros(shift, np.float32)
    agent_x, customer_x = a.channels[0], c.channels[0]
    if offset_s > 0:
        customer_x = np.concatenate([pad, customer_x])
    elif offset_s < 0:
        agent_x = np.concatenate([pad, agent_x])
    n = max(len(agent_x), len(customer_x))
    legs = tuple(np.pad(x, (0, n - len(x))) for x in (agent_x, customer_x))
    return DecodedAudio(f"{a.path}+{c.path}", legs,
                        min(a.source_sample_rate, c.source_sample_rate),
                        legs_sha256(a.sha256, c.sha256, offset_s))


def legs_sha256(agent_sha256: str, customer_sha256: str, offset_s: float) -> str:
    """The hash of a two-file call: both files' hashes and the offset."""
    return hashlib.sha256(f"{agent_sha256}+{customer_sha256}@{offset_s:.3f}".encode()).hexdigest()
