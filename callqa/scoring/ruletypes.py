"""Rule types: each one unit — typed parameters with defaults and docs, validation, what it
needs, and the check — as a sqlfluff rule class holds its docstring, config and evaluation.

The rulebook schema (``callqa.scoring.rulebook``), the engine, ``callqa rules test`` and the
rule-type section of ``docs/rulebook.md`` (``callqa rules docs --types``) all derive from
:data:`RULE_TYPES`. Applicability (``when:``) is not a type's business: it is one mechanism for
every rule (``callqa.scoring.conditions``).
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

from callqa.privacy.detect import digit_runs
from callqa.scoring.call import Call, Violation, evidence
from callqa.scoring.confidence import (PARTIAL, PHRASE_ROOM_S, combine, crammed_factor,
                                       faint_factor, heard_factor, loop_factor, margin_factor,
                                       onset_factor, slot_factor, stacked_chars, stretch_factor,
                                       thin_factor, timing_factor, words_factor)
from callqa.scoring.matching import Hit
from callqa.scoring.schema import (Errors, Param, PhraseSpec, choice, integer, line_of, num,
                                   phrase_spec, regex_check, scope, str_list)
from callqa.text import count_chars
from callqa.transcript import AGENT, CUSTOMER, merge_intervals

if TYPE_CHECKING:
    from callqa.scoring.confidence import Confidence
    from callqa.scoring.rule import Rule

__all__ = ["RuleType", "RULE_TYPES", "rule_types_markdown"]


class RuleType:
    """Base class. A subclass sets ``name``, ``params`` and ``check``; its docstring is its doc."""

    name: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    #: each group: at least one of its parameters must be set
    one_of: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: the rule's good/bad examples are single utterances a rule test can score
    phrase_examples: ClassVar[bool] = False
    #: needs the customer's channel (mutual silence, overlap): not applicable on a mono recording
    two_party: ClassVar[bool] = False
    #: depends on who is the agent: not applicable when the roles are uncertain
    by_role: ClassVar[bool] = True
    #: needs each party on its own track (overlapping speech): not applicable on any mono
    #: recording, even one whose two voices were separated (one track cannot show who talked
    #: over whom)
    two_tracks: ClassVar[bool] = False
    #: the rule's good examples are phrasings to recommend (标准话术); a prohibition's good
    #: examples are allowed uses of its words (不知道您方便吗), which must not be recommended
    recommends_examples: ClassVar[bool] = True

    def needs_customer(self, rule: "Rule") -> bool:
        return self.two_party or rule.speaker == CUSTOMER

    def needs_roles(self, rule: "Rule") -> bool:
        return self.by_role

    def validate(self, raw: dict, errors: Errors, where: str) -> None:
        """Cross-field checks a per-key schema cannot express."""
        for group in self.one_of:
            if not set(group) & set(raw):
                errors.add(f"{where}: needs {' or '.join(group)}", line_of(raw))

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        """The type's section of docs/rulebook.md: its docstring and a parameter table."""
        lines = [f"### `{cls.name}`", "", inspect.cleandoc(cls.__doc__ or ""), ""]
        if cls.params:
            lines += ["| parameter | default | meaning |", "|---|---|---|"]
            for key, p in cls.params.items():
                shown = p.default[0] if isinstance(p.default, tuple) else p.default  # a scope
                default = "required" if p.required else ("—" if shown is None else f"`{shown}`")
                lines.append(f"| `{key}` | {default} | {p.doc} |")
            lines.append("")
        needs = [f"at least one of {', '.join(f'`{k}`' for k in g)}" for g in cls.one_of]
        if cls.two_tracks:
            needs.append("each party on its own track (not applicable on a mono recording, "
                         "even with its two voices separated: overlap is not visible on one "
                         "track)")
        elif cls.two_party:
            needs.append("both parties' speech (not applicable on a mono recording of one voice)")
        if not cls.by_role:
            needs.append("no roles: it applies even when the two voices could not be told apart")
        if needs:
            lines += ["Needs: " + "; ".join(needs) + ".", ""]
        return "\n".join(lines)


