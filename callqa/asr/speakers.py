"""Who speaks when on a mono recording: one voice or two, and which speech is whose.

Many PBXs record both parties on one track. This stage takes the mono channel's speech
intervals (from VAD) and:

1. describes each stretch of speech (a VAD interval, long ones cut to ``max_unit_s``) by the
   statistics of its voice: mean and spread of 20 MFCCs over the telephone band, and the median
   and spread of its pitch (:func:`voice_features`);
2. labels the stretches with two speakers: first by the turn structure of a conversation
   (after a short pause the other party speaks; after a long one, such as a hold, either may),
   then refined by voice (a Viterbi path over the stretches whose costs are the distances to
   the two groups' mean voices), :func:`separate`;
3. measures how differently the two groups sound (``separation``). One voice split by turn
   structure gives two groups that sound alike (about 1): the recording is one voice, the
   agent alone. Two clearly different voices (``distinct``) make a split that can be trusted;
   two voices that sound alike (one TTS voice, say) make a split that follows the turn
   structure only, and the pipeline then marks the roles uncertain.

Measured (docs/benchmarks.md): the split is right where voices differ; where they do not,
one error in the turn structure (an interjection inside a pause) flips every later turn,
which is why such calls are never scored as if the roles were known.

Which speaker is the agent is decided after recognition (:func:`assign_roles`), from what each
says in the opening turns and who speaks first. Numpy only: no model, nothing downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from callqa.transcript import Interval

__all__ = ["Separation", "RoleDecision", "separate", "voice_features", "assign_roles",
           "AGENT_OPENING_CUES"]

SAMPLE_RATE = 16000
_WIN, _HOP, _NFFT = 400, 160, 512  # 25 ms windows, 10 ms hop
_N_MELS, _N_MFCC = 32, 20
_BAND_HZ = (250.0, 3500.0)  # the telephone band: nothing outside it is the speaker's


@dataclass(frozen=True)
class Separation:
    """The result of :func:`separate`.

    Attributes:
        voices: 1 or 2.
        speech: per speaker index (0 = the one who speaks first), that speaker's intervals.
        separation: how differently the two groups sound (mean squared t-statistic of the
            voice features between them: about 1 for one voice split in two).
        pieces: how many stretches of speech were compared.
        distinct: the two voices differ enough that the split follows the voice, not only the
            turn structure (``separation >= distinct_separation``).
    """

    voices: int
    speech: tuple[list[Interval], ...]
    separation: float
    pieces: int
    distinct: bool = False


def _mel_filters(n_mels: int = _N_MELS) -> np.ndarray:
    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    points = hz(np.linspace(mel(_BAND_HZ[0]), mel(_BAND_HZ[1]), n_mels + 2))
    bins = np.fft.rfftfreq(_NFFT, 1 / SAMPLE_RATE)
    fb = np.zeros((n_mels, len(bins)))
    for i in range(n_mels):
        lo, mid, hi = points[i: i + 3]
        fb[i] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return fb


_MEL = _mel_filters()
_DCT = np.cos(np.pi / _N_MELS * (np.arange(_N_MELS) + 0.5)[None, :]
              * np.arange(1, _N_MFCC + 1)[:, None])  # c1..c20: c0 (loudness) left out


def _frames(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    n = 1 + (len(x) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def _pitch(frames: np.ndarray) -> np.ndarray:
    """F0 in Hz per frame (autocorrelation, 70–400 Hz), NaN where unvoiced."""
    f = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(f * np.hanning(f.shape[1]), 2 * f.shape[1])
    ac = np.fft.irfft(np.abs(spec) ** 2)[:, : f.shape[1]]
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 70
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    strength = ac[np.arange(len(ac)), lag] / (ac[:, 0] + 1e-12)
    return np.where(strength > 0.45, SAMPLE_RATE / lag, np.nan)


def voice_features(x: np.ndarray) -> np.ndarray | None:
    """Voice statistics of one piece of speech (16 kHz), or None if it has too few voiced
    frames to describe a voice."""
    fr = _frames(x.astype(np.float64), _WIN, _HOP)
    power = np.abs(np.fft.rfft(fr * np.hamming(_WIN), _NFFT)) ** 2
    energy = power.sum(axis=1)
    loud = energy > energy.max() * 10 ** (-3.5)  # frames within 35 dB of the piece's loudest
    if loud.sum() < 20:
        return None
    logmel = np.log(power[loud] @ _MEL.T + 1e-10)
    mfcc = logmel @ _DCT.T
    mfcc -= 0  # channel effects are the same for both parties on one track: keep absolute
    f0 = _pitch(_frames(x.astype(np.float64), 640, _HOP))
    f0 = f0[: len(loud)][loud[: len(f0)]]
    voiced = f0[~np.isnan(f0)]
    if len(voiced) < 10:
        return None
    semitones = 12 * np.log2(voiced / 100.0)
    return np.concatenate([mfcc.mean(axis=0), mfcc.std(axis=0),
                           [np.median(semitones), np.percentile(semitones, 90)
                            - np.percentile(semitones, 10)]])


def _separation(z: np.ndarray, labels: np.ndarray) -> float:
    """Mean squared t-statistic of the features between the two groups: about 1 when the
    labels do not follow the voice, large when they do."""
    a, b = z[labels == 0], z[labels == 1]
    if len(a) < 2 or len(b) < 2:
        return 0.0
    t = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b)
                                         + 1e-9)
    return float((t ** 2).mean())

def _units(speech: Sequence[Interval], max_unit_s: float) -> list[Interval]:
    """Stretches of speech to label: VAD intervals, long ones cut into equal parts."""
    out = []
    for iv in speech:
        n = max(1, int(np.ceil(iv.duration / max_unit_s)))
        step = iv.duration / n
        out += [Interval(iv.start + i * step, iv.start + (i + 1) * step) for i in range(n)]
    return out


def separate(samples: np.ndarray, speech: Sequence[Interval], *, max_unit_s: float = 6.0,
             min_separation: float = 1.3, distinct_separation: float = 3.0,
             min_units: int = 4, hold_gap_s: float = 2.0, iterations: int = 6) -> Separation:
    """One voice or two in a mono channel's speech, and each voice's intervals.

    Units are the VAD intervals (cut to at most ``max_unit_s``). Labels start from the turn
    structure of a conversation (after a short pause the other party speaks; after a pause of
    ``hold_gap_s`` or more, such as a hold, either may) and are then refined by voice: two
    groups' centres from the current labels, each unit's distance to them as its cost, and a
    Viterbi path whose switches follow the same turn structure, repeated ``iterations`` times.
    ``separation`` is the distance between the two groups' mean voices over the units' spread.
    """
    units = _units(speech, max_unit_s)
    feats, kept = [], []
    for i, iv in enumerate(units):
        f = voice_features(samples[int(iv.start * SAMPLE_RATE): int(iv.end * SAMPLE_RATE)])
        if f is not None:
            feats.append(f)
            kept.append(i)
    if len(feats) < min_units:
        return Separation(1, (list(speech),), 0.0, len(feats))
    x = np.array(feats)
    z = (x - x.mean(0)) / (x.std(0) + 1e-9)
    gaps = np.array([0.0] + [units[i].start - units[i - 1].end for i in range(1, len(units))])
    contiguous = gaps < 1e-6  # a long interval cut in parts: same speaker
    # switch cost per boundary: negative = switching preferred
    switch = np.where(contiguous, 8.0, np.where(gaps >= hold_gap_s, 0.0, -1.0))
    path = np.cumsum(switch < 0) % 2  # pure turn alternation
    cost = np.zeros((len(units), 2))
    for _ in range(iterations):
        lab = path[kept]
        if lab.min() == lab.max():
            break
        centres = np.stack([z[lab == c].mean(0) for c in (0, 1)])
        d = ((z[:, None, :] - centres[None]) ** 2).sum(-1)
        d = d / (np.median(d) + 1e-9)
        cost[:] = 0.0
        cost[kept] = d
        new = _smooth_switch(cost, switch)
        if np.array_equal(new, path):
            break
        path = new
    lab = path[kept]
    sep = _separation(z, lab)
    if sep < min_separation:
        return Separation(1, (list(speech),), sep, len(feats))
    per: list[list[Interval]] = [[], []]
    for iv, s in zip(units, path):
        if per[s] and abs(per[s][-1].end - iv.start) < 1e-6:
            per[s][-1] = Interval(per[s][-1].start, iv.end)
        else:
            per[s].append(iv)
    if not per[0] or not per[1]:
        return Separation(1, (list(speech),), sep, len(feats))
    if per[1][0].start < per[0][0].start:
        per.reverse()
        path = 1 - path
    return Separation(2, (per[0], per[1]), sep, len(feats), sep >= distinct_separation)


def _smooth_switch(cost: np.ndarray, switch: np.ndarray) -> np.ndarray:
    """Viterbi over units: ``cost[i, s]`` of unit i being speaker s, ``switch[i]`` the cost of
    a change of speaker between units i-1 and i."""
    n = len(cost)
    acc = cost[0].copy()
    back = np.zeros((n, 2), int)
    for i in range(1, n):
        stay, move = acc, acc[::-1] + switch[i]
        back[i] = np.where(stay <= move, [0, 1], [1, 0])
        acc = np.minimum(stay, move) + cost[i]
    path = np.zeros(n, int)
    path[-1] = int(np.argmin(acc))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


#: What an agent says when answering, and a customer does not: self-identification and the
#: service offer. (您好 alone is not a cue: callers greet back.)
AGENT_OPENING_CUES = ("这里是", "客服", "工号", "为您服务", "有什么可以帮", "请问有什么",
                      "很高兴为您", "有什么需要")


@dataclass(frozen=True)
class RoleDecision:
    """Which separated speaker is the agent, how sure, and why."""

    agent: int
    confidence: float
    reasons: tuple[str, ...]


def assign_roles(opening_texts: Sequence[str], first_speaker: int = 0) -> RoleDecision:
    """Decide the agent among two speakers from their opening turns' text (speaker index →
    the text of that speaker's first turns) and who spoke first.

    Evidence: agent cues (:data:`AGENT_OPENING_CUES`) in a speaker's opening turns, and
    answering first (the agent picks up an inbound call). Agreement of both → confident;
    cues against the first speaker → the cues win with less confidence; neither → uncertain.
    """
    from callqa.text import normalize_match

    hits = [sum(c in normalize_match(t) for c in AGENT_OPENING_CUES) for t in opening_texts]
    reasons = [f"speaker {i}: {h} agent cue(s) in the opening turns" for i, h in enumerate(hits)]
    reasons.append(f"speaker {first_speaker} spoke first")
    if hits[0] == hits[1]:
        # no textual evidence either way: answering first is all there is
        return RoleDecision(first_speaker, 0.6 if hits[0] == 0 else 0.55, tuple(reasons))
    cued = int(np.argmax(hits))
    margin = abs(hits[0] - hits[1])
    if cued == first_speaker:
        return RoleDecision(cued, min(0.99, 0.85 + 0.05 * margin), tuple(reasons))
    return RoleDecision(cued, min(0.8, 0.6 + 0.1 * margin), tuple(reasons))
