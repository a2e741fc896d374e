"""``callqa batch`` end to end with the real embedded model on real audio (no mocks).

The recordings are the first seconds of the sample calls in ``samples/`` (stereo 8 kHz FLAC,
agent left), cut short so the whole file runs in a few minutes on two cores.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from callqa.batch.discover import discover
from callqa.batch.runner import BatchOptions, run_batch
from callqa.batch.worker import available_cores
from callqa.batch.store import Store
from callqa.cli import app
from callqa.cli.options import AsrArgs
from callqa.scoring import load_rulebook

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED = Path("/work/shared/audio/real")
CLIP_S = 6.0
CALLQA = [sys.executable, "-c", "from callqa.cli import main; main()"]


def _sources() -> list[tuple[np.ndarray, int]]:
    """Stereo clips: sample calls cut to ``CLIP_S``, else two real mono clips side by side."""
    flacs = sorted(SAMPLES.glob("call_*.flac"))
    if flacs:
        out = []
        for p in flacs:
            data, rate = sf.read(p, dtype="float32", always_2d=True)
            out.append((data[: int(CLIP_S * rate)], rate))
        return out
    wavs = sorted(SHARED.glob("*.wav"))
    if len(wavs) < 2:
        pytest.skip("no sample audio (samples/*.flac or /work/shared/audio/real)")
    out = []
    for a, b in zip(wavs, wavs[1:] + wavs[:1]):
        x, rate = sf.read(a, dtype="float32")
        y, _ = sf.read(b, dtype="float32")
        n = int(min(CLIP_S * rate, max(len(x), len(y))))
        s = np.zeros((n, 2), np.float32)
        s[: min(n, len(x)), 0], s[: min(n, len(y)), 1] = x[:n], y[:n]
        out.append((s, rate))
    return out


def make_recordings(root: Path, names: list[str], offset: int = 0) -> list[Path]:
    sources = _sources()
    paths = []
    for i, name in enumerate(names):
        data, rate = sources[(i + offset) % len(sources)]
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, data, rate, format="FLAC")
        paths.append(p)
    return paths


def options(rulebook, **kw) -> BatchOptions:
    """What `callqa batch` builds: the rulebook's vocabulary biases the ASR (like --hotwords)."""
    return BatchOptions(asr=AsrArgs().options(rulebook), **kw)


def rows(out: Path) -> dict[str, dict]:
    conn = sqlite3.connect(out / "callqa.db")
    conn.row_factory = sqlite3.Row
    try:
        return {r["call_id"]: dict(r) for r in conn.execute("SELECT * FROM calls")}
    finally:
        conn.close()