_PHRASES = Param(str_list, "phrases listened for, whole words")
_REGEX = Param(regex_check, "a regular expression over the display text, one more alternative")
_EXAMPLES = Param(str_list, "example sentences matched by meaning (needs `threshold`)")
_NEAR = Param(str_list, "near-miss sentences: a span closer to one of them than to the "
                        "examples is no hit")
_SCOPE = Param(scope, "where to listen: `anywhere`, `{first_utterances: N}`, "
                      "`{last_utterances: N}`, `{first_seconds: T}` or `{last_seconds: T}`",
               ("anywhere", None))
_HOLD = Param(phrase_spec(False), "what announces a hold (请您稍等, 我帮您查一下 …): "
                                  "`{phrases, regex}`")
_HOLD_WINDOW = Param(num(), "at most this much speech (seconds, the customer's 嗯，好 / 喂？) "
                                  "between the announcement and the silence", 15.0)


def _scope_indices(rule: "Rule", call: Call) -> list[int]:
    idx = call.indices(rule.speaker)
    kind, n = rule.params["scope"]
    if kind == "first_utterances":
        return idx[:n]
    if kind == "last_utterances":
        return idx[-n:]
    if kind == "first_seconds":
        return [i for i in idx if call.utts[i].start < n]
    if kind == "last_seconds":
        return [i for i in idx if call.utts[i].end > call.t.duration - n]
    return idx


class RequiredPhrase(RuleType):
    """A phrase `speaker` must say within `scope`: one finding when it is missing. In messages,
    `{phrase}` is the missing phrase(s)."""

    name = "required_phrase"
    params = {"phrases": _PHRASES, "regex": _REGEX,
              "mode": Param(choice("any", "all"), "`any`: one of them; `all`: each of them",
                            "any"),
              "scope": _SCOPE,
              "semantic_examples": _EXAMPLES, "near_misses": _NEAR,
              "partial": Param(phrase_spec(False), "`{phrases, regex}`: words that may stand "
                                                   "for the required ones but do not fulfil "
                                                   "them (已记下 for a read-back): the finding "
                                                   "stands, less sure"),
              "restates_digits": Param(integer(), "(mode `any`) also fulfilled when `speaker` "
                                                  "says again a run of this many digits or "
                                                  "more that the other party said before: a "
                                                  "room or a phone number read back (三栋二零一 "
                                                  "as 三洞二零一 — the digits survive where the "
                                                  "words around them are misheard)")}
    one_of = (("phrases", "regex", "semantic_examples"),)
    phrase_examples = True

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        idx = _scope_indices(rule, call)
        kind, n = rule.params["scope"]
        phrases, regex = rule.params.get("phrases", ()), rule.params.get("regex")
        missing: list[str] = []
        if rule.params["mode"] == "all":
            missing = [p for p in phrases
                       if not any(call.find(i, None, rule, (p,), bridge=True) for i in idx)]
            if regex is not None and not any(call.find(i, None, rule, (), regex) for i in idx):
                missing.append(regex.pattern)
        elif not any(call.find(i, None, rule, phrases, regex, bridge=True) for i in idx) \
                and not _restates_digits(call, idx, rule.speaker,
                                         rule.params.get("restates_digits")):
            missing = list(phrases) or list(rule.params.get("semantic_examples", ())) \
                or [regex.pattern]
        if not missing:
            return
        utts = [call.utts[i] for i in idx]
        if utts:
            start, end = utts[0].start, utts[-1].end
        elif kind in ("last_seconds", "last_utterances"):
            start, end = max(0.0, call.t.duration - (n or 0)), call.t.duration
        else:
            start, end = 0.0, min(call.t.duration, float(n or 0)) if kind == "first_seconds" \
                else 0.0
        partial: PhraseSpec | None = rule.params.get("partial")
        said = next((h for i in idx for h in (call.find(i, partial, rule) if partial else ())),
                    None)
        # speech the recogniser lost where the phrase belongs (the opening or the closing words,
        # a quiet turn written as one syllable) may have held it
        who = rule.speaker if rule.speaker in (AGENT, CUSTOMER) else None
        if kind in ("first_utterances", "first_seconds"):
            lost = call.unheard_s(0.0, utts[-1].end if utts else call.t.duration, who)
        elif kind in ("last_utterances", "last_seconds"):
            lost = call.unheard_s(utts[0].start if utts else 0.0, call.t.duration, who)
        else:  # anywhere: only a stretch long enough to have held the phrase
            lost = call.unheard_s(0.0, call.t.duration, who, min_piece_s=PHRASE_ROOM_S)
        matched = {"missing": missing, "scope": kind, "searched": len(utts)}
        if said is not None:
            matched["partial"] = said.heard
        # the opening words, where the phrase belongs, said before the detected start
        late = onset_factor(utts[0].words) if utts and kind in ("first_utterances",
                                                                  "first_seconds") else None
        yield Violation(start, end, evidence(utts) or "（无发言）", rule.speaker,
                        values={"phrase": "、".join(missing)}, matched=matched,
                        confidence=combine(words=words_factor(call.probabilities(idx)),
                                           unheard=heard_factor(lost),
                                           partial=PARTIAL if said is not None else None,
                                           onset=late))


