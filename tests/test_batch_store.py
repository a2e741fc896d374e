"""The batch state store: the contract ``callqa report`` reads (no model needed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from datetime import date

import pytest

from callqa.batch.store import (DB_NAME, EXIT_LOCKED, LOCK_NAME, OutputLocked, Store,
                                StoreError, StoredResult, lock_output, safe_name)
from callqa.result import CallResult, Finding


def _result(call_id: str, agent: str | None, score: float = 90.0) -> CallResult:
    f = Finding("FB01", "forbidden_phrase", "major", "agent", 1.0, 2.0, "不知道", "禁用语", "改说",
                "标准", 5.0)
    return CallResult(call_id=call_id, agent_id=agent, duration=30.0, score=score,
                      passed=score >= 80, findings=[f], utterances=[], rulebook={"sha256": "r"})


def _finish(store: Store, call_id: str, agent: str | None, started_at: str | None) -> None:
    store.update(call_id, path=f"/rec/{call_id}.flac", agent_id=agent, started_at=started_at,
                 status="transcribed", audio_sha256="a" * 64)
    path = store.write_result(_result(call_id, agent))
    store.update(call_id, path=f"/rec/{call_id}.flac", status="scored",
                 result_path=store.relative(path), rulebook_sha256="r", score=90.0, passed=1)


def test_open_creates_layout_and_wal(tmp_path):
    out = tmp_path / "a" / "out"
    with Store.open(out) as store:
        assert store.results() == [] and store.failures() == []
    assert (out / DB_NAME).is_file()
    assert (out / "results").is_dir() and (out / "transcripts").is_dir()
    conn = sqlite3.connect(out / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = {r[1] for r in conn.execute("PRAGMA table_info(calls)")}
    assert {"call_id", "path", "audio_sha256", "agent_id", "agent_channel", "started_at",
            "status", "error", "asr_seconds", "score_seconds", "audio_seconds", "model",
            "rulebook_sha256", "transcript_path", "result_path", "updated_at"} <= cols


def test_results_ordered_by_started_at_and_since(tmp_path):
    with Store.open(tmp_path) as store:
        _finish(store, "c3", "A002", "2026-11-22T09:00:00")
        _finish(store, "c1", "A001", "2026-11-20")
        _finish(store, "c2", None, "2026-11-21T17:30:00")
        store.update("c4", path="/rec/c4.flac", status="transcribed")  # not finished
        store.update("bad", path="/rec/bad.wav", status="failed", error="empty recording")
    store = Store.open(tmp_path)  # reopen: everything was committed
    got = store.results()
    assert [r.call_id for r in got] == ["c1", "c2", "c3"]
    assert isinstance(got[0], StoredResult) and got[0].path == "/rec/c1.flac"
    assert got[1].agent_id is None and got[1].result.agent_id is None
    assert got[0].result.findings[0].rule_id == "FB01"
    assert [r.call_id for r in store.results(since=date(2026, 11, 21))] == ["c2", "c3"]
    assert store.failures() == [
        {"call_id": "bad", "path": "/rec/bad.wav", "error": "empty recording",
         "status": "failed", "agent_id": None, "started_at": None,
         "updated_at": store.get("bad")["updated_at"]}]
    store.close()


def test_update_rejects_unknown_columns_and_status(tmp_path):
    with Store.open(tmp_path) as store:
        with pytest.raises(ValueError):
            store.update("x", path="p", colour="red")
        with pytest.raises(ValueError):
            store.update("x", path="p", status="done")


def test_unusable_out_dir_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as exc:
        Store.open(blocker / "out")
    assert exc.value.exit_code == 2


def test_safe_name():
    assert safe_name("A001_20261121_0001") == "A001_20261121_0001"
    assert safe_name("../x y/z") == "x_y_z"
    assert safe_name("通话/01") == "通话_01"


# ---------------------------------------------------------------------- the output lock

CALLQA = [sys.executable, "-c", "from callqa.cli import main; main()"]
HOLD = ("import sys, time\n"
        "from callqa.batch.store import lock_output\n"
        "lock = lock_output(sys.argv[1])\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n")


def test_second_batch_on_a_locked_out_exits_4_naming_the_holder(tmp_path):
    """Two real processes: one holds OUT's lock, a real `callqa batch` on the same --out exits
    4 at once naming the holder's pid, host and start time, and writes nothing; once the holder
    is SIGKILLed the lock is free again (flock dies with its process: no stale lock)."""
    out, recordings = tmp_path / "out", tmp_path / "rec"
    recordings.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = subprocess.run([*CALLQA, "batch", str(recordings), "--out", str(out),
                            "--no-progress"], capture_output=True, text=True, timeout=120)
        assert r.returncode == EXIT_LOCKED == 4, r.stderr
        assert f"pid {holder.pid} on {socket.gethostname()}, started 20" in r.stderr
        assert str(out) in r.stderr and "another callqa batch" in r.stderr
        assert not (out / DB_NAME).exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = lock_output(out)  # free again after a kill -9
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.close()


def test_lock_in_the_same_process_is_refused_too(tmp_path):
    first = lock_output(tmp_path)
    try:
        with pytest.raises(OutputLocked, match=f"pid {os.getpid()}"):
            lock_output(tmp_path)
    finally:
        first.close()


def test_recording_found_from_another_directory(tmp_path, monkeypatch):
    """The store keeps the recording's absolute path beside the path as given, so a report
    run elsewhere still finds it; a recording that is gone resolves to None."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "rec").mkdir(parents=True)
    elsewhere.mkdir()
    (work / "rec" / "a.flac").write_bytes(b"x")
    monkeypatch.chdir(work)
    with Store.open("out") as store:
        for cid in ("a", "gone"):
            store.update(cid, path=f"rec/{cid}.flac", status="scored",
                         result_path=store.relative(store.write_result(_result(cid, "A1"))))
    monkeypatch.chdir(elsewhere)
    with Store.open(work / "out") as store:
        got = {s.call_id: s for s in store.results()}
    assert got["a"].path == "rec/a.flac" and got["a"].audio == work / "rec" / "a.flac"
    assert got["gone"].audio is None


def test_old_store_gains_the_abs_path_column(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    conn = sqlite3.connect(out / DB_NAME)
    conn.execute("CREATE TABLE calls (call_id TEXT PRIMARY KEY, path TEXT NOT NULL, "
                 "status TEXT NOT NULL DEFAULT 'pending', updated_at TEXT NOT NULL, "
                 "result_path TEXT, agent_id TEXT, started_at TEXT, error TEXT)")
    conn.execute("INSERT INTO calls (call_id, path, status, updated_at) VALUES "
                 "('x', 'x.wav', 'failed', 'now')")
    conn.commit()
    conn.close()
    with Store.open(out) as store:
        assert store.get("x")["abs_path"] is None
        store.update("x", path="x.wav", status="failed")
        assert store.get("x")["abs_path"] == os.path.abspath("x.wav")


def test_lock_file_is_removed_when_the_batch_ends(tmp_path):
    """A finished batch leaves no ``callqa.lock`` behind, and the next one takes the directory."""
    with lock_output(tmp_path):
        assert (tmp_path / LOCK_NAME).is_file()
    assert not (tmp_path / LOCK_NAME).exists()
    again = lock_output(tmp_path)
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    again.close()
    assert list(tmp_path.iterdir()) == []
