"""Rulebook loading and validation: YAML → typed :class:`Rule` records, errors as ``FILE:LINE``.

The keys every rule has live here (``COMMON_KEYS``); each type's parameters, their defaults and
checks live with the type (``callqa.scoring.ruletypes.RULE_TYPES``), and ``when:`` conditions in
``callqa.scoring.conditions`` — so the validator, the docs and ``callqa rules check`` all speak
of the same keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import yaml

from callqa.errors import RulebookError
from callqa.result import CATEGORIES, SEVERITIES
from callqa.scoring.conditions import (Condition, Named, parse_condition, parse_conditions,
                                       said_specs)
from callqa.scoring.rule import Rule
from callqa.scoring.ruletypes import RULE_TYPES, defaults
from callqa.scoring.schema import (MATCH_MODES, SPEAKER_SCOPES, Check, Errors, LineLoader,
                                   PhraseSpec, boolean, choice, fields, line_of, mapping, num,
                                   str_list, string, threshold)
from callqa.transcript import AGENT

__all__ = [
    "DEFAULT_RULEBOOK",
    "RULES_DIR",
    "RULE_TYPES",
    "PhraseSpec",
    "Condition",
    "Rule",
    "Rulebook",
    "load_rulebook",
    "parse_rulebook",
]

#: the packaged copy of rules/ (callqa/_rules links to it in a checkout; the wheel carries it)
RULES_DIR = Path(__file__).resolve().parents[1] / "_rules"
DEFAULT_RULEBOOK = RULES_DIR / "default.yaml"
#: default ``scoring.min_call_s``: a recording shorter than this is no conversation
MIN_CALL_S = 3.0


# --------------------------------------------------------------------------- records

@dataclass
class Rulebook:
    name: str
    version: Any
    rules: list[Rule]
    base: float = 100.0
    pass_mark: float = 80.0
    description: str = ""
    vocabulary: tuple[str, ...] = ()
    path: str = "<rulebook>"
    sha256: str = ""
    min_call_s: float = MIN_CALL_S  # shorter calls are not scored (a misdial, a hang-up)
    conditions: dict[str, Named] = field(default_factory=dict)  # named ``when:`` conditions

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id or r.name == rule_id), None)

    def only(self, rule_ids: list[str]) -> "Rulebook":
        return Rulebook(self.name, self.version, [r for r in self.rules if r.id in rule_ids],
                        self.base, self.pass_mark, self.description, self.vocabulary,
                        self.path, self.sha256, self.min_call_s, self.conditions)

    def phrases(self) -> set[str]:
        """Every literal phrase the rules listen for (registered with the tokeniser); example
        sentences matched by meaning are not words and are left out."""
        out: set[str] = set()
        conds = [*self.conditions.values(), *(r.when for r in self.rules if r.when is not None)]
        for cond in conds:
            for spec in said_specs(cond):
                out.update(spec.phrases)
        for rule in self.rules:
            if rule.match == "semantic":
                continue
            for key, value in rule.params.items():
                if isinstance(value, PhraseSpec):
                    out.update(value.phrases)
                elif key == "phrases":
                    out.update(value)
        return out

    def semantic_sets(self) -> list[tuple[str, ...]]:
        """Every example set matched by meaning; empty when no rule uses semantic matching
        (then the encoder is never loaded)."""
        return list(dict.fromkeys(s for rule in self.rules for s in rule.semantic_sets()))

    def semantic_speakers(self) -> frozenset[str] | None:
        """Whose utterances any rule compares by meaning; None: everybody's."""
        out = {s for rule in self.rules for s in rule.semantic_speakers()}
        return None if "any" in out else frozenset(out)

    def biased_hotwords(self, hotwords: Iterable[str]) -> list[tuple[str, str]]:
        """(hotword, rule phrase) pairs where a hotword holds a phrase some rule checks.

        Biasing the ASR toward a phrase a rule listens for would fake compliance (a hotword
        光明物业 makes 物业 — self-identification — easier to "hear"), so such hotwords are
        refused."""
        from callqa.text import normalize_match

        phrases = {normalize_match(p): p for p in self.phrases() if normalize_match(p)}
        pairs = []
        for word in hotwords:
            norm = normalize_match(word)
            pairs += [(word, p) for n, p in phrases.items() if norm and n in norm]
        return pairs

    def info(self) -> dict[str, Any]:
        """What a result records about its rulebook, so reports need not read it again: the
        scale and pass mark, and each rule's recommended phrasings (``examples.good``)."""
        return {"name": self.name, "version": self.version, "path": self.path,
                "sha256": self.sha256, "base": self.base, "pass_mark": self.pass_mark,
                "examples": {r.id: list(r.recommended()) for r in self.rules if r.recommended()}}