def _restates_digits(call: Call, idx: list[int], speaker: str, n: int | None) -> bool:
    """Does one of utterances ``idx`` repeat ``n`` or more digits in a row that somebody other
    than ``speaker`` said before it?"""
    if not n or not idx:
        return False
    heard: list[str] = []  # the other party's digit runs so far
    mine = set(idx)
    for i, u in enumerate(call.utts):
        runs = digit_runs(u.text)
        if i in mine and any(run[k:k + n] in other for run in runs
                             for k in range(len(run) - n + 1) for other in heard):
            return True
        if u.speaker != speaker:
            heard += runs
    return False


class ForbiddenPhrase(RuleType):
    """A phrase `speaker` must not say. A hit is cancelled when an `exceptions` phrase overlaps
    it (不知道 inside 您知道不知道; with `question: true` only in a clause that asks something:
    不知道您方便吗, not 不知道你明天再打来吧) or the exception regex matches the utterance. Only
    `speaker`'s utterances within `scope` are searched. One utterance is at most one finding
    (every phrase heard in it is quoted); `cap` limits the total."""

    name = "forbidden_phrase"
    recommends_examples = False
    params = {"phrases": _PHRASES, "regex": _REGEX,
              "exceptions": Param(phrase_spec(False), "`{phrases, regex, question}`: what "
                                                      "excuses a hit"),
              "scope": _SCOPE, "semantic_examples": _EXAMPLES, "near_misses": _NEAR}
    one_of = (("phrases", "regex", "semantic_examples"),)
    phrase_examples = True

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        exc: PhraseSpec | None = rule.params.get("exceptions")
        for i in _scope_indices(rule, call):
            hits = call.find(i, None, rule, rule.params.get("phrases", ()),
                             rule.params.get("regex"))
            if hits and exc is not None:
                if exc.regex is not None and exc.regex.search(call.texts[i].display):
                    continue
                cancels = call.find(i, exc, rule, exc.phrases, tolerant=False)
                hits = [h for h in hits
                        if not any(c.begin < h.end and h.begin < c.end for c in cancels)]
            if not hits:
                continue
            start, end = call.hit_time(i, hits[0])[0], call.hit_time(i, hits[-1])[1]
            matched = call.matched(hits[0])
            if len(hits) > 1:
                matched["also"] = [call.matched(h) for h in hits[1:]]
            yield Violation(start, end, call.utts[i].text, call.utts[i].speaker,
                            values={"phrase": "、".join(dict.fromkeys(map(call.quote, hits)))},
                            matched=matched,
                            confidence=max((call.hit_confidence(i, h, rule) for h in hits),
                                           key=lambda c: c.value))


