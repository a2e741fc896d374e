"""The rulebook schema's building blocks: YAML that remembers lines, one-pass error collection,
value checks, and :class:`PhraseSpec` (something to listen for).

Rule types (``callqa.scoring.ruletypes``), conditions (``callqa.scoring.conditions``) and the
rulebook loader (``callqa.scoring.rulebook``) all validate with these, so every error reads
``FILE:LINE: where: message``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from callqa.errors import RulebookError
from callqa.transcript import AGENT, CUSTOMER

__all__ = ["Check", "Errors", "Param", "PhraseSpec", "MATCH_MODES", "SPEAKER_SCOPES", "LineLoader",
           "line_of", "fields", "num", "integer", "string", "boolean", "choice", "str_list",
           "regex_check", "mapping", "threshold", "fraction", "phrase_spec", "scope"]

MATCH_MODES = ("exact", "pinyin", "semantic")
SPEAKER_SCOPES = (AGENT, CUSTOMER, "any")


# --------------------------------------------------------------------------- YAML with lines

class _LineDict(dict):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> _LineDict:
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


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def line_of(mapping: Any, key: Any = None) -> int | None:
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
    optionally by one speaker.

    ``question``: a hit counts only in a clause that asks something (不知道您方便吗 is a polite
    question, 不知道你明天再打来吧 is not). ``near_misses``: sentences of the same words but another
    act; a span matched by meaning that is closer to one of them than to the examples is no hit
    (不是不是你听我说 is an interruption, not shirking)."""

    phrases: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    speaker: str | None = None
    followed_by_silence_s: float | None = None
    semantic_examples: tuple[str, ...] = ()
    threshold: float | None = None
    question: bool = False
    near_misses: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.phrases and self.regex is None and not self.semantic_examples


@dataclass(frozen=True)
class Param:
    """One parameter of a rule type: its value check, default, and the line the docs print."""

    check: "Check"
    doc: str
    default: Any = None
    required: bool = False


# --------------------------------------------------------------------------- value checks

class Errors:
    """Collects every problem in one pass, so a user fixes a rulebook in one round."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[RulebookError] = []

    def add(self, message: str, line: int | None) -> None:
        self.items.append(RulebookError(self.source, message, line=line))


Check = Callable[[Any, Errors, int | None, str], Any]


def num(minimum: float = 0.0) -> Check:
    def check(value: Any, errors: Errors, line: int | None, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.add(f"{where}: expected a number, got {type(value).__name__}", line)
            return None
        if value < minimum or value != value:
            errors.add(f"{where}: must be >= {minimum}", line)
            return None
        return float(value)
    return check


def integer(minimum: int = 1) -> Check:
    def check(value: Any, errors: Errors, line: int | None, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.add(f"{where}: expected an integer, got {type(value).__name__}", line)
            return None
        if value < minimum:
            errors.add(f"{where}: must be >= {minimum}", line)
            return None
        return value
    return check


def string(value: Any, errors: Errors, line: int | None, where: str) -> Any:
    if not isinstance(value, str) or not value.strip():
        errors.add(f"{where}: expected a non-empty string", line)
        return None
    return value


def boolean(value: Any, errors: Errors, line: int | None, where: str) -> Any:
    if not isinstance(value, bool):
        errors.add(f"{where}: expected true or false", line)
        return None
    return value


def choice(*allowed: str) -> Check:
    def check(value: Any, errors: Errors, line: int | None, where: str) -> Any:
        if value not in allowed:
            errors.add(f"{where}: {value!r} is not one of {', '.join(allowed)}", line)
            return None
        return value
    return check


def str_list(value: Any, errors: Errors, line: int | None, where: str) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errors.add(f"{where}: expected a list of non-empty strings", line)
        return None
    return tuple(value)


def regex_check(value: Any, errors: Errors, line: int | None, where: str) -> Any:
    if not isinstance(value, str) or not value:
        errors.add(f"{where}: expected a regular expression string", line)
        return None
    try:
        return re.compile(value)
    except (re.error, RecursionError, OverflowError) as exc:
        errors.add(f"{where}: bad regex {value!r}: {exc}", line)
        return None


def mapping(value: Any, errors: Errors, line: int | None, where: str) -> bool:
    if not isinstance(value, dict):
        errors.add(f"{where}: expected a mapping", line)
        return False
    return True


def fields(value: Any, schema: dict[str, Check], required: tuple[str, ...], errors: Errors,
            line: int | None, where: str) -> dict[str, Any]:
    """Validate a mapping against ``schema``; unknown keys and missing required keys are errors."""
    out: dict[str, Any] = {}
    if not mapping(value, errors, line, where):
        return out
    for key in value:
        if key not in schema:
            errors.add(f"{where}: unknown key {key!r} (allowed: {', '.join(schema)})",
                       line_of(value, key))
    for key in required:
        if key not in value:
            errors.add(f"{where}: missing required key {key!r}", line_of(value) or line)
    for key, check in schema.items():
        if key in value:
            out[key] = check(value[key], errors, line_of(value, key), f"{where}.{key}")
    return out


def threshold(value: Any, errors: Errors, line: int | None, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        errors.add(f"{where}: expected a cosine similarity (a number in (0, 1])", line)
        return None
    if not 0 < value <= 1:
        errors.add(f"{where}: must be in (0, 1] (a cosine similarity), got {value}", line)
        return None
    return float(value)


def fraction(value: Any, errors: Errors, line: int | None, where: str) -> Any:
    """A number in [0, 1] (a confidence)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        errors.add(f"{where}: expected a confidence between 0 and 1, got {value!r}", line)
        return None
    return float(value)


def phrase_spec(with_speaker: bool) -> Check:
    schema: dict[str, Check] = {"phrases": str_list, "regex": regex_check,
                                "semantic_examples": str_list, "threshold": threshold,
                                "question": boolean, "near_misses": str_list}
    if with_speaker:
        schema["speaker"] = choice(*SPEAKER_SCOPES)
        schema["followed_by_silence_s"] = num()

    def check(value: Any, errors: Errors, line: int | None, where: str) -> Any:
        got = fields(value, schema, (), errors, line, where)
        spec = PhraseSpec(got.get("phrases") or (), got.get("regex"), got.get("speaker"),
                          got.get("followed_by_silence_s"), got.get("semantic_examples") or (),
                          got.get("threshold"), bool(got.get("question")),
                          got.get("near_misses") or ())
        if isinstance(value, dict) and not {"phrases", "regex", "semantic_examples"} & set(value):
            errors.add(f"{where}: needs phrases, regex or semantic_examples",
                       line_of(value) or line)
        return spec
    return check


def scope(value: Any, errors: Errors, line: int | None, where: str) -> Any:
    if value == "anywhere":
        return ("anywhere", None)
    kinds = {"first_utterances": integer(1), "last_utterances": integer(1),
             "first_seconds": num(), "last_seconds": num()}
    if not isinstance(value, dict) or len(value) != 1:
        errors.add(f"{where}: expected 'anywhere' or one of {{{', '.join(kinds)}: N}}", line)
        return None
    got = fields(value, kinds, (), errors, line, where)
    for kind, n in got.items():
        return (kind, n) if n is not None else None
    return None


