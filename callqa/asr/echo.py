"""Line echo between the two tracks of a stereo call, removed before VAD.

On a telephone recording each party leaks faintly into the other's track: an attenuated
(typically −15…−30 dB), delayed (10–120 ms) copy. Silero hears that copy as speech, so without
this step the customer's words turn up in agent turns and every customer sentence makes a
phantom overlap.

Per direction (customer → agent track, agent → customer track):

1. :func:`estimate_echo` finds the delay with GCC-PHAT over the whole call (cross-spectrum
   averaged over 2 s blocks, so memory does not grow with the call) and the gain by least
   squares at that delay. The echo is accepted only when the correlation peak stands far out
   of its own noise (``min_peak_z``) and the gain is that of a leak (below ``max_gain_db``);
   two independent tracks give neither.
2. :func:`echo_frames` marks the 20 ms frames of the receiving track whose energy is no more
   than ``own_speech_db`` above the energy the echo path predicts from the source track: such
   a frame holds nothing but the copy. A frame where the receiving party really speaks (alone
   or over the other) is far louder than the predicted echo and is kept.
3. :func:`suppress_echo` mutes the marked frames (with a short ramp) so VAD and ASR never see
   them. Double talk keeps the faint echo under the real speech, which the ASR ignores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["EchoPath", "estimate_echo", "echo_frames", "suppress_echo", "FRAME_S"]

SAMPLE_RATE = 16000
FRAME_S = 0.02
_BLOCK = 1 << 15  # 2 s blocks for the averaged cross-spectrum
MAX_DELAY_S = 0.15  # the latest a line echo comes
_MAX_LAG = int(MAX_DELAY_S * SAMPLE_RATE)


@dataclass(frozen=True)
class EchoPath:
    """An echo of track ``source`` found on track ``target``.

    Attributes:
        delay_s: how late the copy is.
        gain_db: its level relative to the source (least squares at that delay).
        peak_z: how far the GCC-PHAT peak stands above the other lags (in their std devs).
    """

    source: int
    target: int
    delay_s: float
    gain_db: float
    peak_z: float

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _cross_spectrum(target: np.ndarray, source: np.ndarray, max_lag: int) -> np.ndarray:
    """The cross-spectrum of ``target`` against ``source``, summed over 2 s blocks. Its complex
    conjugate is that of ``source`` against ``target`` (to rounding: numpy multiplies complex
    numbers with fused multiply-adds), so one spectrum serves both directions of a call."""
    n = min(len(target), len(source))
    nfft = 2 * _BLOCK
    acc = np.zeros(nfft // 2 + 1, np.complex128)
    for start in range(0, max(1, n - max_lag), _BLOCK // 2):
        t = target[start:start + _BLOCK]
        s = source[start:start + _BLOCK]
        if len(t) < _BLOCK // 4 or not np.any(s) or not np.any(t):
            continue
        acc += np.fft.rfft(t, nfft) * np.conj(np.fft.rfft(s, nfft))
    return acc


def _gcc_phat(spectrum: np.ndarray, max_lag: int) -> np.ndarray:
    """PHAT-weighted cross-correlation for lags 0..max_lag (target late) from
    :func:`_cross_spectrum`."""
    weighted = spectrum / (np.abs(spectrum) + 1e-12)
    return np.fft.irfft(weighted, 2 * _BLOCK)[: max_lag + 1]


def estimate_echo(target: np.ndarray, source: np.ndarray, *, source_index: int = 1,
                  target_index: int = 0, min_delay_s: float = 0.004,
                  max_delay_s: float = MAX_DELAY_S,
                  min_peak_z: float = 8.0, max_gain_db: float = -6.0,
                  min_gain_db: float = -45.0, spectrum: np.ndarray | None = None
                  ) -> EchoPath | None:
    """The echo of ``source`` in ``target`` (both 16 kHz), or None when there is none.
    ``spectrum``: their :func:`_cross_spectrum`, when already computed."""
    max_lag = int(max_delay_s * SAMPLE_RATE)
    n = min(len(target), len(source))
    if n < 2 * max_lag or not np.any(source[:n]) or not np.any(target[:n]):
        return None
    if spectrum is None:
        spectrum = _cross_spectrum(target[:n], source[:n], max_lag)
    # Lags under ``min_delay_s`` are left out: a line echo is never that early, and tracks made
    # from one source (shared dither, a common noise floor) correlate at lag 0.
    min_lag = int(min_delay_s * SAMPLE_RATE)
    corr = _gcc_phat(spectrum, max_lag)[min_lag:]
    lag = min_lag + int(np.argmax(corr))
    others = np.delete(corr, np.arange(max(0, lag - min_lag - 8), min(len(corr), lag - min_lag + 9)))
    z = float((corr[lag - min_lag] - others.mean()) / (others.std() + 1e-12))
    if z < min_peak_z:
        return None
    cross = power = 0.0
    for start in range(0, n - lag, 1 << 20):  # in blocks: no full-length float64 copies
        s = source[start: min(n - lag, start + (1 << 20))].astype(np.float64)
        t = target[lag + start: lag + start + len(s)].astype(np.float64)
        cross += float(np.dot(t, s))
        power += float(np.dot(s, s))
    gain = cross / (power + 1e-12)
    if gain <= 0:
        return None
    gain_db = 20 * np.log10(gain)
    if not min_gain_db <= gain_db <= max_gain_db:
        return None  # inaudible, or not a leak (the same audio on both tracks, a bridged line)
    return EchoPath(source_index, target_index, lag / SAMPLE_RATE, float(gain_db), z)


def _frame_energy(x: np.ndarray, hop: int, n_frames: int, lag: int = 0) -> np.ndarray:
    """Mean square of each ``hop``-sample frame of ``x`` delayed by ``lag`` samples."""
    x = np.asarray(x, np.float32)
    out = np.zeros(n_frames)
    delayed = x[: max(0, n_frames * hop - lag)]
    first = lag // hop  # frames before the delayed signal starts stay 0 (or partly filled)
    skip = (hop - lag % hop) % hop
    if skip and first < n_frames:
        head = delayed[:skip].astype(np.float64)
        out[first] = float(np.dot(head, head)) / hop
        first += 1
    body = delayed[skip:]
    k = min(len(body) // hop, n_frames - first)
    if k > 0:
        frames = body[: k * hop].reshape(k, hop)
        out[first: first + k] = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop
    return out


def echo_frames(target: np.ndarray, source: np.ndarray, path: EchoPath,
                own_speech_db: float = 6.0) -> np.ndarray:
    """Boolean per ``FRAME_S`` frame of ``target``: True where it holds only the echo."""
    hop = int(FRAME_S * SAMPLE_RATE)
    n_frames = len(target) // hop
    lag = int(round(path.delay_s * SAMPLE_RATE))
    predicted = _frame_energy(source, hop, n_frames, lag) * 10 ** (path.gain_db / 10)
    own = _frame_energy(target, hop, n_frames)
    floor = np.percentile(own, 10) if n_frames else 0.0
    # A frame is echo when the echo is audible there (above the track's quiet floor) and the
    # track is not clearly louder than the echo alone.
    echo = (predicted > floor) & (own < predicted * 10 ** (own_speech_db / 10))
    # A frame of real speech next to echo frames keeps its neighbours (onsets, decays).
    keep = ~echo
    keep = keep | np.roll(keep, 1) | np.roll(keep, -1)
    return ~keep


def suppress_echo(channels: tuple[np.ndarray, ...] | list[np.ndarray]
                  ) -> tuple[tuple[np.ndarray, ...], list[EchoPath], dict[int, float]]:
    """Mute the echo-only frames of each track of a stereo call.

    Returns the cleaned channels (new arrays; a mono call or a track without echo is returned
    as is), the echo paths found, and per target track the share of its frames muted.
    """
    if len(channels) != 2:
        return tuple(channels), [], {}
    out = list(channels)
    paths, muted = [], {}
    n = min(len(channels[0]), len(channels[1]))
    spectrum = _cross_spectrum(channels[0][:n], channels[1][:n], _MAX_LAG)
    for target, source in ((0, 1), (1, 0)):
        path = estimate_echo(channels[target], channels[source], source_index=source,
                             target_index=target,
                             spectrum=spectrum if target == 0 else np.conj(spectrum))
        if path is None:
            continue
        mask = echo_frames(channels[target], channels[source], path)
        hop = int(FRAME_S * SAMPLE_RATE)
        gain = np.ones(len(channels[target]), np.float32)
        gain[: len(mask) * hop] = np.repeat((~mask).astype(np.float32), hop)
        ramp = np.ones(hop // 4, np.float32) / (hop // 4)  # 5 ms ramps: no clicks for VAD
        gain = np.convolve(gain, ramp, mode="same")
        gain *= channels[target]
        out[target] = gain
        paths.append(path)
        muted[target] = float(mask.mean())
    return tuple(out), paths, muted
