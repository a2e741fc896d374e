"""Rulebook loading and validation: YAML → typed :class:`Rule` records, errors as ``FILE:LINE``.

The schema lives here as data (``COMMON_KEYS`` and ``TYPE_KEYS``), so the validator, the docs
(``docs/rulebook.md``) and ``callqa rules check`` all speak of the same keys.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from callqa.errors import RulebookError
from callqa.result import CATEGORIES, SEVERITIES
from callqa.transcript import AGENT, CUSTOMER

__all__ = [
    "DEFAULT_RULEBOOK",
    "RULE_TYPES",
    "PhraseSpec",
    "Rule",
    "Rulebook",
    "load_rulebook",
    "parse_rulebook",
]

DEFAULT_RULEBOOK = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"

MATCH_MODES = ("exact", "pinyin", "semantic")
SPEAKER_SCOPES = (AGENT, CUSTOMER, "any")


# --------------------------------------------------------------------------- YAML with lines

class _LineDict(dict):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    mapping = _LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise RulebookError("", "mapping keys must be plain values",
                                line=key_node.start_mark.line + 1) from None
        if key in mapping:
            raise RulebookError("", f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(mapping: Any, key: Any = None) -> int | None:
    if isinstance(mapping, _LineDict):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line or None
    return None


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class PhraseSpec:
    """Something to listen for: whole-word phrases, a regex and/or example sentences matched by
    meaning (``semantic_examples`` at cosine ``threshold``; default: the rule's threshold),
    optionally by one speaker."""

    phrases: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    speaker: str | None = None
    followed_by_silence_s: float | None = None
    semantic_examples: tuple[str, ...] = ()
    threshold: float | None = None

    @property
    def empty(self) -> bool:
        return not self.phrases and self.regex is None and not self.semantic_examples


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    title: str
    category: str
    type: str
    speaker: str
    severity: str
    points: float
    message: str
    suggestion: str
    standard_file: str
    standard_text: str
    cap: float | None = None
    standard_title: str = ""   # the document's title, from the rulebook's ``standards:`` map
    veto: bool = False
    match: str = "exact"
    threshold: float | None = None  # cosine, for matching by meaning (semantic)
    enabled: bool = True
    description: str = ""
    examples_good: tuple[str, ...] = ()
    examples_bad: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    line: int | None = None

    @property
    def standard(self) -> str:
        """The sentence enforced and where it is from: the document's title when the rulebook
        names it (``standards:``), else its file name."""
        return f"{self.standard_text}（《{self.standard_title}》）" if self.standard_title \
            else f"{self.standard_text}（{self.standard_file}）"

    def literal(self, phrases: tuple[str, ...]) -> tuple[str, ...]:
        """The phrases matched word for word: none under ``match: semantic`` (they are examples)."""
        return () if self.match == "semantic" else phrases

    def examples(self, phrases: tuple[str, ...], spec: PhraseSpec | None = None
                 ) -> tuple[str, ...]:
        """The example sentences matched by meaning where ``phrases`` (of ``spec``, or of the
        rule itself) are listened for: ``semantic_examples``, plus the phrases themselves under
        ``match: semantic``."""
        extra = spec.semantic_examples if spec is not None else \
            self.params.get("semantic_examples", ())
        return (*phrases, *extra) if self.match == "semantic" else extra

    def semantic_sets(self) -> list[tuple[str, ...]]:
        """Every example set this rule matches by meaning (embedded once per scorer)."""
        p = self.params
        out = [self.examples(p.get("phrases", ())),
               self.examples(p.get("hold_phrases", ()))]
        out += [self.examples(v.phrases, v) for v in p.values() if isinstance(v, PhraseSpec)]
        return [s for s in out if s]

    def semantic_speakers(self) -> set[str]:
        """Whose utterances this rule compares by meaning ("any": everybody's)."""
        p = self.params
        out = set()
        if self.examples(p.get("phrases", ())):
            out.add(self.speaker)
        if self.examples(p.get("hold_phrases", ())):
            out.add(AGENT)
        out.update(v.speaker or self.speaker for v in p.values()
                   if isinstance(v, PhraseSpec) and self.examples(v.phrases, v))
        return out

    def needs_customer(self) -> bool:
        """Rules that cannot be judged without the customer's channel (mono recordings)."""
        if self.type in ("silence", "interruption"):
            return True
        if self.type == "response_latency":
            return self.params.get("max_first_response_s") is None
        return self.speaker == CUSTOMER


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

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id or r.name == rule_id), None)

    def only(self, rule_ids: list[str]) -> "Rulebook":
        return Rulebook(self.name, self.version, [r for r in self.rules if r.id in rule_ids],
                        self.base, self.pass_mark, self.description, self.vocabulary,
                        self.path, self.sha256)

    def phrases(self) -> set[str]:
        """Every literal phrase the rules listen for (registered with the tokeniser); example
        sentences matched by meaning are not words and are left out."""
        out: set[str] = set()
        for rule in self.rules:
            if rule.match == "semantic":
                continue
            for key, value in rule.params.items():
                if isinstance(value, PhraseSpec):
                    out.update(value.phrases)
                elif key != "semantic_examples" and isinstance(value, tuple) \
                        and all(isinstance(v, str) for v in value):
                    out.update(value)  # phrases, hold_phrases
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
                "examples": {r.id: list(r.examples_good) for r in self.rules if r.examples_good}}