class Sequence(RuleType):
    """`trigger` must be preceded (`direction: before`) or followed (`after`) by `require`
    within `within_utterances` utterances (of anyone, the trigger's own included) and/or
    `within_s` seconds; an utterance's first trigger is judged (one utterance, one finding). The trigger may be the customer's (客户道谢 → 不客气): the finding is
    about whoever should have said `require` (the agent unless it names another speaker).
    `trigger.followed_by_silence_s`: the trigger only counts when that much silence follows it."""

    name = "sequence"
    params = {"trigger": Param(phrase_spec(True), "`{phrases, regex, semantic_examples, "
                                                  "speaker, followed_by_silence_s}`",
                               required=True),
              "require": Param(phrase_spec(True), "`{phrases, regex, semantic_examples, "
                                                  "speaker}`", required=True),
              "direction": Param(choice("before", "after"), "where `require` must be",
                                 required=True),
              "within_utterances": Param(integer(0), "how many utterances away"),
              "within_s": Param(num(), "how many seconds away")}
    one_of = (("within_utterances", "within_s"),)

    def needs_customer(self, rule: "Rule") -> bool:
        p = rule.params
        return CUSTOMER in (rule.speaker, p["trigger"].speaker, p["require"].speaker)

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        p = rule.params
        trigger, require = p["trigger"], p["require"]
        req_speaker = require.speaker or rule.speaker
        for i in call.indices(trigger.speaker or rule.speaker):
            # one utterance, one finding: 不行，我们不能帮您代收 is one refusal
            for hit in call.find(i, trigger, rule)[:1]:
                if trigger.followed_by_silence_s is not None and \
                        not call.silence_follows(i, trigger.followed_by_silence_s):
                    continue
                t_start, t_end = call.hit_time(i, hit)
                if self._required_near(call, rule, req_speaker, i, hit, t_start, t_end):
                    continue
                confidence = call.hit_confidence(i, hit, rule, trigger)
                if p["direction"] == "before" and req_speaker in ("any", call.utts[i].speaker) \
                        and call.background_voices(call.utts[i].speaker):
                    # the phrase belongs in the words opening the trigger's turn (an apology
                    # before the refusal)
                    confidence = combine(**confidence.basis,
                                         slot=slot_factor(call.span_words(i, 0, hit.begin)))
                yield Violation(t_start, t_end, call.utts[i].text,
                                req_speaker if req_speaker != "any" else AGENT,
                                values={"phrase": call.quote(hit), "trigger": hit.heard,
                                        "required": "、".join(require.phrases
                                                             or require.semantic_examples)},
                                matched=call.matched(hit),
                                confidence=confidence)

    @staticmethod
    def _required_near(call: Call, rule: "Rule", speaker: str, i: int, hit: Hit,
                       t_start: float, t_end: float) -> bool:
        p = rule.params
        require, before = p["require"], p["direction"] == "before"
        k, within_s = p.get("within_utterances"), p.get("within_s")
        # The trigger's own utterance counts: 对不起，这个不能办 has the apology before the refusal.
        if speaker in ("any", call.utts[i].speaker):
            for h in call.find(i, require, rule, bridge=True):
                if (h.end <= hit.begin) if before else (h.begin >= hit.end):
                    return True
        step = -1 if before else 1
        j, seen = i + step, 0
        while 0 <= j < len(call.utts):
            seen += 1
            u = call.utts[j]
            if k is not None and seen > k:
                break
            if within_s is not None and (t_start - u.end > within_s if before
                                         else u.start - t_end > within_s):
                break
            if speaker in ("any", u.speaker) and call.find(j, require, rule, bridge=True):
                return True
            j += step
        return False


