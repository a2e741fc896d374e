"""A trainer's terminal view of one scored call, and what would have raised its score.

The timeline itself is :func:`callqa.report.text.timeline` (utterances with each finding printed
in place, with its suggestion and standard); this module adds the standard's recommended
phrasings (from the rulebook when at hand, else as the result recorded them when it was
scored), colour on a terminal, and the "what would have raised it" table that the review page
(:mod:`callqa.report.review`) shows too.

    imp = improvements(result, rulebook)
    [(i.rule_id, i.points_lost, i.score_if_followed) for i in imp.rules]
    # → [('FB01', 10.0, 95.0), ('GR01', 10.0, 95.0)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from callqa.labels import SPEAKER
from callqa.report.text import timeline
from callqa.result import CallResult, Finding

if TYPE_CHECKING:
    from rich.console import Console

    from callqa.scoring.rulebook import Rulebook

__all__ = [
    "Improvements",
    "RuleImpact",
    "explain_lines",
    "improvement_lines",
    "improvements",
    "pass_mark_of",
    "print_explain",
    "recommended",
]

DEFAULT_BASE = 100.0


@dataclass(frozen=True)
class RuleImpact:
    """What one failed rule cost the call.

    Attributes:
        rule_id, title, severity: the rule (title/severity from its findings).
        findings: how many findings it produced.
        points_lost: the sum of their deductions (after the rule's cap).
        score_if_followed: the score had this rule alone been followed.
        passes_if_followed: whether the call would then pass (score and vetoes).
        veto: the rule failed the call outright (一票否决).
    """

    rule_id: str
    title: str
    severity: str
    findings: int
    points_lost: float
    score_if_followed: float
    passes_if_followed: bool
    veto: bool


@dataclass(frozen=True)
class Improvements:
    """The score, the scale it is on, and the failed rules, costliest first.

    ``pass_mark`` is None when neither the rulebook nor the result records it; ``score`` is
    None for an unscored call.
    """

    score: float | None
    base: float
    pass_mark: float | None
    passed: bool
    rules: tuple[RuleImpact, ...]


def recommended(result: CallResult, rule_id: str,
                rulebook: "Rulebook | None" = None) -> list[str]:
    """The rule's recommended phrasings (``examples.good``): from ``rulebook`` when given, else
    as recorded in the result when it was scored."""
    if rulebook is not None:
        rule = rulebook.get(rule_id)
        return list(rule.recommended()) if rule else []
    return list((result.rulebook.get("examples") or {}).get(rule_id) or [])


def pass_mark_of(result: CallResult, rulebook: "Rulebook | None" = None) -> float | None:
    """The pass mark the call was judged against (the rulebook's, else the one recorded in
    the result; None for results scored before it was recorded)."""
    mark = rulebook.pass_mark if rulebook is not None else result.rulebook.get("pass_mark")
    return None if mark is None else float(mark)


def improvements(result: CallResult, rulebook: "Rulebook | None" = None) -> Improvements:
    """Per failed rule: the points it cost and the score had it been followed.

    The score is ``max(0, base - total deductions)``; following one rule gives its deductions
    back. Base and pass mark are the rulebook's, else those recorded in the result (base 100
    and no pass mark for results scored before they were recorded).
    """
    base = float(rulebook.base if rulebook else result.rulebook.get("base") or DEFAULT_BASE)
    pass_mark = pass_mark_of(result, rulebook)
    total = sum(f.deduction for f in result.findings)
    by_rule: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    impacts = []
    for rule_id, fs in by_rule.items():
        lost = sum(f.deduction for f in fs)
        score_if = round(max(0.0, base - (total - lost)), 1)
        other_veto = any(v != rule_id for v in result.vetoed)
        passes = pass_mark is not None and score_if >= pass_mark and not other_veto
        impacts.append(RuleImpact(
            rule_id=rule_id, title=fs[0].title, severity=fs[0].severity, findings=len(fs),
            points_lost=lost, score_if_followed=score_if, passes_if_followed=passes,
            veto=rule_id in result.vetoed,
        ))
    impacts.sort(key=lambda i: (not i.veto, -i.points_lost, i.rule_id))
    return Improvements(result.score, base, pass_mark, result.passed, tuple(impacts))


def improvement_lines(result: CallResult, rulebook: "Rulebook | None" = None) -> list[str]:
    """The "what would have raised it" section as plain lines."""
    if result.unscored:
        return [f"未评分：{result.unscored}"]
    imp = improvements(result, rulebook)
    verdict = "通过" if imp.passed else "不通过"
    mark = f"，及格线 {imp.pass_mark:g}" if imp.pass_mark is not None else ""
    lines = [f"得分 {imp.score:g} / {imp.base:g}{mark}：{verdict}"]
    if not imp.rules:
        lines.append("没有扣分项。")
        return lines
    if imp.pass_mark is not None and imp.score < imp.pass_mark:
        lines.append(f"距及格线还差 {imp.pass_mark - imp.score:g} 分。")
    lines.append("如何提高得分（遵守该条规则后的得分）:")
    for i in imp.rules:
        times = f" ×{i.findings}" if i.findings > 1 else ""
        flip = ""
        if i.passes_if_followed and not imp.passed:
            flip = "，即可通过"
        veto = "  一票否决：遵守此规则才可能通过" if i.veto else ""
        lines.append(f"  {i.rule_id} {i.title}{times}: 扣 {i.points_lost:g} 分 → "
                     f"{i.score_if_followed:g}{flip}{veto}")
    lines.append(f"  全部遵守 → {imp.base:g}")
    return lines


# Line kinds, for colouring: summary, note, agent, customer, finding, suggestion, standard,
# examples, heading, improvement, plain.
_FINDING = re.compile(r"^\s+⚠ ")
_SUGGESTION = re.compile(r"^\s+建议: ")
_STANDARD = re.compile(r"^\s+依据: ")


def explain_lines(result: CallResult,
                  rulebook: "Rulebook | None" = None) -> list[tuple[str, str, str]]:
    """``(kind, severity, text)`` lines: the timeline, then how the score could be raised.

    The timeline is :func:`callqa.report.text.timeline`'s, line for line; after each finding's
    standard comes the rule's recommended phrasings (``examples.good``) when the rulebook is
    known. Findings appear in the timeline in start order, which is how each ``⚠`` line is
    matched to its finding.
    """
    order = sorted(result.findings, key=lambda f: f.start)  # timeline()'s order (stable)
    out: list[tuple[str, str, str]] = []
    k = -1
    for n, line in enumerate(timeline(result).splitlines()):
        current = order[k] if 0 <= k < len(order) else None
        sev = current.severity if current else ""
        if n == 0:
            out.append(("summary", "", line))
        elif line.startswith("注: "):
            out.append(("note", "", line))
        elif _FINDING.match(line):
            k += 1
            sev = order[k].severity if k < len(order) else ""
            out.append(("finding", sev, line))
        elif _SUGGESTION.match(line):
            out.append(("suggestion", sev, line))
        elif _STANDARD.match(line):
            out.append(("standard", sev, line))
            good = [e for e in (recommended(result, current.rule_id, rulebook) if current else ())
                    if e != current.suggestion]
            if good:
                out.append(("examples", sev, "      标准话术: " + " / ".join(good)))
        else:
            _, _, rest = line.partition(" ")
            speaker = "customer" if rest.startswith(SPEAKER["customer"] + ":") else "agent"
            out.append((speaker, "", line))
    out.append(("plain", "", ""))
    imp = improvement_lines(result, rulebook)
    out.append(("heading", "", imp[0]))
    out += [("improvement", "", line) for line in imp[1:]]
    return out


_STYLE = {
    "summary": "bold", "note": "dim", "agent": "cyan", "customer": "yellow",
    "suggestion": "green", "standard": "dim", "examples": "green", "heading": "bold",
    "improvement": "", "plain": "",
}
_SEVERITY = {"critical": "bold white on red", "major": "bold red", "minor": "bold yellow"}


def _styled(lines: Iterable[tuple[str, str, str]]):
    from rich.text import Text

    for kind, sev, text in lines:
        if kind == "finding":
            yield Text(text, style=_SEVERITY.get(sev, "bold red"))
        elif kind in ("agent", "customer"):
            # "00:01.0–00:03.5 坐席: text": dim the times, colour the speaker label.
            times, _, rest = text.partition(" ")
            label, _, said = rest.partition(": ")
            yield Text.assemble((times + " ", "dim"), (label + ": ", f"bold {_STYLE[kind]}"), said)
        else:
            yield Text(text, style=_STYLE.get(kind, ""))


def print_explain(result: CallResult, rulebook: "Rulebook | None" = None,
                  console: "Console | None" = None) -> None:
    """Print the explain view: coloured with rich on a terminal, plain text otherwise."""
    from rich.console import Console

    console = console or Console(highlight=False)
    lines = explain_lines(result, rulebook)
    if not console.is_terminal:
        console.file.write("\n".join(text for _, _, text in lines) + "\n")
        console.file.flush()
        return
    for text in _styled(lines):
        console.print(text, soft_wrap=False, highlight=False)
