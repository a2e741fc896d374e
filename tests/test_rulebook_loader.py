"""Rulebook validation: FILE:LINE errors, exit code 2, and a fuzzed loader that only ever fails
cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from callqa.cli import app
from callqa.errors import RulebookError
from callqa.scoring import load_rulebook, parse_rulebook

MINI = Path(__file__).parent / "data" / "mini_rules.yaml"
runner = CliRunner()

RULE = """\
rules:
  - id: FB01
    name: forbidden.x
    title: 禁用语
    category: forbidden_phrase
    type: forbidden_phrase
    severity: major
    points: 5
    phrases: [不知道]
    message: m
    suggestion: s
    standard: {file: f.txt, text: t}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(RulebookError) as info:
        parse_rulebook(text, "book.yaml")
    return [str(e) for e in getattr(info.value, "errors", [info.value])]


def test_valid_minimal_rulebook_loads_with_defaults():
    rb = parse_rulebook(RULE, "book.yaml")
    assert (rb.base, rb.pass_mark, rb.rules[0].speaker, rb.rules[0].match) == \
        (100.0, 80.0, "agent", "exact")


@pytest.mark.parametrize("old,new,expected", [
    ("    points: 5\n", "    points: 5\n    pointz: 3\n", "book.yaml:9: rule FB01: unknown key 'pointz'"),
    ("    points: 5\n", "    points: five\n", "book.yaml:8: rule FB01.points: expected a number"),
    ("    phrases: [不知道]\n", "    phrases: [不知道]\n    regex: '不知(道'\n",
     "book.yaml:10: rule FB01.regex: bad regex"),
    ("    severity: major\n", "    severity: fatal\n", "book.yaml:7: rule FB01.severity: 'fatal' is not one of"),
    ("    category: forbidden_phrase\n", "    category: rudeness\n", "book.yaml:5: rule FB01.category"),
    ("    type: forbidden_phrase\n", "    type: forbidden\n", "book.yaml:6: rule FB01.type: 'forbidden'"),
    ("    message: m\n", "", "book.yaml:2: rule FB01: missing required key 'message'"),
    ("    severity: major\n", "    severity: major\n    veto: true\n",
     "book.yaml:8: rule FB01.veto: only a critical rule can veto"),
    ("    phrases: [不知道]\n", "    phrases: [不知道]\n    phrases: [不在]\n",
     "book.yaml:10: duplicate key 'phrases'"),
    ("    phrases: [不知道]\n", "    phrases: [不知道\n", "book.yaml:"),
])
def test_errors_name_file_and_line(old, new, expected):
    text = RULE.replace(old, new, 1)
    assert any(e.startswith(expected) for e in errors_of(text)), errors_of(text)


def test_duplicate_ids_reported_with_both_lines():
    second = RULE.split("rules:\n", 1)[1].replace("forbidden.x", "forbidden.y")
    errs = errors_of(RULE + second)
    assert any("duplicate id or name 'FB01' (first at line 2)" in e for e in errs)


def test_all_errors_collected_in_one_pass():
    text = RULE.replace("points: 5", "points: -1").replace("severity: major", "severity: x")
    assert len(errors_of(text)) == 2


def test_rules_check_cli_exit_codes(tmp_path):
    ok = runner.invoke(app, ["rules", "check", str(MINI)])
    assert ok.exit_code == 0 and "ok (12 rules)" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULE.replace("points: 5", "points: 5\n    colour: red"), encoding="utf-8")
    res = runner.invoke(app, ["rules", "check", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:9: rule FB01: unknown key 'colour'" in res.output
    missing = runner.invoke(app, ["rules", "check", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml: cannot read" in missing.output


def test_rules_list_and_explain_cli():
    res = runner.invoke(app, ["rules", "list", "-r", str(MINI)])
    assert res.exit_code == 0 and res.output.count("\n") == 12
    res = runner.invoke(app, ["rules", "explain", "FB01", "-r", str(MINI)])
    assert res.exit_code == 0 and "对顾客忌用“不知道”" in res.output and "您知道不知道门牌号" in res.output
    res = runner.invoke(app, ["rules", "explain", "ZZ99", "-r", str(MINI)])
    assert res.exit_code == 2


# ---------------------------------------------------------------- fuzzing

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                         st.text(max_size=8))
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)),
    max_leaves=20,
)


def _mutations_of_valid() -> st.SearchStrategy[str]:
    """A valid rulebook with one key's value replaced by arbitrary data."""
    base = yaml.safe_load(MINI.read_text(encoding="utf-8"))

    @st.composite
    def build(draw):
        doc = yaml.safe_load(MINI.read_text(encoding="utf-8"))
        rule = draw(st.sampled_from(doc["rules"]))
        key = draw(st.sampled_from(sorted(rule) + ["extra"]))
        rule[key] = draw(yaml_values)
        return yaml.safe_dump(doc, allow_unicode=True)

    assert base
    return build()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), yaml_values.map(lambda v: yaml.safe_dump(v)),
                 _mutations_of_valid()))
def test_loader_fuzz_only_clean_errors(text):
    try:
        rb = parse_rulebook(text, "fuzz.yaml")
    except RulebookError as exc:
        assert str(exc).startswith("fuzz.yaml")
    else:
        assert all(r.id and r.type for r in rb.rules)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_loader_fuzz_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fz") / "r.yaml"
    path.write_bytes(data)
    try:
        load_rulebook(path)
    except RulebookError as exc:
        assert str(path) in str(exc)


def test_generated_rule_reference_is_current():
    """docs/rules.md is generated from rules/default.yaml; regenerate with `callqa rules docs
    -o docs/rules.md` after changing the rulebook."""
    from callqa.cli.rules import rules_markdown

    docs = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
    assert docs.read_text(encoding="utf-8") == rules_markdown(load_rulebook())


def test_vocabulary_must_not_hold_rule_phrases():
    """Hotwords bias the ASR; a hotword holding a phrase a rule checks would fake compliance."""
    text = "vocabulary: [滨海新区, 光明不知道小区]\n" + RULE
    errs = errors_of(text)
    assert errs[0].startswith("book.yaml:1: vocabulary: '光明不知道小区' contains '不知道'")
    rb = parse_rulebook("vocabulary: [滨海新区]\n" + RULE, "book.yaml")
    assert rb.vocabulary == ("滨海新区",)


def test_cli_refuses_hotwords_holding_rule_phrases(tmp_path):
    for cmd in (["score"], ["transcribe"]):
        res = runner.invoke(app, [*cmd, str(tmp_path / "any.wav"), "--hotwords", "滨海,光明物业"])
        assert res.exit_code == 2
        assert "--hotwords: '光明物业' contains '物业'" in res.output


def test_rule_type_section_of_rulebook_docs_is_generated():
    """docs/rulebook.md's rule-type section is `callqa rules docs --types` (from the types)."""
    from callqa.scoring.ruletypes import RULE_TYPES, rule_types_markdown

    docs = (Path(__file__).resolve().parents[1] / "docs" / "rulebook.md").read_text(encoding="utf-8")
    begin = "<!-- rule types: generated by `callqa rules docs --types` -->\n"
    section = docs[docs.index(begin) + len(begin): docs.index("<!-- end of rule types -->")]
    assert section == rule_types_markdown()
    for name, kind in RULE_TYPES.items():
        assert f"### `{name}`" in section
        assert all(f"| `{key}` |" in section for key in kind.params)
