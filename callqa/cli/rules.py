"""``callqa rules check|test|list|explain|docs``: tooling for rulebooks, like semgrep's."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from callqa.cli import app, fail
from callqa.errors import RulebookError
from callqa.scoring.rule import Rule
from callqa.scoring.rulebook import DEFAULT_RULEBOOK, Rulebook, load_rulebook

rules_app = typer.Typer(help="Validate, test and explain rulebooks.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

RulesOpt = typer.Option(None, "--rules", "-r", help="Rulebook YAML (default: rules/default.yaml).")


def _load(path: Optional[Path]) -> Rulebook:
    try:
        return load_rulebook(path)
    except RulebookError as exc:
        for err in getattr(exc, "errors", [exc]):
            typer.echo(str(err), err=True)
        raise typer.Exit(2) from None


@rules_app.command("check")
def check(file: Path = typer.Argument(DEFAULT_RULEBOOK, help="Rulebook YAML to validate.")) -> None:
    """Validate a rulebook: every problem as FILE:LINE: message; exit 2 if any."""
    rb = _load(file)
    typer.echo(f"{file}: ok ({len(rb.rules)} rules)")


@rules_app.command("test")
def test(
    tests_dir: Optional[Path] = typer.Argument(
        None, help="Directory of rule test cases (default: tests/ beside the rulebook)."),
    rules: Optional[Path] = RulesOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List passing cases too."),
) -> None:
    """Run rule test cases and rulebook examples; exit 1 if any case fails."""
    from callqa.scoring.ruletests import run_rule_tests

    rb = _load(rules)
    tests_dir = tests_dir or Path(rb.path).parent / "tests"
    try:
        results, problems = run_rule_tests(rb, tests_dir)
    except RulebookError as exc:
        raise fail(exc) from None
    failed = [r for r in results if not r.ok]
    for r in results:
        if verbose or not r.ok:
            mark = "ok  " if r.ok else "FAIL"
            typer.echo(f"{mark} {r.rule_id} {r.name}" + (f": {r.detail}" if r.detail else ""))
    for p in problems:
        typer.echo(f"FAIL {p}")
    typer.echo(f"{len(results) - len(failed)} passed, {len(failed) + len(problems)} failed")
    if failed or problems:
        raise typer.Exit(1)


@rules_app.command("list")
def list_rules(rules: Optional[Path] = RulesOpt) -> None:
    """One line per rule: id, name, type, severity, points, title."""
    rb = _load(rules)
    for r in rb.rules:
        cap = f" cap {r.cap:g}" if r.cap is not None else ""
        veto = " veto" if r.veto else ""
        typer.echo(f"{r.id:5} {r.name:32} {r.type:17} {r.severity:8} -{r.points:g}{cap}{veto}  "
                   f"{r.title}")


def describe(rule: Rule) -> str:
    params = ", ".join(f"{k}={_param(v)}" for k, v in rule.params.items())
    lines = [
        f"{rule.id} {rule.name} — {rule.title}",
        f"  类型 type: {rule.type} ({params})",
        f"  类别 category: {rule.category}   严重度 severity: {rule.severity}   "
        f"扣分 points: {rule.points:g}" + (f" (每通上限 {rule.cap:g})" if rule.cap is not None else "")
        + ("   一票否决 veto" if rule.veto else ""),
        f"  适用 speaker: {rule.speaker}   匹配 match: {rule.match}"
        + (f"   语义阈值 threshold: {rule.threshold:g}" if rule.threshold is not None else ""),
        f"  提示 message: {rule.message}",
        f"  建议说法 suggestion: {rule.suggestion}",
        f"  依据 standard: “{rule.standard_text}” （{rule.standard_file}）",
    ]
    if rule.when is not None:
        lines.append(f"  适用条件 when: {rule.when}")
    if rule.supersedes:
        lines.append(f"  同一事件优先于 supersedes: {', '.join(rule.supersedes)}")
    if rule.description:
        lines.append(f"  说明: {rule.description}")
    lines += [f"  ✓ 正例 good: {g}" for g in rule.examples_good]
    lines += [f"  ✗ 反例 bad: {b}" for b in rule.examples_bad]
    return "\n".join(lines)


def _param(value: object) -> str:
    from callqa.scoring.schema import PhraseSpec

    if isinstance(value, PhraseSpec):
        parts = list(value.phrases) + ([f"/{value.regex.pattern}/"] if value.regex else [])
        parts += [f"≈{e}" for e in value.semantic_examples]  # matched by meaning
        if value.threshold is not None:
            parts.append(f"≥{value.threshold:g}")
        parts += [f"≉{e}" for e in value.near_misses]
        return "[" + "|".join(parts) + "]" + ("?" if value.question else "") \
            + (f"@{value.speaker}" if value.speaker else "")
    if isinstance(value, tuple) and len(value) == 2 and value[0] in (
            "anywhere", "first_utterances", "last_utterances", "first_seconds", "last_seconds"):
        return value[0] if value[1] is None else f"{value[0]}:{value[1]:g}"  # a scope
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
        return "[" + "|".join(value) + "]"
    if hasattr(value, "pattern"):
        return f"/{value.pattern}/"  # type: ignore[attr-defined]
    return str(value)


@rules_app.command("explain")
def explain(rule_id: str = typer.Argument(..., help="Rule id (GR01) or name (greeting.opening)."),
            rules: Optional[Path] = RulesOpt) -> None:
    """What a rule checks, the standard it enforces, and good/bad examples."""
    rb = _load(rules)
    rule = rb.get(rule_id)
    if rule is None:
        typer.echo(f"callqa: error: {rb.path}: no rule {rule_id!r}", err=True)
        raise typer.Exit(2)
    typer.echo(describe(rule))


@rules_app.command("docs")
def docs(rules: Optional[Path] = RulesOpt,
         output: Optional[Path] = typer.Option(None, "-o", "--output",
                                               help="Write Markdown here instead of stdout."),
         types: bool = typer.Option(False, "--types",
                                    help="The rule-type reference (the section of "
                                         "docs/rulebook.md) instead of the rules.")) -> None:
    """Generate the rule reference (docs/rules.md) from the rulebook, or with --types the
    rule-type reference from the rule types themselves."""
    if types:
        from callqa.scoring.ruletypes import rule_types_markdown

        text = rule_types_markdown()
    else:
        text = rules_markdown(_load(rules))
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        typer.echo(text)


def rules_markdown(rb: Rulebook) -> str:
    """The rule reference (docs/rules.md) for a rulebook."""
    parts = [f"# 规则参考 Rule reference: {rb.name}\n",
             f"Generated by `callqa rules docs` from `{Path(rb.path).name}` "
             f"(sha256 {rb.sha256[:12]}). Base score {rb.base:g}, pass mark {rb.pass_mark:g}.\n"]
    for r in rb.rules:
        parts.append(f"## {r.id} `{r.name}` — {r.title}\n\n```\n{describe(r)}\n```\n")
    return "\n".join(parts)