# --------------------------------------------------------------------------- schema

COMMON_KEYS: dict[str, Check] = {
    "id": string, "name": string, "title": string, "category": choice(*CATEGORIES),
    "type": string, "speaker": choice(*SPEAKER_SCOPES), "severity": choice(*SEVERITIES),
    "points": num(), "cap": num(), "veto": boolean, "match": choice(*MATCH_MODES),
    "threshold": threshold,
    "enabled": boolean, "description": string, "message": string, "suggestion": string,
    "standard": lambda v, e, l, w: fields(v, {"file": string, "text": string}, ("file", "text"),
                                          e, l, w),
    "examples": lambda v, e, l, w: fields(v, {"good": str_list, "bad": str_list}, (),
                                          e, l, w),
    "when": lambda v, e, l, w: v,  # parsed with the rulebook's named conditions, below
    "supersedes": str_list,
}
REQUIRED_KEYS = ("id", "name", "title", "category", "type", "severity", "points", "message",
                 "suggestion", "standard")


def _rule(raw: Any, named: dict, errors: Errors, line: int | None, index: int) -> Rule | None:
    where = f"rules[{index}]"
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        where = f"rule {raw['id']}"
    if not mapping(raw, errors, line, where):
        return None
    rule_type = raw.get("type")
    if not isinstance(rule_type, str) or rule_type not in RULE_TYPES:
        errors.add(f"{where}.type: {rule_type!r} is not one of {', '.join(RULE_TYPES)}",
                   line_of(raw, "type") or line_of(raw))
        return None
    kind = RULE_TYPES[rule_type]
    n_before = len(errors.items)
    params_schema = {k: p.check for k, p in kind.params.items()}
    required = tuple(k for k, p in kind.params.items() if p.required)
    got = fields(raw, {**COMMON_KEYS, **params_schema}, REQUIRED_KEYS + required,
                 errors, line, where)
    params = {**defaults(kind), **{k: got[k] for k in params_schema if got.get(k) is not None}}
    kind.validate(raw, errors, where)
    _check_semantic(params, raw, got, errors, where)
    if got.get("veto") and got.get("severity") != "critical":
        errors.add(f"{where}.veto: only a critical rule can veto a call", line_of(raw, "veto"))
    when = None
    if "when" in raw:
        when = parse_condition(raw["when"], named, errors, line_of(raw, "when"), f"{where}.when")
    if len(errors.items) > n_before:
        return None
    standard, examples = got["standard"], got.get("examples") or {}
    return Rule(
        id=got["id"], name=got["name"], title=got["title"], category=got["category"],
        type=rule_type, speaker=got.get("speaker") or AGENT, severity=got["severity"],
        points=got["points"], cap=got.get("cap"), veto=bool(got.get("veto")),
        match=got.get("match") or "exact", threshold=got.get("threshold"),
        enabled=got.get("enabled", True) is not False,
        description=got.get("description") or "", message=got["message"],
        suggestion=got["suggestion"], standard_file=standard["file"],
        standard_text=standard["text"], examples_good=examples.get("good") or (),
        examples_bad=examples.get("bad") or (), params=params, line=line_of(raw),
        when=when, supersedes=got.get("supersedes") or (), kind=RULE_TYPES[rule_type],
    )


def _check_semantic(params: dict[str, Any], raw: dict, got: dict[str, Any], errors: Errors,
                    where: str) -> None:
    """Matching by meaning needs a threshold wherever it is used, and a threshold means nothing
    without it; ``mode: all`` counts phrases one by one, which examples cannot do."""
    semantic = got.get("match") == "semantic"
    rule_threshold = raw.get("threshold")
    used = semantic or bool(params.get("semantic_examples"))
    for key, spec in params.items():
        if not isinstance(spec, PhraseSpec):
            continue
        spec_raw = raw.get(key)
        spec_line = line_of(spec_raw) or line_of(raw, key)
        if semantic or spec.semantic_examples:
            used = True
            if spec.threshold is None and rule_threshold is None:
                errors.add(f"{where}.{key}: matching by meaning needs a threshold (here or on "
                           f"the rule)", spec_line)
        elif spec.threshold is not None:
            errors.add(f"{where}.{key}.threshold: only with semantic_examples or "
                       f"match: semantic", line_of(spec_raw, "threshold") or spec_line)
    if rule_threshold is None:
        if "semantic_examples" in raw:
            errors.add(f"{where}.semantic_examples: needs a threshold (cosine, e.g. 0.7)",
                       line_of(raw, "semantic_examples"))
        elif semantic and "phrases" in raw:
            errors.add(f"{where}: match: semantic needs a threshold (cosine, e.g. 0.7)",
                       line_of(raw, "match"))
    if "threshold" in raw and not used:
        errors.add(f"{where}.threshold: only with semantic_examples or match: semantic",
                   line_of(raw, "threshold"))
    if semantic and params.get("mode") == "all":
        errors.add(f"{where}.mode: 'all' cannot be combined with match: semantic",
                   line_of(raw, "mode"))