class Silence(RuleType):
    """Dead air: a mutual silence of `max_gap_s` or more (measured on both parties' speech
    intervals, between the first and the last speech) that no hold announcement explains — one
    finding per silence. A silence after the agent's last words announced a hold (`hold`,
    within `hold_window_s`) is a hold, judged by `hold` rules instead."""

    name = "silence"
    params = {"max_gap_s": Param(num(), "shortest silence that is dead air, seconds",
                                 required=True),
              "hold": _HOLD, "hold_window_s": _HOLD_WINDOW}
    two_party = True
    by_role = False  # mutual silence needs no roles; announcements are then anyone's

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        p = rule.params
        for gap in call.gaps(p["max_gap_s"], p.get("hold"), p["hold_window_s"], rule):
            if gap.announced is not None:
                continue
            before = [u for u in call.utts if u.end <= gap.start + 0.05][-1:]
            yield Violation(gap.start, gap.end, evidence(before) or "（静音）", AGENT,
                            values={"gap_s": round(gap.duration, 1), "limit": p["max_gap_s"]},
                            matched={"gap_s": round(gap.duration, 2), "hold_announced": None},
                            confidence=silence_confidence(call, gap.start, gap.end,
                                                          gap.duration, p["max_gap_s"]))


class Hold(RuleType):
    """Hold etiquette: a mutual silence of `min_hold_s` or more after the agent announced a
    hold (`hold`) is a hold the customer waited through. With `thanks`, the agent must thank
    the customer for waiting (让您久等了) within `within_utterances` utterances after it, unless
    the agent's first words back announce more waiting (a check-back: 还在查，请您再稍等).
    With `max_hold_s`, a hold longer than that without a check-back is a finding. One finding
    per hold, at the announcement."""

    name = "hold"
    params = {"hold": Param(phrase_spec(False), _HOLD.doc, required=True),
              "hold_window_s": _HOLD_WINDOW,
              "min_hold_s": Param(num(), "shortest silence that is a hold, seconds", 5.0),
              "thanks": Param(phrase_spec(False), "`{phrases, regex}`: thanks for waiting"),
              "within_utterances": Param(integer(1), "utterances after the hold in which the "
                                                     "thanks must come", 3),
              "max_hold_s": Param(num(), "longest hold without a check-back, seconds")}
    one_of = (("thanks", "max_hold_s"),)
    two_party = True

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        p = rule.params
        judged: set[int] = set()
        for gap in call.gaps(p["min_hold_s"], p["hold"], p["hold_window_s"], rule):
            if gap.announced is None or gap.announced[0] in judged:
                continue  # a hold the customer broke with 喂？ is still one hold
            i, hit = gap.announced
            limit = p.get("max_hold_s")
            if limit is not None and gap.duration > limit:
                pass
            elif p.get("thanks") is None or self._thanked(rule, call, gap.end):
                continue
            judged.add(i)
            start, end = call.hit_time(i, hit)
            back = [j for j in call.indices(AGENT) if call.utts[j].start >= gap.end - 0.05]
            announced = call.hit_confidence(i, hit, rule, p["hold"])
            # a turn back written with a fraction of its words may have held the thanks
            thin = [f for f in (thin_factor(call.density_ratio(j))
                                for j in back[: p["within_utterances"]]) if f is not None]
            yield Violation(start, end, call.utts[i].text, AGENT,
                            values={"gap_s": round(gap.duration, 1), "limit": limit,
                                    "phrase": call.quote(hit)},
                            matched={**call.matched(hit), "hold_s": round(gap.duration, 2)},
                            confidence=combine(
                                **announced.basis,
                                margin=margin_factor(gap.duration, p["min_hold_s"],
                                                     p["min_hold_s"] * 0.5),
                                after=words_factor(call.probabilities(
                                    back[: p["within_utterances"]])),
                                thin=min(thin, default=None)))

    @staticmethod
    def _thanked(rule: "Rule", call: Call, resumed_at: float) -> bool:
        after = [j for j, u in enumerate(call.utts) if u.start >= resumed_at - 0.05]
        agent = [j for j in after[: rule.params["within_utterances"]]
                 if call.utts[j].speaker == AGENT]
        if not agent:
            return True  # nobody came back (the call ended): nothing to thank for yet
        if any(call.find(j, rule.params["thanks"], rule, bridge=True) for j in agent):
            return True
        return bool(call.find(agent[0], rule.params["hold"], rule))  # a check-back