def test_batch_skips_rescores_retranscribes_and_isolates_failures(tmp_path):
    rec, out = tmp_path / "rec", tmp_path / "out"
    make_recordings(rec, ["A001_20261121_0001.flac", "B02/0002.flac"])
    (rec / "empty.wav").write_bytes(b"")
    (rec / "junk.mp3").write_bytes(b"definitely not audio" * 50)
    data, rate = _sources()[0]
    sf.write(rec / "long_call.flac", np.concatenate([data, data]), rate, format="FLAC")
    manifest = tmp_path / "calls.csv"
    manifest.write_text("path,agent_id,started_at\nlong_call.flac,C03,2026-11-21T10:00:00\n",
                        encoding="utf-8")
    args = ["batch", str(rec), "--out", str(out), "--manifest", str(manifest),
            "--workers", "2", "--max-duration-s", str(CLIP_S + 1), "--no-progress"]

    # 1. The over-long, empty and undecodable files fail, the others are scored: exit 1.
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    db = rows(out)
    assert {k: v["status"] for k, v in db.items()} == {
        "A001_20261121_0001": "scored", "0002": "scored", "empty": "failed",
        "junk": "failed", "long_call": "failed"}
    assert db["A001_20261121_0001"]["agent_id"] == "A001"
    assert db["0002"]["agent_id"] == "B02"
    assert db["long_call"]["agent_id"] == "C03"
    assert db["long_call"]["started_at"] == "2026-11-21T10:00:00"
    assert "limit" in db["long_call"]["error"] and "--max-duration-s" in db["long_call"]["error"]
    assert "empty.wav" in db["empty"]["error"] and "junk.mp3" in db["junk"]["error"]
    for call_id in ("A001_20261121_0001", "0002"):
        r = db[call_id]
        assert r["asr_seconds"] > 0 and r["audio_seconds"] == pytest.approx(CLIP_S, abs=0.1)
        assert r["model"].startswith("whisper-base") and len(r["audio_sha256"]) == 64
        assert (out / r["transcript_path"]).is_file() and (out / r["result_path"]).is_file()
    assert re.search(r"2 scored \(2 transcribed, 0 re-scored.*, 0 skipped, 3 failed",
                     result.stderr)
    with Store.open(out) as store:
        got = store.results()
        assert [r.call_id for r in got] == sorted([r.call_id for r in got],
                                                  key=lambda c: db[c]["started_at"])
        assert {r.result.agent_id for r in got} == {"A001", "B02"}
        assert all(r.result.utterances for r in got)  # the model heard speech
        assert {f["call_id"] for f in store.failures()} == {"empty", "junk", "long_call"}
    for name in ("long_call.flac", "empty.wav", "junk.mp3"):
        (rec / name).unlink()
    manifest.write_text("path\n", encoding="utf-8")
    before = rows(out)

    rulebook = load_rulebook()
    calls = discover(rec, manifest)

    # 2. Same input again: everything is skipped, nothing is rewritten.
    with Store.open(out) as store:
        s = run_batch(calls, store, rulebook, options(rulebook, workers=2))
    assert (s.skipped, s.transcribed, s.rescored, s.failed, s.exit_code) == (2, 0, 0, 0, 0)
    after = rows(out)
    for call_id in ("A001_20261121_0001", "0002"):
        assert after[call_id] == before[call_id]

    # 3. A changed rulebook re-scores from the stored transcripts, without ASR.
    edited = tmp_path / "rules.yaml"
    text = (ROOT / "rules" / "default.yaml").read_text(encoding="utf-8")
    assert "pass_mark: 80" in text
    edited.write_text(text.replace("pass_mark: 80", "pass_mark: 85"), encoding="utf-8")
    edited_rules = load_rulebook(edited)
    with Store.open(out) as store:
        s = run_batch(calls, store, edited_rules, options(edited_rules, workers=2))
    assert (s.skipped, s.transcribed, s.rescored, s.failed) == (0, 0, 2, 0)
    after = rows(out)
    for call_id in ("A001_20261121_0001", "0002"):
        assert after[call_id]["rulebook_sha256"] == edited_rules.sha256 != rulebook.sha256
        assert after[call_id]["asr_seconds"] == before[call_id]["asr_seconds"]
        assert after[call_id]["transcript_path"] == before[call_id]["transcript_path"]

    # 4. An audio file whose content changed is transcribed again; the other is skipped.
    make_recordings(rec, ["B02/0002.flac"], offset=2)
    with Store.open(out) as store:
        s = run_batch(calls, store, edited_rules, options(edited_rules, workers=2))
    assert (s.skipped, s.transcribed, s.rescored, s.failed) == (1, 1, 0, 0)
    assert s.workers == 1  # no more workers than calls to transcribe, and it gets every core
    assert s.threads_per_worker == available_cores()
    changed = rows(out)["0002"]
    assert changed["audio_sha256"] != before["0002"]["audio_sha256"]
    assert changed["status"] == "scored"

    # 5. --force redoes everything.
    with Store.open(out) as store:
        s = run_batch(calls, store, edited_rules, options(edited_rules, workers=1, force=True))
    assert (s.skipped, s.transcribed, s.rescored, s.failed) == (0, 2, 0, 0)
    assert list(s.model_loads.values()) == [1]  # one worker, the model loaded once for both