TOP_KEYS: dict[str, Check] = {
    "name": string, "version": lambda v, e, l, w: v, "description": string,
    "scoring": lambda v, e, l, w: fields(v, {"base": num(), "pass_mark": num(),
                                             "min_call_s": num()}, (), e, l, w),
    "vocabulary": str_list,
    "conditions": lambda v, e, l, w: v,  # parsed by callqa.scoring.conditions
    # standard file name -> the document's title (shown as 依据 instead of the file name)
    "standards": lambda v, e, l, w: v if isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(t, str) for k, t in v.items())
    else e.add(f"{w}: expected a mapping of file name to title", l),
    "rules": lambda v, e, l, w: v if isinstance(v, list) else e.add(f"{w}: expected a list", l),
}


def parse_rulebook(text: str, source: str = "<rulebook>") -> Rulebook:
    """Parse and validate rulebook YAML; raise the first :class:`RulebookError` (all are in
    ``exc.errors``)."""
    try:
        data = yaml.load(text, Loader=LineLoader)  # noqa: S506 - SafeLoader subclass
    except RulebookError as exc:
        raise RulebookError(source, exc.message, line=exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RulebookError(source, f"invalid YAML: {problem}",
                            line=mark.line + 1 if mark else None) from None
    except (RecursionError, ValueError, OverflowError) as exc:
        # Pathological documents (deep nesting, huge numbers) are input errors too.
        raise RulebookError(source, f"invalid YAML: {type(exc).__name__}") from None
    errors = Errors(source)
    got = fields(data, TOP_KEYS, ("rules",), errors, 1, "rulebook")
    named = parse_conditions(got.get("conditions"), errors, line_of(data, "conditions"))
    rules: list[Rule] = []
    seen: dict[str, int | None] = {}
    for i, raw in enumerate(got.get("rules") or []):
        rule = _rule(raw, named, errors, line_of(data, "rules"), i)
        if rule is None:
            continue
        for key in (rule.id, rule.name):
            if key in seen:
                errors.add(f"rule {rule.id}: duplicate id or name {key!r} "
                           f"(first at line {seen[key]})", rule.line)
            seen[key] = rule.line
        rules.append(rule)
    ids = {r.id for r in rules}
    for rule in rules:
        for other in rule.supersedes:
            if other not in ids or other == rule.id:
                errors.add(f"rule {rule.id}.supersedes: no other rule {other!r}", rule.line)
    if errors.items:
        first = errors.items[0]
        exc = RulebookError(source, first.message, line=first.line)
        exc.errors = errors.items  # type: ignore[attr-defined]
        raise exc
    scoring = got.get("scoring") or {}
    titles = got.get("standards") or {}
    rules = [replace(r, standard_title=titles.get(r.standard_file, "")) for r in rules]
    rulebook = Rulebook(
        name=got.get("name") or Path(source).stem, version=got.get("version"),
        rules=[r for r in rules if r.enabled], base=scoring.get("base") or 100.0,
        pass_mark=scoring.get("pass_mark") if scoring.get("pass_mark") is not None else 80.0,
        description=got.get("description") or "", vocabulary=got.get("vocabulary") or (),
        path=source, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        min_call_s=scoring.get("min_call_s") if scoring.get("min_call_s") is not None
        else MIN_CALL_S, conditions=named,
    )
    biased = rulebook.biased_hotwords(rulebook.vocabulary)
    if biased:
        word, phrase = biased[0]
        raise RulebookError(source, f"vocabulary: {word!r} contains {phrase!r}, a phrase the "
                                    f"rules check: biasing the ASR toward it would fake "
                                    f"compliance", line=line_of(data, "vocabulary"))
    return rulebook


def load_rulebook(path: str | Path | None = None) -> Rulebook:
    path = Path(path) if path is not None else DEFAULT_RULEBOOK
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulebookError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RulebookError(str(path), "not UTF-8 text") from None
    return parse_rulebook(text, str(path))