# --------------------------------------------------------------------------- schema

class _Errors:
    """Collects every problem in one pass, so a user fixes a rulebook in one round."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[RulebookError] = []

    def add(self, message: str, line: int | None) -> None:
        self.items.append(RulebookError(self.source, message, line=line))


Check = Callable[[Any, _Errors, int | None, str], Any]


def _num(minimum: float = 0.0) -> Check:
    def check(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.add(f"{where}: expected a number, got {type(value).__name__}", line)
            return None
        if value < minimum or value != value:
            errors.add(f"{where}: must be >= {minimum}", line)
            return None
        return float(value)
    return check


def _int(minimum: int = 1) -> Check:
    def check(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.add(f"{where}: expected an integer, got {type(value).__name__}", line)
            return None
        if value < minimum:
            errors.add(f"{where}: must be >= {minimum}", line)
            return None
        return value
    return check


def _str(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
    if not isinstance(value, str) or not value.strip():
        errors.add(f"{where}: expected a non-empty string", line)
        return None
    return value


def _bool(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
    if not isinstance(value, bool):
        errors.add(f"{where}: expected true or false", line)
        return None
    return value


def _choice(*allowed: str) -> Check:
    def check(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
        if value not in allowed:
            errors.add(f"{where}: {value!r} is not one of {', '.join(allowed)}", line)
            return None
        return value
    return check


def _str_list(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errors.add(f"{where}: expected a list of non-empty strings", line)
        return None
    return tuple(value)


def _regex(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
    if not isinstance(value, str) or not value:
        errors.add(f"{where}: expected a regular expression string", line)
        return None
    try:
        return re.compile(value)
    except (re.error, RecursionError, OverflowError) as exc:
        errors.add(f"{where}: bad regex {value!r}: {exc}", line)
        return None


def _mapping(value: Any, errors: _Errors, line: int | None, where: str) -> bool:
    if not isinstance(value, dict):
        errors.add(f"{where}: expected a mapping", line)
        return False
    return True


def _fields(value: Any, schema: dict[str, Check], required: tuple[str, ...], errors: _Errors,
            line: int | None, where: str) -> dict[str, Any]:
    """Validate a mapping against ``schema``; unknown keys and missing required keys are errors."""
    out: dict[str, Any] = {}
    if not _mapping(value, errors, line, where):
        return out
    for key in value:
        if key not in schema:
            errors.add(f"{where}: unknown key {key!r} (allowed: {', '.join(schema)})",
                       _line_of(value, key))
    for key in required:
        if key not in value:
            errors.add(f"{where}: missing required key {key!r}", _line_of(value) or line)
    for key, check in schema.items():
        if key in value:
            out[key] = check(value[key], errors, _line_of(value, key), f"{where}.{key}")
    return out


def _threshold(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        errors.add(f"{where}: expected a cosine similarity (a number in (0, 1])", line)
        return None
    if not 0 < value <= 1:
        errors.add(f"{where}: must be in (0, 1] (a cosine similarity), got {value}", line)
        return None
    return float(value)


def _phrase_spec(with_speaker: bool) -> Check:
    schema: dict[str, Check] = {"phrases": _str_list, "regex": _regex,
                                "semantic_examples": _str_list, "threshold": _threshold}
    if with_speaker:
        schema["speaker"] = _choice(*SPEAKER_SCOPES)
        schema["followed_by_silence_s"] = _num()

    def check(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
        got = _fields(value, schema, (), errors, line, where)
        spec = PhraseSpec(got.get("phrases") or (), got.get("regex"), got.get("speaker"),
                          got.get("followed_by_silence_s"), got.get("semantic_examples") or (),
                          got.get("threshold"))
        if isinstance(value, dict) and not {"phrases", "regex", "semantic_examples"} & set(value):
            errors.add(f"{where}: needs phrases, regex or semantic_examples",
                       _line_of(value) or line)
        return spec
    return check


def _scope(value: Any, errors: _Errors, line: int | None, where: str) -> Any:
    if value == "anywhere":
        return ("anywhere", None)
    kinds = {"first_utterances": _int(1), "last_utterances": _int(1),
             "first_seconds": _num(), "last_seconds": _num()}
    if not isinstance(value, dict) or len(value) != 1:
        errors.add(f"{where}: expected 'anywhere' or one of {{{', '.join(kinds)}: N}}", line)
        return None
    got = _fields(value, kinds, (), errors, line, where)
    for kind, n in got.items():
        return (kind, n) if n is not None else None
    return None


COMMON_KEYS: dict[str, Check] = {
    "id": _str, "name": _str, "title": _str, "category": _choice(*CATEGORIES),
    "type": _str, "speaker": _choice(*SPEAKER_SCOPES), "severity": _choice(*SEVERITIES),
    "points": _num(), "cap": _num(), "veto": _bool, "match": _choice(*MATCH_MODES),
    "threshold": _threshold,
    "enabled": _bool, "description": _str, "message": _str, "suggestion": _str,
    "standard": lambda v, e, l, w: _fields(v, {"file": _str, "text": _str}, ("file", "text"),
                                           e, l, w),
    "examples": lambda v, e, l, w: _fields(v, {"good": _str_list, "bad": _str_list}, (),
                                           e, l, w),
}
REQUIRED_KEYS = ("id", "name", "title", "category", "type", "severity", "points", "message",
                 "suggestion", "standard")

# Per type: parameter schema, and the parameters a rule of that type must set.
TYPE_KEYS: dict[str, tuple[dict[str, Check], tuple[str, ...]]] = {
    "required_phrase": ({"phrases": _str_list, "regex": _regex, "mode": _choice("any", "all"),
                         "scope": _scope, "semantic_examples": _str_list}, ()),
    "forbidden_phrase": ({"phrases": _str_list, "regex": _regex,
                          "exceptions": _phrase_spec(False), "semantic_examples": _str_list},
                         ()),
    "silence": ({"max_gap_s": _num(), "hold_phrases": _str_list, "hold_max_s": _num(),
                 "hold_window_s": _num()}, ("max_gap_s",)),
    "interruption": ({"min_overlap_ms": _num(), "min_chars": _int(0), "grace_ms": _num(),
                      "exceptions": _phrase_spec(False)},
                     ("min_overlap_ms",)),
    "speech_rate": ({"min_cpm": _num(), "max_cpm": _num(),
                     "per": _choice("call", "utterance", "both"),
                     "min_utterance_s": _num()}, ()),
    "sequence": ({"trigger": _phrase_spec(True), "require": _phrase_spec(True),
                  "direction": _choice("before", "after"), "within_utterances": _int(0),
                  "within_s": _num()}, ("trigger", "require", "direction")),
    "response_latency": ({"max_first_response_s": _num(), "max_reply_s": _num(),
                          "hold_phrases": _str_list, "hold_window_s": _num()}, ()),
}
RULE_TYPES = tuple(TYPE_KEYS)


def _rule(raw: Any, errors: _Errors, line: int | None, index: int) -> Rule | None:
    where = f"rules[{index}]"
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        where = f"rule {raw['id']}"
    if not _mapping(raw, errors, line, where):
        return None
    rule_type = raw.get("type")
    if not isinstance(rule_type, str) or rule_type not in TYPE_KEYS:
        errors.add(f"{where}.type: {rule_type!r} is not one of {', '.join(RULE_TYPES)}",
                   _line_of(raw, "type") or _line_of(raw))
        return None
    params_schema, params_required = TYPE_KEYS[rule_type]
    n_before = len(errors.items)
    got = _fields(raw, {**COMMON_KEYS, **params_schema}, REQUIRED_KEYS + params_required,
                  errors, line, where)
    params = {k: got[k] for k in params_schema if got.get(k) is not None}
    _check_params(rule_type, params, raw, errors, where)
    _check_semantic(params, raw, got, errors, where)
    if got.get("veto") and got.get("severity") != "critical":
        errors.add(f"{where}.veto: only a critical rule can veto a call", _line_of(raw, "veto"))
    if len(errors.items) > n_before:
        return None
    standard, examples = got["standard"], got.get("examples") or {}
    return Rule(
        id=got["id"], name=got["name"], title=got["title"], category=got["category"],
        type=rule_type, speaker=got.get("speaker") or AGENT, severity=got["severity"],
        points=got["points"], cap=got.get("cap"), veto=bool(got.get("veto")),
        match=got.get("match") or "exact", threshold=got.get("threshold"), enabled=got.get("enabled", True) is not False,
        description=got.get("description") or "", message=got["message"],
        suggestion=got["suggestion"], standard_file=standard["file"],
        standard_text=standard["text"], examples_good=examples.get("good") or (),
        examples_bad=examples.get("bad") or (), params=params, line=_line_of(raw),
    )


def _check_params(rule_type: str, params: dict[str, Any], raw: dict, errors: _Errors,
                  where: str) -> None:
    """Cross-field checks a per-key schema cannot express."""
    line = _line_of(raw)
    if rule_type in ("required_phrase", "forbidden_phrase"):
        if not {"phrases", "regex", "semantic_examples"} & set(raw):
            errors.add(f"{where}: needs phrases, regex or semantic_examples", line)
    if rule_type == "speech_rate" and "min_cpm" not in raw and "max_cpm" not in raw:
        errors.add(f"{where}: needs min_cpm or max_cpm", line)
    if rule_type == "response_latency" and "max_first_response_s" not in raw \
            and "max_reply_s" not in raw:
        errors.add(f"{where}: needs max_first_response_s or max_reply_s", line)
    if rule_type == "sequence" and "within_utterances" not in raw and "within_s" not in raw:
        errors.add(f"{where}: needs within_utterances or within_s", line)


def _check_semantic(params: dict[str, Any], raw: dict, got: dict[str, Any], errors: _Errors,
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
        spec_line = _line_of(spec_raw) or _line_of(raw, key)
        if semantic or spec.semantic_examples:
            used = True
            if spec.threshold is None and rule_threshold is None:
                errors.add(f"{where}.{key}: matching by meaning needs a threshold (here or on "
                           f"the rule)", spec_line)
        elif spec.threshold is not None:
            errors.add(f"{where}.{key}.threshold: only with semantic_examples or "
                       f"match: semantic", _line_of(spec_raw, "threshold") or spec_line)
    if rule_threshold is None:
        if "semantic_examples" in raw:
            errors.add(f"{where}.semantic_examples: needs a threshold (cosine, e.g. 0.7)",
                       _line_of(raw, "semantic_examples"))
        elif semantic and {"phrases", "hold_phrases"} & set(raw):
            errors.add(f"{where}: match: semantic needs a threshold (cosine, e.g. 0.7)",
                       _line_of(raw, "match"))
    if "threshold" in raw and not used:
        errors.add(f"{where}.threshold: only with semantic_examples or match: semantic",
                   _line_of(raw, "threshold"))
    if semantic and params.get("mode") == "all":
        errors.add(f"{where}.mode: 'all' cannot be combined with match: semantic",
                   _line_of(raw, "mode"))


TOP_KEYS: dict[str, Check] = {
    "name": _str, "version": lambda v, e, l, w: v, "description": _str,
    "scoring": lambda v, e, l, w: _fields(v, {"base": _num(), "pass_mark": _num()}, (), e, l, w),
    "vocabulary": _str_list,
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
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
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
    errors = _Errors(source)
    got = _fields(data, TOP_KEYS, ("rules",), errors, 1, "rulebook")
    rules: list[Rule] = []
    seen: dict[str, int | None] = {}
    for i, raw in enumerate(got.get("rules") or []):
        rule = _rule(raw, errors, _line_of(data, "rules"), i)
        if rule is None:
            continue
        for key in (rule.id, rule.name):
            if key in seen:
                errors.add(f"rule {rule.id}: duplicate id or name {key!r} "
                           f"(first at line {seen[key]})", rule.line)
            seen[key] = rule.line
        rules.append(rule)
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
    )
    biased = rulebook.biased_hotwords(rulebook.vocabulary)
    if biased:
        word, phrase = biased[0]
        raise RulebookError(source, f"vocabulary: {word!r} contains {phrase!r}, a phrase the "
                                    f"rules check: biasing the ASR toward it would fake "
                                    f"compliance", line=_line_of(data, "vocabulary"))
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
