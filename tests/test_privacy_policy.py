"""The ``privacy:`` section: defaults, every key, and FILE:LINE errors for malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest

from callqa.privacy.policy import (CONFIG_NAME, DEFAULT_POLICY, PolicyError, load_policy,
                                   parse_policy, policy_for)


def test_defaults_mask_numbers_in_exports_email_search_and_agents_view() -> None:
    numbers = {"phone", "id_number", "bank_card"}
    for place in ("exports", "email", "search", "agent_view", "review_pages"):
        assert DEFAULT_POLICY.masked(place) == numbers
    assert DEFAULT_POLICY.retention_days == 90
    assert DEFAULT_POLICY.original_roles == ("reviewer", "privacy")


def test_a_config_without_privacy_section_is_the_defaults() -> None:
    p = parse_policy("other: 1\n", "c.yaml")
    assert (p.mask, p.style, p.retention_days) == (DEFAULT_POLICY.mask, DEFAULT_POLICY.style, 90)


def test_every_key() -> None:
    p = parse_policy(
        "privacy:\n"
        "  mask:\n"
        "    exports: [phone, address, name]\n"
        "    review_pages: [id_number]\n"
        "  style: {phone: label}\n"
        "  original_roles: [agent, reviewer]\n"
        "  retention_days: 30\n"
        "  redact_audio: silence\n", "c.yaml")
    assert p.masked("exports") == {"phone", "address", "name"}
    assert p.masked("review_pages") == {"id_number"}
    assert p.masked("email") == DEFAULT_POLICY.masked("email")  # not named: the default
    assert p.style["phone"] == "label" and p.style["bank_card"] == "partial"
    assert (p.original_roles, p.retention_days, p.redact_audio, p.source) == (
        ("agent", "reviewer"), 30, "silence", "c.yaml")
    assert parse_policy("privacy:\n  retention_days: null\n").retention_days is None


@pytest.mark.parametrize("text,line,words", [
    ("privacy:\n  mask:\n    exports: [phone, passport]\n", 3, "unknown entity type 'passport'"),
    ("privacy:\n  mask:\n    printouts: [phone]\n", 3, "unknown place 'printouts'"),
    ("privacy:\n  mask: [phone]\n", 2, "privacy.mask must be a mapping"),
    ("privacy:\n  style:\n    phone: stars\n", 3, "style of phone must be one of"),
    ("privacy:\n  retention_days: 90d\n", 2, "retention_days must be a whole number"),
    ("privacy:\n  retention_days: 0\n", 2, "retention_days must be a whole number"),
    ("privacy:\n  original_roles: [boss]\n", 2, "original_roles must list roles"),
    ("privacy:\n  redact_audio: beep\n", 2, "redact_audio must be one of"),
    ("privacy:\n  masks: {}\n", 2, "unknown key 'masks'"),
    ("privacy: [1, 2]\n", 1, "privacy must be a mapping"),
    ("privacy:\n  mask: {exports: [phone]\n", 3, "invalid YAML"),
])
def test_malformed_is_file_line_error(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert words in str(err.value)
    assert err.value.exit_code == 2


def test_policy_for_finds_the_output_directorys_config(tmp_path: Path) -> None:
    assert policy_for(tmp_path) is DEFAULT_POLICY
    (tmp_path / CONFIG_NAME).write_text("privacy:\n  retention_days: 7\n", encoding="utf-8")
    assert policy_for(tmp_path).retention_days == 7
    other = tmp_path / "other.yaml"
    other.write_text("privacy:\n  retention_days: 8\n", encoding="utf-8")
    assert policy_for(tmp_path, other).retention_days == 8
    with pytest.raises(PolicyError, match="cannot read"):
        policy_for(tmp_path, tmp_path / "missing.yaml")
