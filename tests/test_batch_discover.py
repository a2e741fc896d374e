"""Discovery of a batch's calls: directory walk, manifest CSV, filename pattern (no model)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callqa.batch.discover import (DEFAULT_AGENT_PATTERN, BatchInputError, compile_agent_pattern,
                                   discover, read_manifest)
from callqa.batch.discover import agent_from_path


@pytest.mark.parametrize("rel, agent", [
    ("A001_20261121_0001.flac", "A001"),
    ("A001/0001.wav", "A001"),
    ("A001/sub/x.wav", "A001"),
    ("2026-11-21/A001-0003.wav", "A001"),
    ("2026-11-21/B17_x.mp3", "B17"),
    ("call_01_repair_leak.flac", None),
    ("0001.wav", None),
    ("A001.wav", None),
])
def test_default_agent_pattern(rel, agent):
    assert agent_from_path(rel, compile_agent_pattern(DEFAULT_AGENT_PATTERN)) == agent


def test_custom_agent_pattern_and_errors():
    rx = compile_agent_pattern(r"agent-(?P<agent>\d+)")
    assert agent_from_path("x/agent-42.wav", rx) == "42"
    with pytest.raises(BatchInputError, match="named group"):
        compile_agent_pattern(r"(\d+)")
    with pytest.raises(BatchInputError, match="invalid regular expression"):
        compile_agent_pattern(r"(?P<agent>")


def _touch(root: Path, rel: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    os.utime(p, (1_795_000_000, 1_795_000_000))
    return p


def test_discover_tree_without_manifest(tmp_path):
    for rel in ("A001_20261121_0001.flac", "A002/0001.WAV", "A003/0001.mp3", "misc/call.m4a",
                "notes.txt", "x.ogg"):
        _touch(tmp_path, rel)
    calls = discover(tmp_path)
    got = {c.call_id: (c.agent_id, Path(c.path).relative_to(tmp_path).as_posix()) for c in calls}
    assert got == {
        "A001_20261121_0001": ("A001", "A001_20261121_0001.flac"),
        "A002__0001": ("A002", "A002/0001.WAV"),  # same stem twice: ids from the relative path
        "A003__0001": ("A003", "A003/0001.mp3"),
        "call": (None, "misc/call.m4a"),  # no agent: kept, agent unknown
        "x": (None, "x.ogg"),
    }
    assert all(c.started_at and c.started_at.startswith("2026-11-1") for c in calls)
    assert all(c.agent_channel is None for c in calls)


def test_discover_with_manifest(tmp_path):
    _touch(tmp_path, "A001_20261121_0001.flac")
    _touch(tmp_path, "extra/A009_1.wav")
    _touch(tmp_path, "c2.wav")
    manifest = tmp_path / "calls.csv"
    manifest.write_text(
        "\ufeffpath,call_id,agent_id,agent_channel,started_at\n"
        "A001_20261121_0001.flac,call-1,张三,right,2026-11-21 09:30:00\n"
        f"{tmp_path / 'c2.wav'},,,,2026-11-21\n"
        "missing.wav,gone,A005,,\n", encoding="utf-8")
    calls = {c.call_id: c for c in discover(tmp_path, manifest)}
    assert set(calls) == {"call-1", "c2", "A009_1", "gone"}
    assert calls["call-1"].agent_id == "张三" and calls["call-1"].agent_channel == "right"
    assert calls["call-1"].started_at == "2026-11-21T09:30:00"
    assert calls["c2"].agent_id is None and calls["c2"].started_at == "2026-11-21"
    assert calls["A009_1"].agent_id == "A009"  # not in the manifest: still a call
    assert calls["gone"].path == str(tmp_path / "missing.wav") and calls["gone"].started_at is None


@pytest.mark.parametrize("text, line, message", [
    ("", 1, "empty manifest"),
    ("file,agent_id\na.wav,A1\n", 1, "no 'path' column"),
    ("path,agent\na.wav,A1\n", 1, "unknown column 'agent'"),
    ("path,agent_channel\na.wav,left\nb.wav,middle\n", 3, "agent_channel"),
    ("path,started_at\na.wav,yesterday\n", 2, "not an ISO date"),
    ("path,call_id\na.wav,x\nb.wav,x\n", 3, "duplicate call_id 'x' (first on line 2)"),
    ("path\na.wav\n\na.wav\n", 4, "duplicate path"),
    ("path,call_id\n,x\n", 2, "empty path"),
    ("path\na.wav,b\n", 2, "2 fields"),
])
def test_bad_manifest_names_file_and_line(tmp_path, text, line, message):
    manifest = tmp_path / "calls.csv"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(BatchInputError) as exc:
        read_manifest(manifest)
    assert exc.value.line == line and message in exc.value.message
    assert str(exc.value).startswith(f"{manifest}:{line}: ")
    assert exc.value.exit_code == 2


def test_tab_separated_manifest(tmp_path):
    manifest = tmp_path / "calls.tsv"
    manifest.write_text("path\tagent_id\na.wav\tA1\n", encoding="utf-8")
    assert read_manifest(manifest)[0].agent_id == "A1"


def test_missing_directory_and_manifest(tmp_path):
    with pytest.raises(BatchInputError, match="does not exist"):
        discover(tmp_path / "nope")
    with pytest.raises(BatchInputError, match="cannot read manifest"):
        discover(tmp_path, tmp_path / "nope.csv")


def test_manifest_call_id_clash_with_stem(tmp_path):
    _touch(tmp_path, "a.wav")
    _touch(tmp_path, "b.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,call_id\nb.wav,a\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match="call_id 'a'"):
        discover(tmp_path, manifest)


def test_threads_per_worker_never_oversubscribe():
    from callqa.batch.worker import threads_per_worker

    assert [threads_per_worker(w, cores=2) for w in (1, 2, 3)] == [2, 1, 1]
    assert [threads_per_worker(w, cores=8) for w in (1, 2, 3, 4)] == [8, 4, 2, 2]


def test_default_workers_one_per_core_at_most_two():
    from callqa.batch.worker import default_workers, threads_per_worker

    assert [default_workers(cores=c) for c in (1, 2, 4, 16)] == [1, 2, 2, 2]
    # on two cores the default is the faster layout: 2 workers × 1 thread
    assert threads_per_worker(default_workers(cores=2), cores=2) == 1
