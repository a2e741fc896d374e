"""Who said what on a mono recording: one voice or two, and which stretch is the agent's.

Many PBXs record both parties on one track. After the whole track has been recognised,
:func:`attribute` labels each stretch of speech (a VAD interval) agent or customer from three
kinds of evidence, combined in one Viterbi path over the stretches:

- turn structure: after a short pause the other party usually speaks; after a long one (a
  hold, dead air) either may;
- words: the agent addresses the caller as 您 and offers help, the caller speaks of 你们 (the
  company), their home and wishes (:data:`AGENT_CUES`, :data:`CUSTOMER_CUES`);
- voice: statistics of each stretch's voice (20 MFCCs over the telephone band, pitch;
  :func:`voice_features`) against each party's mean voice, trusted as far as the two groups
  actually sound different (``separation``: about 1 for one voice, higher for two).

A recording whose words do not show a second person and whose two groups sound alike is one
voice: the agent alone
(a trainee's own recording). Numpy only: no model, nothing downloaded. Measured in
docs/benchmarks.md ("Mono recordings").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from callqa.transcript import Interval

__all__ = ["AGENT_CUES", "CUSTOMER_CUES", "Attribution", "attribute", "text_cues",
           "voice_features"]

SAMPLE_RATE = 16000
_WIN, _HOP, _NFFT = 400, 160, 512  # 25 ms windows, 10 ms hop
_N_MELS, _N_MFCC = 32, 20
_BAND_HZ = (250.0, 3500.0)  # the telephone band: nothing outside it is the speaker's


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

def _kmeans2(z: np.ndarray, runs: int = 4) -> np.ndarray | None:
    """Two groups of rows of ``z`` (k-means, best of a few starts), or None."""
    rng = np.random.default_rng(0)
    best, best_cost = None, np.inf
    for run in range(runs):
        if run == 0:  # the extremes of the first principal direction
            p = z @ np.linalg.svd(z - z.mean(0), full_matrices=False)[2][0]
            centres = z[[np.argmin(p), np.argmax(p)]]
        else:
            centres = z[rng.choice(len(z), 2, replace=False)]
        for _ in range(30):
            d = ((z[:, None, :] - centres[None]) ** 2).sum(-1)
            labels = d.argmin(1)
            if labels.min() == labels.max():
                break
            centres = np.stack([z[labels == c].mean(0) for c in (0, 1)])
        cost = d.min(1).sum()
        if min((labels == 0).sum(), (labels == 1).sum()) >= 2 and cost < best_cost:
            best, best_cost = labels, cost
    return best


def _refine(z: np.ndarray, kept: list[int], path: np.ndarray, text_cost: np.ndarray,
            switch: np.ndarray, voice_weights: np.ndarray, iterations: int) -> np.ndarray:
    """Re-estimate each party's mean voice from the labels and re-label (Viterbi with text,
    structure and voice costs), until the labels settle."""
    n = len(path)
    for _ in range(iterations):
        lab = path[kept]
        if lab.min() == lab.max():
            break
        sep = _separation(z, lab)
        centres = np.stack([z[lab == c].mean(0) for c in (0, 1)])
        d = ((z[:, None, :] - centres[None]) ** 2).sum(-1)
        d = d - d.mean(1, keepdims=True)
        d = d / (np.abs(d).mean() + 1e-9)
        voice_cost = np.zeros((n, 2))
        # trust the voices as far as the two groups sound different (a little even when they
        # do not yet: a turn-structure error early in the call mixes the groups)
        voice_cost[kept] = d * voice_weights[:, None] * float(np.clip((sep - 1.0) / 2.0, 0.5,
                                                                      2.0))
        new = _smooth_switch(text_cost + voice_cost, switch)
        if np.array_equal(new, path):
            break
        path = new
    return path


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


#: Below this voice separation (on the labelling refined from the turn structure) and with no
#: customer words, a mono recording is one voice. Labels that do not follow the voice give about
#: 1 (the mean of squared t-statistics under the null). Kept low on purpose: a dialogue in one
#: voice (the 18 downmixed samples: one TTS voice for both parties, 1.3-5) must not become "the
#: agent alone", which would charge the agent with the customer's words; "uncertain" charges
#: nobody.
ONE_VOICE_MAX_SEPARATION = 1.2

#: The same with no cue word anywhere (a recording of other speech, or nothing recognised): the
#: voices alone must show two people. Measured on single voices with no words, refined from the
#: turn structure: 59 one-voice TTS tracks (samples/, ../shared/eval, bench/devcalls) 95th
#: percentile 4.2, one real voice (70 s) 3.0; two real voices found 7.4-110.
ONE_VOICE_MAX_SEPARATION_NO_WORDS = 5.0

#: Voices are clustered (k-means) as a second starting point only when the labelling from the
#: turn structure and words already shows two voices this far apart: on one voice (both parties
#: in one TTS voice) k-means finds groups that "sound different" (separation 16 on a call whose
#: turn-structure labelling shows 1.0) and its labelling would override words and structure.
KMEANS_MIN_SEPARATION = 3.0

#: Words that mark a turn as the agent's or the customer's in Mandarin service calls: the agent
#: addresses the caller as 您 and offers help; the caller speaks of 你们 (the company) and of
#: their own home and wishes. Measured on the 258 turns of samples/ and ../shared/eval: 您 is in
#: 74 % of agent turns and no customer turn, 你们 in 24 % of customer turns and no agent turn;
#: 我的 and 能不能 (added later, with bench/devcalls: 361 turns) in 12 customer turns, no agent's.
AGENT_CUES = ("您", "请问", "这里是", "客服", "工号", "稍等", "先生", "女士")
CUSTOMER_CUES = ("你们", "我想", "我要", "我家", "我们家", "谢谢", "我是", "我姓", "帮我", "给我",
                 "我的", "能不能")


def text_cues(text: str) -> tuple[int, int]:
    """(agent cues, customer cues) found in a turn's text."""
    from callqa.text import normalize_match

    t = normalize_match(text)
    return sum(c in t for c in AGENT_CUES), sum(c in t for c in CUSTOMER_CUES)