def _words_span(u) -> tuple[float, float]:
    """From the first recognised word to the last (the turn's own times when it has none)."""
    if not u.words:
        return u.start, u.end
    return max(u.start, u.words[0].start), min(u.end, max(w.end for w in u.words))


class Interruption(RuleType):
    """The agent starts a real utterance while the customer is talking. Every agent utterance
    that starts inside a customer turn (at least `grace_ms` into it, while the customer's speech
    is heard) counts, not only the first per turn, when it overlaps the customer's speech by
    `min_overlap_ms` and has `min_chars` characters. Backchannels never count: an utterance made
    only of `backchannel_words` (嗯, 对, 好的 …), or shorter than `backchannel_max_s` whatever
    the ASR wrote (whisper writes a short 嗯 as 谢谢谢谢). The customer interrupting the agent
    never counts (a customer turn that began while the agent was talking, the agent's breaths
    under 1 s bridged). `exceptions`: an utterance holding one is excused (不好意思，打断一下).
    Overlap runs from the agent's first recognised word to the customer's last: a speech interval
    stretched by background voices or line noise is no interruption."""

    name = "interruption"
    params = {"min_overlap_ms": Param(num(), "overlap with the customer's speech, ms",
                                      required=True),
              "min_chars": Param(integer(0), "characters of a real utterance", 0),
              "grace_ms": Param(num(), "the customer must have been talking this long, ms", 0.0),
              "backchannel_words": Param(str_list, "words an utterance made only of is a "
                                                   "backchannel (嗯, 对, 好的 …)"),
              "backchannel_max_s": Param(num(), "an utterance this short is a backchannel", 0.0),
              "exceptions": Param(phrase_spec(False), "`{phrases, regex}`: what excuses it")}
    two_party = True
    two_tracks = True

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        p = rule.params
        min_overlap, grace = p["min_overlap_ms"] / 1000, p["grace_ms"] / 1000
        turns = [call.utts[j] for j in call.indices(CUSTOMER)]
        heard = call.t.speech.get(CUSTOMER, [])
        # the agent's talk with breaths (< 1 s) bridged: who was talking first
        talking = merge_intervals(call.t.speech.get(AGENT, []), gap_s=1.0)
        excused: PhraseSpec | None = p.get("exceptions")
        idx = call.indices(AGENT)
        for k, i in enumerate(idx):
            u = call.utts[i]
            if count_chars(u.text) < p["min_chars"] or self._backchannel(rule, call, i):
                continue
            # Each party from its first word to its last: a VAD interval can begin or end on
            # background voices or line noise the recogniser found no words in.
            start = _words_span(u)[0]
            turn = next((c for c in turns if c.start + grace <= start < c.end), None)
            if turn is None or not any(iv.start <= start < iv.end for iv in heard):
                continue  # not while the customer is talking (a pause in their turn is no cue)
            if any(a.start < turn.start and start < a.end for a in talking):
                continue  # the agent was already talking: the customer cut in on the agent
            said_from, said_to = _words_span(turn)
            end = min(u.end, said_to)
            overlap = sum(max(0.0, min(iv.end, end) - max(iv.start, start, said_from))
                          for iv in heard)
            if overlap < min_overlap:
                continue
            if excused is not None and call.find(i, excused, rule):
                continue
            # the overlap rests on the agent's words inside it: placed in time, not a loop —
            # also one running on through the agent's turns around it (每一天我都在看 twice
            # here, twice more in the next turn: babble decoded as one phrase again and again)
            inside = [w for w in u.words if w.start < end]
            around = [call.texts[j].norm for j in idx[max(0, k - 1): k + 2]]
            yield Violation(u.start, min(u.end, turn.end), u.text, AGENT,
                            values={"value": round(overlap, 1)},
                            matched={"overlap_s": round(overlap, 2), "customer_said": turn.text},
                            confidence=combine(
                                words=words_factor(w.probability for w in inside),
                                margin=margin_factor(overlap, min_overlap, 1.0),
                                timing=crammed_factor(inside),
                                loop=loop_factor(*around)))

    _words: dict[tuple[str, ...], re.Pattern[str]] = {}

    def _backchannel(self, rule: "Rule", call: Call, i: int) -> bool:
        if call.utts[i].duration < rule.params["backchannel_max_s"]:
            return True
        words: tuple[str, ...] = rule.params.get("backchannel_words", ())
        if not words:
            return False
        pattern = self._words.get(words)
        if pattern is None:
            # not tokeniser words (嗯, 好 and 是 registered as words would re-cut every sentence)
            alts = sorted({call.matcher.norm_phrase(w) for w in words}, key=len, reverse=True)
            pattern = self._words[words] = re.compile(
                "(?:" + "|".join(map(re.escape, alts)) + ")+")
        return pattern.fullmatch(call.texts[i].norm) is not None


