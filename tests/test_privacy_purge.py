"""``callqa purge``: transcripts, review pages and cached transcripts of calls past retention
go; scores, findings (masked) and reviews stay; nothing to do is said; a running batch blocks."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callqa.asr.cache import cache_path
from callqa.batch.store import DB_NAME, Store, lock_output
from callqa.cli import app
from callqa.cli.purge import parse_age
from callqa.result import CallResult
from callqa.verdicts import ReviewStore, User

from privacy_helpers import CALLS, WRITTEN, build_batch, leaks, secrets

OLD_CALLS = (CALLS[0], WRITTEN)


def _day(days_ago: int) -> str:
    return (date.today() - timedelta(days=days_ago)).isoformat() + "T09:00:00"


@pytest.fixture()
def batch(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "out"
    results = build_batch(out, {c: _day(200) for c in OLD_CALLS})
    for name in CALLS:  # what callqa report and the transcript cache leave behind
        page = out / "review" / f"{name}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<audio src='data:audio/flac;base64,AAAA'>", "utf-8")
        entry = cache_path(None, f"key-{name}")
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text("{}", "utf-8")
    with ReviewStore.open(out / DB_NAME) as rs:
        qa = User("qa", "reviewer")
        rs.add_user("qa", "reviewer", "pw")
        for r in results:
            if r.call_id in OLD_CALLS and r.findings:
                rs.set_verdict(qa, r.call_id, r.findings[0], "confirmed")
    return out, {r.call_id: r for r in results}


def _result(out: Path, call_id: str) -> CallResult:
    return CallResult.from_dict(json.loads((out / "results" / f"{call_id}.json").read_text()))


def test_parse_age() -> None:
    assert parse_age("90d") == parse_age("90") == timedelta(days=90)
    assert parse_age("2w") == timedelta(days=14)
    for bad in ("0d", "ninety", "-3d", "3m"):
        with pytest.raises(ValueError):
            parse_age(bad)


def test_purge_removes_old_copies_and_keeps_scores_findings_reviews(batch) -> None:
    out, before = batch
    numbers = secrets(list(before.values()))
    with ReviewStore.open(out / DB_NAME) as rs:
        reviews_before = {c: rs.reviews(c) for c in OLD_CALLS}
    assert all(reviews_before.values())
    stored = {c: _result(out, c) for c in before}  # as written, times rounded
    res = CliRunner().invoke(app, ["purge", "--out", str(out), "--older-than", "90d"])
    assert res.exit_code == 0, res.output
    old, new = CALLS[0], CALLS[1]
    gone = [out / "transcripts" / f"{old}.json", out / "review" / f"{old}.html",
            cache_path(None, f"key-{old}")]
    assert all(not p.exists() for p in gone)
    assert all(str(p) in res.stdout for p in gone)
    # a recent call is untouched
    assert (out / "transcripts" / f"{new}.json").is_file()
    assert (out / "review" / f"{new}.html").is_file() and cache_path(None, f"key-{new}").is_file()
    assert _result(out, new).utterances == stored[new].utterances
    for call in OLD_CALLS:
        kept, was = _result(out, call), stored[call]
        assert (kept.score, kept.passed, kept.vetoed) == (was.score, was.passed, was.vetoed)
        assert [(f.rule_id, f.start, f.end, f.deduction) for f in kept.findings] == \
            [(f.rule_id, f.start, f.end, f.deduction) for f in was.findings]
        assert kept.utterances == [] and any("转写已按保留期清除" in n for n in kept.notes)
        assert not leaks((out / "results" / f"{call}.json").read_text("utf-8"), numbers)
        assert [e.type for e in kept.entities] == [e.type for e in was.entities]
    assert leaks(json.dumps(before[WRITTEN].to_dict(), ensure_ascii=False), numbers)
    with Store.open(out) as store:
        assert store.get(old)["transcript_path"] is None
        assert {s.call_id for s in store.results()} == set(before)  # every score still reported
    with ReviewStore.open(out / DB_NAME) as rs:
        assert {c: rs.reviews(c) for c in OLD_CALLS} == reviews_before
    # the report still runs over the purged calls
    rep = CliRunner().invoke(app, ["report", "--out", str(out), "--format", "csv"])
    assert rep.exit_code == 0, rep.output
    # again: nothing left to do, and it says so
    again = CliRunner().invoke(app, ["purge", "--out", str(out), "--older-than", "90d"])
    assert again.exit_code == 0 and again.stdout == ""
    assert "nothing to do" in again.output


def test_dry_run_removes_nothing(batch) -> None:
    out, before = batch
    res = CliRunner().invoke(app, ["purge", "--out", str(out), "--older-than", "90d",
                                   "--dry-run"])
    assert res.exit_code == 0 and "would purge 2 calls" in res.output
    assert (out / "transcripts" / f"{CALLS[0]}.json").is_file()
    assert _result(out, CALLS[0]).utterances


def test_retention_from_the_policy_and_nothing_to_do(batch) -> None:
    out, _ = batch
    (out / "callqa.yaml").write_text("privacy:\n  retention_days: 365\n", "utf-8")
    res = CliRunner().invoke(app, ["purge", "--out", str(out)])
    assert res.exit_code == 0 and "nothing to do" in res.output
    assert (out / "transcripts" / f"{CALLS[0]}.json").is_file()
    (out / "callqa.yaml").write_text("privacy:\n  retention_days: 100\n", "utf-8")
    res = CliRunner().invoke(app, ["purge", "--out", str(out)])
    assert res.exit_code == 0 and "purged 2 calls" in res.output


def test_bad_input(batch, tmp_path: Path) -> None:
    out, _ = batch
    res = CliRunner().invoke(app, ["purge", "--out", str(out), "--older-than", "soon"])
    assert res.exit_code == 2 and "--older-than" in res.output
    (out / "callqa.yaml").write_text("privacy:\n  retention_days: forever\n", "utf-8")
    res = CliRunner().invoke(app, ["purge", "--out", str(out)])
    assert res.exit_code == 2 and f"{out / 'callqa.yaml'}:2:" in res.output
    res = CliRunner().invoke(app, ["purge", "--out", str(tmp_path / "none")])
    assert res.exit_code == 2


def test_a_running_batch_blocks_purge(batch) -> None:
    out, _ = batch
    with lock_output(out):
        res = CliRunner().invoke(app, ["purge", "--out", str(out), "--older-than", "90d"])
    assert res.exit_code == 4
    assert (out / "transcripts" / f"{CALLS[0]}.json").is_file()