@dataclass(frozen=True)
class Attribution:
    """Who said each stretch of a mono recording (:func:`attribute`).

    Attributes:
        labels: per stretch, 0 = agent, 1 = customer.
        voices: 1 (the agent alone) or 2.
        confidence: how far the labels can be trusted (share of the stretches carrying a cue
            whose label agrees with it, the opening counting as the agent's, lowered when
            there are few such stretches).
        separation: how differently the two groups sound when labelled from the turn
            structure and words (mean squared t-statistic of the voice features between them:
            about 1 for one voice split in two); the evidence for two voices.
        reasons: the evidence, for the transcript's notes.
    """

    labels: tuple[int, ...]
    voices: int
    confidence: float
    separation: float
    reasons: tuple[str, ...]


def attribute(samples: np.ndarray, units: Sequence[Interval], texts: Sequence[str], *,
              hold_gap_s: float = 2.0, breath_gap_s: float = 0.2, text_weight: float = 3.0,
              voice_weight: float = 1.0, voice_full_s: float = 2.0, iterations: int = 4,
              min_cued: int = 3, min_stretches_alone: int = 4
              ) -> Attribution:
    """Label each stretch of a mono call agent (0) or customer (1).

    Three kinds of evidence, combined in one Viterbi path over the stretches:

    - turn structure: after a pause the other party usually speaks (a switch is cheaper than
      staying); after one under ``breath_gap_s`` (a breath) or over ``hold_gap_s`` (a hold,
      dead air) either may; a long stretch cut in parts stays with one speaker;
    - words: agent and customer cues (:data:`AGENT_CUES`, :data:`CUSTOMER_CUES`) in the
      stretch's recognised text;
    - voice: distance of the stretch's voice features to each party's mean voice, re-estimated
      from the current labels (weighted by how differently the two groups sound, and by the
      stretch's length up to ``voice_full_s``).

    One voice: the words do not show a second person (no customer words; or, in fewer than
    ``min_stretches_alone`` stretches, customer words without any agent words) and the two
    groups sound alike (:data:`ONE_VOICE_MAX_SEPARATION`; with no words at all, also no more
    different than random relabellings of the stretches make them).
    """
    n = len(units)
    if n == 0:
        return Attribution((), 1, 1.0, 0.0, ("no speech",))
    cues = np.array([text_cues(t) for t in texts], float).reshape(n, 2)
    gaps = np.array([0.0] + [units[i].start - units[i - 1].end for i in range(1, n)])
    # A pause under ``breath_gap_s`` is mostly a breath inside a turn, not a change of speaker
    # (42 downmixed calls: under 0.2 s 18 of 20 stay; 0.2-0.3 s 22 of 35 switch; above, 273 of
    # 284 switch): neither is cheaper there.
    switch = np.select([gaps < 1e-6, gaps >= hold_gap_s, gaps < breath_gap_s], [8.0, 0.0, 0.0],
                       -1.0)
    text_cost = np.zeros((n, 2))
    text_cost[:, 0] = text_weight * (cues[:, 1] - cues[:, 0])  # agent: cheap with agent cues
    text_cost[:, 1] = -text_cost[:, 0]
    text_cost[0, 1] += 1.0  # the agent answers the phone: the first words are likelier theirs

    feats, kept = [], []
    for i, iv in enumerate(units):
        f = voice_features(samples[int(iv.start * SAMPLE_RATE): int(iv.end * SAMPLE_RATE)])
        if f is not None:
            feats.append(f)
            kept.append(i)
    z = None
    if len(feats) >= 4:
        x = np.array(feats)
        z = (x - x.mean(0)) / (x.std(0) + 1e-9)

    structure = _smooth_switch(text_cost, switch)
    # a short stretch's voice statistics are noisy: its voice counts in proportion to its
    # length up to ``voice_full_s`` (at least a quarter)
    voice_weights = voice_weight * np.clip(
        np.array([units[i].duration for i in kept]) / voice_full_s, 0.25, 1.0)
    one_voice_max = ONE_VOICE_MAX_SEPARATION
    path, sep = structure, 0.0
    if z is not None:
        # Two starting points: the turn structure and words, and (where that labelling already
        # shows two voices) the two groups of voices closest together (k-means, oriented to
        # agree with it); the refined labelling whose groups sound most different wins.
        refined = [_refine(z, kept, structure, text_cost, switch, voice_weights, iterations)]
        km = (_kmeans2(z) if _separation(z, refined[0][kept]) >= KMEANS_MIN_SEPARATION
              else None)
        if km is not None:
            start = refined[0].copy()
            start[kept] = km if (km == refined[0][kept]).mean() >= 0.5 else 1 - km
            refined.append(_refine(z, kept, start, text_cost, switch, voice_weights, iterations))
        seps = [_separation(z, r[kept]) if r[kept].min() != r[kept].max() else 0.0
                for r in refined]
        best = int(np.argmax(seps))
        path, sep = refined[best], seps[best]
        # Whether there are two voices at all is judged on the labelling refined from the turn
        # structure only: k-means splits even one voice into groups that look different.
        structure_sep = seps[0]
        if not cues.any():  # no words to go on: only a clear difference of voices is two
            one_voice_max = ONE_VOICE_MAX_SEPARATION_NO_WORDS
    else:
        structure_sep = 0.0
    # Which group is the agent: the words say, else whoever answered (spoke first).
    votes = (np.where(path == 0, 1, -1) * (cues[:, 0] - cues[:, 1])).sum()
    if votes < 0 or (votes == 0 and path[0] == 1):
        path = 1 - path

    cued = (cues[:, 0] != cues[:, 1])
    says_agent = cues[:, 0] > cues[:, 1]
    agree = int(((path == 0) == says_agent)[cued].sum())
    n_cued = int(cued.sum())
    customer_cued = int((cues[:, 1] > cues[:, 0]).sum())
    agent_cued = int(says_agent.sum())
    reasons = [f"{n_cued} of {n} stretches carry agent/customer words, {agree} labelled "
               f"accordingly", f"voice difference {structure_sep:.2f} on the turn structure, "
               f"{sep:.2f} after refinement", f"{agent_cued / n:.0%} of stretches carry agent words"]
    # Customer words show a second person, unless the recording is too short to tell (a
    # stray 给我 in one sentence of a single voice is not a caller): then only beside the
    # agent's words. In doubt two voices: "uncertain" charges nobody, "single" charges the
    # agent with everything.
    two_by_words = customer_cued >= 1 and (agent_cued >= 1 or n >= min_stretches_alone)
    if not two_by_words and structure_sep < one_voice_max:
        return Attribution(tuple(0 for _ in range(n)), 1, 1.0, structure_sep,
                           tuple(reasons + ["one voice, and the words do not show a second person"]))
    # The recording starts when the agent picks up: an uncued first stretch labelled the
    # agent's is one more piece of evidence agreeing, labelled the customer's one disagreeing.
    if not cued[0]:
        n_cued += 1
        agree += int(path[0] == 0)
        reasons.append("the first speaker labelled the " + ("agent" if path[0] == 0 else
                                                            "customer, not the one answering"))
    confidence = (agree / n_cued if n_cued else 0.5) * min(1.0, n_cued / max(min_cued, 1))
    # stretches with no cue follow the turn structure (and the voice where it differs)
    uncued_share = 1 - cued.sum() / n
    if sep < 3.0:
        confidence *= 1 - 0.3 * uncued_share
    return Attribution(tuple(int(p) for p in path), 2, round(float(confidence), 3), structure_sep,
                       tuple(reasons))