class SpeechRate(RuleType):
    """Characters per minute of `speaker`'s speech outside `min_cpm`..`max_cpm`, per utterance
    of at least `min_utterance_s` and/or over the whole call (`per`)."""

    name = "speech_rate"
    params = {"min_cpm": Param(num(), "slowest acceptable rate"),
              "max_cpm": Param(num(), "fastest acceptable rate"),
              "per": Param(choice("call", "utterance", "both"), "what is rated", "both"),
              "min_utterance_s": Param(num(), "shorter turns are not rated alone", 3.0)}
    one_of = (("min_cpm", "max_cpm"),)

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        p = rule.params
        lo, hi, per = p.get("min_cpm"), p.get("max_cpm"), p["per"]
        idx = call.indices(rule.speaker)

        def judge(chars: int, seconds: float) -> tuple[float, float] | None:
            cpm = chars / seconds * 60
            if hi is not None and cpm > hi:
                return cpm, hi
            if lo is not None and cpm < lo:
                return cpm, lo
            return None

        if per in ("utterance", "both"):
            for i in idx:
                u = call.utts[i]
                if u.duration < p["min_utterance_s"]:
                    continue
                bad = judge(count_chars(u.text), u.duration)
                if bad:
                    yield Violation(u.start, u.end, u.text, u.speaker,
                                    values={"value": round(bad[0]), "limit": bad[1]},
                                    matched={"cpm": round(bad[0], 1), "scope": "utterance"},
                                    confidence=rate_confidence(call, [i], *bad))
        if per in ("call", "both") and idx:
            seconds = sum(call.utts[i].duration for i in idx)
            if seconds >= p["min_utterance_s"]:
                bad = judge(sum(count_chars(call.utts[i].text) for i in idx), seconds)
                if bad:
                    yield Violation(call.utts[idx[0]].start, call.utts[idx[-1]].end,
                                    f"全通话平均 {round(bad[0])} 字/分钟", rule.speaker,
                                    values={"value": round(bad[0]), "limit": bad[1]},
                                    matched={"cpm": round(bad[0], 1), "scope": "call"},
                                    confidence=rate_confidence(call, idx, *bad))


