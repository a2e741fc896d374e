"""Masking personal data by policy, keeping the sentence readable.

Masked text keeps its shape: a phone number keeps its first three and last four digits
(``139****4567``), an ID number its first and last character, a card its last four digits, an
e-mail its first letter and domain; addresses and names become a label (``【地址】``). What is
masked and where is the policy's (:mod:`callqa.privacy.policy`); the entities come from
:mod:`callqa.privacy.detect`.

>>> redact_text("电话一三九零一二三四五六七，住三栋二单元五零二", {"phone", "address"})
'电话139****4567，住【地址】'
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

from callqa.privacy.policy import PrivacyPolicy
from callqa.privacy.detect import (ADDRESS, BANK_CARD, EMAIL, ID_NUMBER, NAME, PHONE, Entity,
                                   detect_text, detect_utterances, digits_of)
from callqa.result import CallResult, Finding
from callqa.transcript import Transcript, Utterance, Word

__all__ = ["LABELS", "mask", "redact_text", "redact_utterances", "redact_result",
           "redact_transcript", "redact_for", "redact_record"]

LABELS = {PHONE: "【手机号】", ID_NUMBER: "【身份证号】", BANK_CARD: "【银行卡号】", EMAIL: "【邮箱】",
          ADDRESS: "【地址】", NAME: "【姓名】"}
_DEFAULT_STYLE = {PHONE: "partial", ID_NUMBER: "partial", BANK_CARD: "partial", EMAIL: "partial",
                  ADDRESS: "label", NAME: "label"}


def mask(kind: str, text: str, style: str = "partial") -> str:
    """The masked form of one entity's text."""
    if style == "label" or kind in (ADDRESS, NAME):
        return LABELS[kind]
    if kind == EMAIL:
        local, _, domain = text.replace("＠", "@").partition("@")
        return (local[:1] + "***@" + domain.strip()) if domain else LABELS[EMAIL]
    d = digits_of(text)
    n = len(d)
    if kind == PHONE:
        return d[:3] + "*" * (n - 7) + d[-4:] if n >= 10 else "*" * (n - 4) + d[-4:]
    if kind == ID_NUMBER:
        return d[:1] + "*" * (n - 2) + d[-1:]
    return "*" * (n - 4) + d[-4:]  # a bank card keeps its last four digits


def _apply(text: str, spans: Iterable[tuple[str, int, int]], styles: Mapping[str, str]) -> str:
    for kind, a, b in sorted(spans, key=lambda s: s[1], reverse=True):
        text = text[:a] + mask(kind, text[a:b], styles.get(kind, "partial")) + text[b:]
    return text


def redact_text(text: str, types: Iterable[str], styles: Mapping[str, str] | None = None,
                also: Iterable[tuple[str, str]] = ()) -> str:
    """``text`` with the personal data of ``types`` masked: what the detector finds in it, and
    each ``(type, surface)`` of ``also`` (entities found in the utterances a quote was cut from,
    which a shorter quote may no longer show in context)."""
    types = set(types)
    styles = styles or _DEFAULT_STYLE
    if not types or not text:
        return text
    spans = [(k, a, b) for k, a, b, _ in detect_text(text) if k in types]
    for kind, surface in sorted(set(also), key=lambda s: -len(s[1])):
        if kind not in types or not surface.strip():
            continue
        at = text.find(surface)
        while at >= 0:
            end = at + len(surface)
            if all(end <= a or at >= b for _, a, b in spans):
                spans.append((kind, at, end))
            at = text.find(surface, end)
    return _apply(text, spans, styles)


