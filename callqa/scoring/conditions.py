"""``when:`` — when a rule applies to a call, one mechanism for every rule type.

A condition is an expression over the whole call and *both* parties' speech:

- ``{said: {speaker: customer, phrases: [..], regex: .., match: pinyin}}``: somebody said it
  (``speaker`` agent | customer | any, default any; matched as phrase rules match, word for
  word or by sound);
- ``{gave: {types: [phone, address], speaker: customer}}``: somebody said personal data of one
  of these types (``callqa.privacy.detect``) — by its kind, never its digits, so it holds on a
  transcript whatever way the number was written;
- ``{longer_than_s: 60}``: the call lasts longer than this;
- ``{all: [..]}``, ``{any: [..]}``, ``{not: ..}``: combinations (Alibaba SCA writes ``1&&2&&!3``);
- a name: a condition defined in the rulebook's ``conditions:`` block (defined before use).

A rule whose ``when`` is false for a call is *not applicable* to it: no finding, listed in the
result's ``not_applicable``. Findings stay about the agent: the customer's speech only decides
whether a rule applies (a complaint calls for an apology).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from callqa.privacy.detect import ENTITY_TYPES
from callqa.scoring.schema import (SPEAKER_SCOPES, Errors, PhraseSpec, choice, fields, line_of,
                                   num, regex_check, str_list)

if TYPE_CHECKING:
    from callqa.scoring.call import Call

__all__ = ["Condition", "Said", "Gave", "LongerThan", "Group", "Not", "Named", "parse_condition",
           "parse_conditions", "said_specs"]


@dataclass(frozen=True)
class Said:
    spec: PhraseSpec
    match: str = "exact"

    def holds(self, call: "Call") -> bool:
        return call.said(self.spec, self.match)

    def __str__(self) -> str:
        what = "|".join(self.spec.phrases) + (f"/{self.spec.regex.pattern}/"
                                               if self.spec.regex else "")
        return f"{self.spec.speaker or 'any'} said [{what}]"


@dataclass(frozen=True)
class Gave:
    """Somebody (``speaker``, None for either party) said personal data of one of ``types``."""

    types: tuple[str, ...]
    speaker: str | None = None

    def holds(self, call: "Call") -> bool:
        return any(e.type in self.types and self.speaker in (None, "any", e.speaker)
                   for e in call.entities)

    def __str__(self) -> str:
        return f"{self.speaker or 'any'} gave [{'|'.join(self.types)}]"


@dataclass(frozen=True)
class LongerThan:
    seconds: float

    def holds(self, call: "Call") -> bool:
        return call.t.duration > self.seconds

    def __str__(self) -> str:
        return f"call > {self.seconds:g} s"


@dataclass(frozen=True)
class Group:
    """``all`` or ``any`` of several conditions."""

    kind: str  # "all" | "any"
    parts: tuple["Condition", ...]

    def holds(self, call: "Call") -> bool:
        test = all if self.kind == "all" else any
        return test(p.holds(call) for p in self.parts)

    def __str__(self) -> str:
        return "(" + (" && " if self.kind == "all" else " || ").join(map(str, self.parts)) + ")"


@dataclass(frozen=True)
class Not:
    part: "Condition"

    def holds(self, call: "Call") -> bool:
        return not self.part.holds(call)

    def __str__(self) -> str:
        return f"!{self.part}"


@dataclass(frozen=True)
class Named:
    """A rulebook-defined condition, evaluated once per call whatever the number of rules using
    it."""

    name: str
    body: "Condition"

    def holds(self, call: "Call") -> bool:
        got = call.conditions.get(self.name)
        if got is None:
            got = call.conditions[self.name] = self.body.holds(call)
        return got

    def __str__(self) -> str:
        return self.name


Condition = Union[Said, Gave, LongerThan, Group, Not, Named]


def said_specs(cond: Condition) -> list[PhraseSpec]:
    """Every phrase list a condition listens for (registered with the tokeniser like rules')."""
    if isinstance(cond, Said):
        return [cond.spec]
    if isinstance(cond, Not):
        return said_specs(cond.part)
    if isinstance(cond, Named):
        return said_specs(cond.body)
    if isinstance(cond, Group):
        return [s for p in cond.parts for s in said_specs(p)]
    return []

# what a ``said`` condition may name: words or sounds, never meaning (a condition is evaluated
# before any rule, over every utterance)
_SAID = {"phrases": str_list, "regex": regex_check, "speaker": choice(*SPEAKER_SCOPES),
         "match": choice("exact", "pinyin")}
_GAVE = {"types": str_list, "speaker": choice(*SPEAKER_SCOPES)}
_KINDS = ("said", "gave", "longer_than_s", "all", "any", "not")


def parse_condition(value: Any, named: dict[str, Named], errors: Errors, line: int | None,
                    where: str) -> Condition | None:
    """Validate a condition expression; None (with errors added) when it is not one."""
    if isinstance(value, str):
        if value not in named:
            known = ", ".join(named) or "none defined"
            errors.add(f"{where}: unknown condition {value!r} (conditions: {known})", line)
            return None
        return named[value]
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _KINDS:
        errors.add(f"{where}: expected a condition name or one of "
                   f"{{{', '.join(_KINDS)}: ..}}", line_of(value) or line)
        return None
    kind, body = next(iter(value.items()))
    here, sub = line_of(value, kind) or line, f"{where}.{kind}"
    if kind == "said":
        got = fields(body, _SAID, (), errors, here, sub)
        if isinstance(body, dict) and not {"phrases", "regex"} & set(body):
            errors.add(f"{sub}: needs phrases or regex", here)
            return None
        spec = PhraseSpec(got.get("phrases") or (), got.get("regex"), got.get("speaker"))
        return None if spec.empty else Said(spec, got.get("match") or "exact")
    if kind == "gave":
        got = fields(body, _GAVE, ("types",), errors, here, sub)
        types = got.get("types")
        bad = [t for t in types or () if t not in ENTITY_TYPES]
        if bad:
            errors.add(f"{sub}.types: unknown entity type {bad[0]!r} "
                       f"(one of {', '.join(ENTITY_TYPES)})", here)
        return Gave(types, got.get("speaker")) if types and not bad else None
    if kind == "longer_than_s":
        seconds = num()(body, errors, here, sub)
        return None if seconds is None else LongerThan(seconds)
    if kind == "not":
        part = parse_condition(body, named, errors, here, sub)
        return None if part is None else Not(part)
    if not isinstance(body, list) or not body:
        errors.add(f"{sub}: expected a non-empty list of conditions", here)
        return None
    parts = [parse_condition(p, named, errors, line_of(p) or here, f"{sub}[{k}]")
             for k, p in enumerate(body)]
    if any(p is None for p in parts):
        return None
    return Group(kind, tuple(parts))


def parse_conditions(value: Any, errors: Errors, line: int | None) -> dict[str, Named]:
    """The rulebook's ``conditions:`` block: name → expression, each may use those before it."""
    named: dict[str, Named] = {}
    if value is None:
        return named
    if not isinstance(value, dict):
        errors.add("conditions: expected a mapping of name: condition", line)
        return named
    for name, body in value.items():
        got = parse_condition(body, named, errors, line_of(value, name), f"conditions.{name}")
        if got is not None:
            named[name] = Named(str(name), got)
    return named

