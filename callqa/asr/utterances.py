"""Words to utterances: each recognised word placed into the speech turn it belongs to.

Recogniser-independent: any backend's timed words go through the same placement.
"""

from __future__ import annotations

import bisect
from typing import Sequence

from callqa.text import normalize_match
from callqa.transcript import Interval, Utterance, Word

__all__ = ["join_words", "words_by_stretch", "words_to_utterances"]


def join_words(words: Sequence[str]) -> str:
    """Concatenate word texts: no spaces between Chinese words, one between Latin words."""
    out = ""
    for w in words:
        if out and w and out[-1].isascii() and out[-1].isalnum() and w[0].isascii() \
                and w[0].isalnum():
            out += " "
        out += w
    return out


def words_by_stretch(words: Sequence[Word], stretches: Sequence[Interval]) -> list[list[Word]]:
    """Each word into the stretch of speech its middle falls in (the nearest when none)."""
    out: list[list[Word]] = [[] for _ in stretches]
    if not stretches:
        return out
    starts = [iv.start for iv in stretches]
    for w in words:
        mid = (w.start + w.end) / 2
        i = max(0, bisect.bisect_right(starts, mid) - 1)
        if i + 1 < len(stretches) and mid > stretches[i].end \
                and stretches[i + 1].start - mid < mid - stretches[i].end:
            i += 1
        out[i].append(w)
    return out


def worded_speech(speaker: str, speech: Sequence[Interval], words: Sequence[Word]
                  ) -> tuple[list[Interval], list[dict]]:
    """The stretches of ``speech`` in which the recogniser kept a word, and a
    ``Transcript.dropped`` record (reason ``no_words``) for each of the others."""
    kept, dropped = [], []
    for iv, ws in zip(speech, words_by_stretch(words, speech)):
        if ws:
            kept.append(iv)
        else:
            dropped.append({"speaker": speaker, "start": iv.start, "end": iv.end, "text": "",
                            "reason": "no_words"})
    return kept, dropped


def _clamp(w: Word, iv: Interval) -> Word:
    start = min(max(w.start, iv.start), iv.end)
    end = min(max(w.end, start), iv.end)
    return w if (start, end) == (w.start, w.end) else Word(w.text, start, end, w.probability)


def _sounds(text: str) -> str:
    """Toneless pinyin of the words in ``text``: two hearings of one turn sound the same even
    where the characters differ."""
    from pypinyin import Style, lazy_pinyin

    return " ".join(lazy_pinyin(normalize_match(text), style=Style.NORMAL))


def _reclaim_stray_words(turns: Sequence[Interval], buckets: list[list[Word]]) -> None:
    """Give a turn that heard nothing the words Whisper aligned into the silence after it.

    Whisper's word times drift late after a pause: the 0.8 s 不知道 of one turn can be aligned
    into the silence just before the next turn and land there. Text order still places it:
    words that end before the next turn's speech starts, when the turn before heard no words
    at all, belong to that turn. They are spread over its span (their own times are wrong)."""
    for i in range(1, len(turns)):
        if not buckets[i]:
            continue
        ws = sorted(buckets[i], key=lambda w: (w.start, w.end))
        stray = [w for w in ws if w.end <= turns[i].start]
        if not stray:
            continue
        if buckets[i - 1]:
            # The turn before was heard on its own too (a re-decoded chunk): the stray words
            # are that turn heard a second time (不知到 there, 不知道 here), not new speech.
            said = _sounds("".join(w.text for w in buckets[i - 1]))
            if said.endswith(_sounds("".join(w.text for w in stray))):
                buckets[i] = ws[len(stray):]
            continue
        prev, n = turns[i - 1], len(stray)
        buckets[i - 1] = [Word(w.text, round(prev.start + prev.duration * k / n, 3),
                               round(prev.start + prev.duration * (k + 1) / n, 3), w.probability)
                          for k, w in enumerate(stray)]
        buckets[i] = ws[n:]


#: a run of this many words squeezed into one instant is text, not timed speech
_SQUEEZED_MIN = 3
#: how alike (by sound) the squeezed run and the timed words after it must be to be one hearing
_SAME_HEARING = 0.75


def _drop_second_hearing(ws: list[Word]) -> list[Word]:
    """Drop a run of words squeezed into one instant (start = end, all at the same time) when the
    timed words right after it say the same by sound.

    Whisper decodes a stretch with its context around it; text it aligned into that context is
    clamped onto the turn's edge. When the stretch itself was also heard, the squeezed run is
    the same sentence a second time (另外如果晚上或者中默… at 110.16 s, then 另外如果晚上或著周末…
    timed 110.16–118.9 s): kept, it doubles the turn's text and its speech rate."""
    out, i = [], 0
    while i < len(ws):
        j = i
        while j < len(ws) and ws[j].start == ws[j].end == ws[i].start:
            j += 1
        if j - i >= _SQUEEZED_MIN:
            run = normalize_match("".join(w.text for w in ws[i:j]))
            after, k = "", j
            while k < len(ws) and len(after) < len(run):
                after += normalize_match(ws[k].text)
                k += 1
            if run and _alike(_sounds(run), _sounds(after)) >= _SAME_HEARING:
                i = j
                continue
        out.extend(ws[i:max(j, i + 1)])
        i = max(j, i + 1)
    return out


def _alike(a: str, b: str) -> float:
    from difflib import SequenceMatcher

    return SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()


def words_to_utterances(words: Sequence[Word], turns: Sequence[Interval],
                        speaker: str) -> list[Utterance]:
    """Place each word into the turn its time span overlaps most (nearest turn when none),
    clamping its times into that turn.

    Turns keep their VAD start/end; turns that received no words (coughs, noise, dropped
    hallucinations) are left out — their speech still counts in ``Transcript.speech``.
    """
    if not turns:
        return []
    buckets: list[list[Word]] = [[] for _ in turns]
    for w in words:
        def score(iv: Interval) -> tuple[float, float]:
            overlap = min(w.end, iv.end) - max(w.start, iv.start)
            distance = max(iv.start - w.end, w.start - iv.end, 0.0)
            return (overlap, -distance)
        best = max(range(len(turns)), key=lambda i: score(turns[i]))
        buckets[best].append(w)
    _reclaim_stray_words(turns, buckets)
    utterances = []
    for iv, ws in zip(turns, buckets):
        if not ws:
            continue
        # Clamp into the turn: Whisper lets a turn's first word start in the silence (decoding
        # context) before it, and the VAD knows better when the speech began.
        ws = [_clamp(w, iv) for w in ws]
        ws.sort(key=lambda w: (w.start, w.end))
        ws = _drop_second_hearing(ws)
        text = join_words([w.text for w in ws])
        utterances.append(Utterance(speaker, round(iv.start, 3), round(iv.end, 3), text, tuple(ws)))
    return utterances
