"""One rule of a rulebook, as the scorer reads it (parsed and validated by
:mod:`callqa.scoring.rulebook`; its type's behaviour in :mod:`callqa.scoring.ruletypes`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callqa.scoring.schema import PhraseSpec

__all__ = ["Rule"]


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
    when: Any = None  # a scoring.conditions.Condition: applies only to calls where this holds
    supersedes: tuple[str, ...] = ()  # rules whose finding on the same moment this one replaces
    #: the scoring.ruletypes.RuleType of ``type``, set by the parser (a rule is data; its type
    #: holds the behaviour)
    kind: Any = field(default=None, compare=False, repr=False)

    @property
    def standard(self) -> str:
        """The sentence enforced and where it is from: the document's title when the rulebook
        names it (``standards:``), else its file name."""
        return f"{self.standard_text}（《{self.standard_title}》）" if self.standard_title \
            else f"{self.standard_text}（{self.standard_file}）"

    def recommended(self) -> tuple[str, ...]:
        """The phrasings to recommend (标准话术): the good examples, except a prohibition's,
        which show allowed uses of the very words it forbids."""
        return self.examples_good if self.kind.recommends_examples else ()

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
        out = [self.examples(p.get("phrases", ()))]
        out += [self.examples(v.phrases, v) for v in p.values() if isinstance(v, PhraseSpec)]
        return [s for s in out if s]

    def semantic_speakers(self) -> set[str]:
        """Whose utterances this rule compares by meaning ("any": everybody's)."""
        p = self.params
        out = set()
        if self.examples(p.get("phrases", ())):
            out.add(self.speaker)
        out.update(v.speaker or self.speaker for v in p.values()
                   if isinstance(v, PhraseSpec) and self.examples(v.phrases, v))
        return out

    def needs_customer(self) -> bool:
        """Rules that cannot be judged without the customer's channel (mono recordings)."""
        return self.kind.needs_customer(self)

    def needs_two_tracks(self) -> bool:
        """Rules that need each party on its own track (not applicable on a mono recording)."""
        return self.kind.two_tracks

    def needs_roles(self) -> bool:
        """Rules that depend on who is the agent (not applicable when the roles are uncertain)."""
        return self.kind.needs_roles(self)
