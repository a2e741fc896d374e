"""Decoding recordings into per-channel 16 kHz float32 arrays.

wav/flac (and anything else libsndfile reads) go through ``soundfile``, which reports the true
channel count and sample rate and reads them losslessly; other formats (ogg/mp3/m4a/...) go
through PyAV, the decoder faster-whisper itself uses. Resampling to 16 kHz uses libswresample
(via PyAV) for both, so 8 kHz telephone audio and 44.1 kHz recordings come out alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callqa.errors import AudioError

__all__ = ["SAMPLE_RATE", "DecodedAudio", "load_audio", "resample", "file_sha256"]

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
    import av

    n_channels = samples.shape[1]
    out = []
    for c in range(n_channels):  # channel by channel: any channel count, no layout guessing
        resampler = av.AudioResampler(format="flt", layout="mono", rate=target_hz)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, c], dtype=np.float32)[None, :],
            format="flt", layout="mono")
        frame.sample_rate = rate_hz
        pieces = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        out.append(np.concatenate(pieces) if pieces else np.zeros(0, np.float32))
    n = min(len(x) for x in out)
    return np.stack([x[:n] for x in out], axis=1).astype(np.float32, copy=False)


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
    resampled = resample(data, rate)
    channels = tuple(np.ascontiguousarray(resampled[:, c]) for c in range(n_channels))
    return DecodedAudio(str(path), channels, rate, file_sha256(path))