def _mask_utterances(utterances: list[Utterance], entities: list[Entity], types: set[str],
                     styles: Mapping[str, str]) -> tuple[list[Utterance], list[Entity]]:
    """Utterances with the entities of ``types`` masked, and every entity re-pointed at the
    masked text (its characters there; a masked one's text is its mask)."""
    by_utt: dict[int, list[Entity]] = {}
    for e in entities:
        by_utt.setdefault(e.utterance, []).append(e)
    out_utts, out_ents = [], []
    for k, u in enumerate(utterances):
        ents = sorted(by_utt.get(k, ()), key=lambda e: e.char_start)
        if not any(e.type in types for e in ents):
            out_utts.append(u)
            out_ents += ents
            continue
        text, at = "", 0
        for e in ents:
            text += u.text[at:e.char_start]
            shown = mask(e.type, e.text, styles.get(e.type, "partial")) if e.type in types \
                else u.text[e.char_start:e.char_end]
            out_ents.append(dataclasses.replace(e, char_start=len(text),
                                                char_end=len(text) + len(shown), text=shown))
            text += shown
            at = max(at, e.char_end)
        text += u.text[at:]
        hidden = [e for e in ents if e.type in types]
        words = tuple(
            Word("*", w.start, w.end, w.probability)
            if any(w.start < e.end and w.end > e.start for e in hidden) else w
            for w in u.words)
        out_utts.append(dataclasses.replace(u, text=text, words=words))
    return out_utts, out_ents


def redact_utterances(utterances: list[Utterance], entities: list[Entity], types: Iterable[str],
                      styles: Mapping[str, str] | None = None) -> list[Utterance]:
    """The utterances with the entities of ``types`` masked in their text; the words inside a
    masked span lose their text too (a word-level view must not show what the line hides)."""
    return _mask_utterances(utterances, entities, set(types), styles or _DEFAULT_STYLE)[0]


def redact_result(result: CallResult, types: Iterable[str],
                  styles: Mapping[str, str] | None = None) -> CallResult:
    """A copy of ``result`` with the personal data of ``types`` masked in its utterances, the
    findings' evidence and messages, and its entity list. The scores, findings and their
    times are unchanged."""
    types = set(types)
    if not types:
        return result
    styles = styles or _DEFAULT_STYLE
    entities = result.entities if result.entities is not None \
        else detect_utterances(result.utterances)
    utterances, masked_entities = _mask_utterances(result.utterances, entities, types, styles)
    surfaces = [(e.type, e.text) for e in entities]
    findings = [_redact_finding(f, types, styles, surfaces) for f in result.findings]
    return dataclasses.replace(result, utterances=utterances, findings=findings,
                               entities=masked_entities)


def _redact_finding(f: Finding, types: set[str], styles: Mapping[str, str],
                    surfaces: list[tuple[str, str]]) -> Finding:
    return dataclasses.replace(
        f, evidence=redact_text(f.evidence, types, styles, surfaces),
        message=redact_text(f.message, types, styles, surfaces))


def redact_transcript(transcript: Transcript, types: Iterable[str],
                      styles: Mapping[str, str] | None = None) -> Transcript:
    """A copy of ``transcript`` with the personal data of ``types`` masked. It carries its
    entities (text masked), so scoring it still knows what kind of particulars were said."""
    types = set(types)
    styles = styles or _DEFAULT_STYLE
    entities = transcript.entities if transcript.entities is not None \
        else detect_utterances(transcript.utterances)
    utterances, masked = _mask_utterances(transcript.utterances, entities, types, styles)
    return dataclasses.replace(transcript, utterances=utterances, entities=masked)


def redact_for(result: CallResult, policy: PrivacyPolicy, place: str) -> CallResult:
    """``result`` as it may be shown at ``place`` (one of ``callqa.privacy.policy.PLACES``)."""
    return redact_result(result, policy.masked(place), policy.style)


def redact_record(record, fields: Iterable[str], types: Iterable[str],
                  styles: Mapping[str, str] | None = None,
                  also: Iterable[tuple[str, str]] = ()):
    """A copy of a dataclass record (a review, an appeal …) with its free-text ``fields`` masked:
    what people typed or copied about a call (a review keeps the finding's evidence)."""
    types, also = set(types), list(also)
    changes = {f: redact_text(getattr(record, f), types, styles, also) for f in fields
               if isinstance(getattr(record, f, None), str)}
    return dataclasses.replace(record, **changes) if types and changes else record