class ResponseLatency(RuleType):
    """`max_first_response_s`: from the start of the recording to the agent's first speech.
    `max_reply_s`: from the end of a customer utterance to the agent's reply (where the agent
    speaks next; needs both parties). A wait after an announced hold (`hold` in the agent's last
    words, within `hold_window_s`) is not a slow reply."""

    name = "response_latency"
    params = {"max_first_response_s": Param(num(), "seconds to the agent's first words"),
              "max_reply_s": Param(num(), "seconds from the customer's last word to the reply"),
              "hold": _HOLD, "hold_window_s": _HOLD_WINDOW}
    one_of = (("max_first_response_s", "max_reply_s"),)

    def needs_customer(self, rule: "Rule") -> bool:
        return rule.params.get("max_first_response_s") is None

    def check(self, rule: "Rule", call: Call) -> Iterator[Violation]:
        p = rule.params
        first_max = p.get("max_first_response_s")
        if first_max is not None:
            agent = call.t.speech.get(AGENT) or []
            first = agent[0].start if agent else None
            if first is None or first > first_max:
                end = first if first is not None else call.t.duration
                yield Violation(0.0, end, "（坐席未应答）" if first is None else "（开场静默）",
                                AGENT, values={"value": round(end, 1), "limit": first_max},
                                matched={"first_response_s": None if first is None
                                         else round(first, 2)},
                                confidence=combine(margin=margin_factor(end, first_max,
                                                                        first_max * 0.5)))
        reply_max = p.get("max_reply_s")
        if reply_max is None or CUSTOMER not in call.t.speakers:
            return
        for prev, nxt in zip(call.utts, call.utts[1:]):
            if prev.speaker != CUSTOMER or nxt.speaker != AGENT:
                continue
            wait = nxt.start - prev.end
            if wait <= reply_max:
                continue
            if p.get("hold") and call.announcement(prev.end, p["hold"], p["hold_window_s"],
                                                   rule):
                continue
            yield Violation(prev.end, nxt.start, prev.text, AGENT,
                            values={"value": round(wait, 1), "limit": reply_max},
                            matched={"reply_s": round(wait, 2)},
                            confidence=silence_confidence(call, prev.end, nxt.start, wait,
                                                          reply_max))


def silence_confidence(call: Call, start: float, end: float, seconds: float,
                       limit: float) -> "Confidence":
    """How sure a silence (or a wait) is: how far past its limit, and whether agent speech the
    recogniser lost lies just before it (an announcement 请您稍等 lost under background voices
    makes a hold look like dead air)."""
    return combine(margin=margin_factor(seconds, limit, limit * 0.5),
                   unheard=heard_factor(call.unheard_s(start - 3.0, end, AGENT)))


def rate_confidence(call: Call, indices: list[int], cpm: float, limit: float) -> "Confidence":
    """How sure a speech-rate finding is: how far past the limit (15 % past it is sure), how
    clearly the words counted were heard (misheard words are miscounted characters), whether
    they are a recogniser loop; for a rate too fast, whether it rests on words the recogniser
    stacked at one instant (counted in no time); and, for a rate too slow, whether the detector heard speech in
    the turn that the recogniser wrote no words for (a quiet turn under background voices
    written as one syllable is lost words, not a drawl)."""
    slow = cpm < limit
    lost = sum(call.unheard_s(call.utts[i].start, call.utts[i].end, call.utts[i].speaker)
               for i in indices) if slow else 0.0
    chars = sum(count_chars(call.utts[i].text) for i in indices)
    stacked = sum(stacked_chars(call.utts[i].words) for i in indices)
    seconds = chars / cpm * 60 if cpm else 0.0
    words = [w for i in indices for w in call.utts[i].words]
    return combine(words=words_factor(w.probability for w in words),
                   margin=margin_factor(cpm, limit, limit * 0.15),
                   loop=loop_factor(*(call.texts[i].norm for i in indices)),
                   timing=None if slow or not cpm else timing_factor(chars, seconds, stacked,
                                                                      limit),
                   faint=None if slow or not cpm else faint_factor(words, chars, seconds, limit),
                   unheard=heard_factor(lost) if slow else None,
                   stretch=stretch_factor(words, seconds, limit) if slow else None)


RULE_TYPES: dict[str, RuleType] = {t.name: t() for t in (
    RequiredPhrase, ForbiddenPhrase, Sequence, Silence, Hold, Interruption, SpeechRate,
    ResponseLatency)}


def rule_types_markdown() -> str:
    """The rule-type section of docs/rulebook.md, generated from the types themselves."""
    return "\n".join(t.doc() for t in RULE_TYPES.values()).rstrip() + "\n"


def defaults(rule_type: RuleType) -> dict[str, Any]:
    return {k: p.default for k, p in rule_type.params.items() if p.default is not None}