def test_usage_errors_exit_2(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["batch", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "recordings directory does not exist" in r.stderr
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("rules:\n  - id: X\n    type: nope\n", encoding="utf-8")
    r = runner.invoke(app, ["batch", str(tmp_path), "--rules", str(bad_rules)])
    assert r.exit_code == 2 and str(bad_rules) in r.stderr
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,agent_channel\na.wav,up\n", encoding="utf-8")
    r = runner.invoke(app, ["batch", str(tmp_path), "--manifest", str(manifest)])
    assert r.exit_code == 2 and f"{manifest}:2:" in r.stderr
    r = runner.invoke(app, ["batch", str(tmp_path), "--agent-pattern", "(x)"])
    assert r.exit_code == 2 and "(?P<agent>" in r.stderr
    r = runner.invoke(app, ["batch", str(tmp_path), "--ray-address", "127.0.0.1:6379"])
    assert r.exit_code == 2 and "--ray-address: only applies with --executor ray" in r.stderr


def test_sigkill_mid_batch_loses_nothing_finished(tmp_path):
    """Really start ``callqa batch``, SIGKILL it once a call is committed, run it again."""
    sigkill_and_resume(tmp_path, ["--workers", "1"])


def sigkill_and_resume(tmp_path: Path, options: list[str]) -> None:
    """Start ``callqa batch ... OPTIONS``, SIGKILL it once a call is committed, run it again:
    nothing finished is lost or transcribed again (tests/test_batch_ray.py reuses this)."""
    rec, out = tmp_path / "rec", tmp_path / "out"
    names = [f"A00{i}_20261121_000{i}.flac" for i in range(1, 5)]
    make_recordings(rec, names)
    cmd = [*CALLQA, "batch", str(rec), "--out", str(out), *options, "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    finished: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "callqa.db").is_file():
                try:
                    finished = {k: v for k, v in rows(out).items() if v["status"] == "scored"}
                except sqlite3.OperationalError:  # schema being created
                    finished = {}
                if finished:
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert finished, "no call was committed in time"
        os.kill(proc.pid, signal.SIGKILL)  # the batch process itself, as `kill -9 PID`
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        try:  # orphaned workers notice the dead parent; make sure none lingers
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    state = rows(out)  # what survived the kill
    finished = {k: v for k, v in state.items() if v["status"] == "scored"}
    assert 1 <= len(finished) < len(names)
    mtimes = {k: (out / v["transcript_path"]).stat().st_mtime_ns for k, v in finished.items()}

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    final = rows(out)
    assert all(v["status"] == "scored" for v in final.values()) and len(final) == len(names)
    for call_id, row in finished.items():  # finished calls: untouched, not transcribed again
        assert final[call_id] == row
        assert (out / row["transcript_path"]).stat().st_mtime_ns == mtimes[call_id]
    m = re.search(r"(\d+) calls: (\d+) scored \((\d+) transcribed, (\d+) re-scored[^)]*\), "
                  r"(\d+) skipped, 0 failed", again.stderr)
    assert m, again.stderr
    total, scored, transcribed, rescored, skipped = map(int, m.groups())
    assert total == len(names) and skipped == len(finished)
    assert transcribed + rescored == len(names) - len(finished)


def test_killed_local_worker_is_replaced_and_its_calls_retried(tmp_path):
    """SIGKILL a worker process once the first call is committed: the calls it (and the broken
    pool) had in flight are transcribed by a new pool; nothing finished is lost."""
    rec, out = tmp_path / "rec", tmp_path / "out"
    make_recordings(rec, [f"A00{i}_20261121_000{i}.flac" for i in range(1, 5)])
    rulebook = load_rulebook()
    killed: list[int] = []
    done_before_kill: dict[str, dict] = {}

    def workers() -> list[int]:
        children = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                children += [int(c) for c in f.read().split()]
        return [pid for pid in children
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def on_event(call_id: str, what: str) -> None:
        if what == "scored" and not killed:
            done_before_kill.update(rows(out))
            pid = workers()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with Store.open(out) as store:
        s = run_batch(discover(rec), store, rulebook, options(rulebook, workers=2),
                      on_event=on_event)
    assert killed
    assert (s.transcribed, s.failed, s.exit_code) == (4, 0, 0)
    final = rows(out)
    assert all(r["status"] == "scored" for r in final.values()) and len(final) == 4
    for call_id, row in done_before_kill.items():
        if row["status"] == "scored":
            assert final[call_id] == row


@pytest.mark.parametrize(("workers", "threads", "said"), [
    (1, 2, "(1 worker × 2 threads)"), (2, 1, "(2 workers × 1 thread)"),
    (0, 0, "no ASR needed; 00:00:03 wall")])
def test_summary_line_counts_in_words(workers, threads, said):
    from callqa.batch.runner import BatchSummary

    s = BatchSummary(total=3, transcribed=2 if workers else 0, rescored=0 if workers else 3,
                     audio_seconds=125.0, wall_seconds=3.2, workers=workers,
                     threads_per_worker=threads)
    assert said in s.line()
    assert s.line().startswith(f"3 calls: {s.scored} scored")


def test_second_batch_on_the_same_out_while_one_runs_exits_4(tmp_path):
    """Two real `callqa batch` processes on one --out: while the first transcribes, the second
    exits 4 at once, naming the first one's pid, and transcribes nothing; the first finishes
    unharmed."""
    rec = tmp_path / "rec"
    make_recordings(rec, [f"A001_{i:04d}.flac" for i in range(3)])
    out = tmp_path / "out"
    first = subprocess.Popen([*CALLQA, "batch", str(rec), "--out", str(out), "--no-progress"],
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        lock = out / "callqa.lock"
        while not (lock.is_file() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert f'"pid": {first.pid}' in lock.read_text()
        second = subprocess.run([*CALLQA, "batch", str(rec), "--out", str(out), "--no-progress"],
                                capture_output=True, text=True, timeout=120)
        assert first.poll() is None, "the first batch ended before the second one started"
        assert second.returncode == 4, second.stderr
        assert f"another callqa batch is writing to this output directory (pid {first.pid} " \
            in second.stderr
        assert "transcribed" not in second.stderr
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert "3 scored (3 transcribed" in err


def test_longest_calls_are_transcribed_first(tmp_path):
    """One worker takes the calls longest first, whatever order they are listed in, so a
    batch's last calls to finish are short ones and no worker idles at the end."""
    rec, out = tmp_path / "rec", tmp_path / "out"
    data, rate = _sources()[0]
    for name, seconds in (("A001_20261121_0001.flac", 2.0), ("A001_20261121_0002.flac", 6.0),
                          ("A001_20261121_0003.flac", 4.0)):
        rec.mkdir(exist_ok=True)
        sf.write(rec / name, data[: int(seconds * rate)], rate, format="FLAC")
    calls = discover(rec)
    order: list[str] = []
    rulebook = load_rulebook()
    with Store.open(out) as store:
        s = run_batch(calls, store, rulebook, options(rulebook, workers=1),
                      on_event=lambda call_id, what: order.append(call_id)
                      if what == "transcribed" else None)
    assert s.transcribed == 3
    by_id = {c.call_id: c.path for c in calls}
    assert [Path(by_id[c]).name[-9:-5] for c in order] == ["0002", "0003", "0001"]
