"""``callqa batch --executor ray`` on a real Ray cluster: a head started by this module on
loopback (``ray start --head --node-ip-address 127.0.0.1``), its own token, no usage stats, no
dashboard; the real embedded model on short cuts of the sample calls (as test_batch_run.py).

What it proves: the Ray executor gives the same transcripts, results, database rows, summary
and exit code as the local process pool (paths or shipped bytes); an actor killed mid-batch is
replaced and its call retried, a call whose actor dies twice is recorded as failed, and nothing
finished is lost or transcribed again; a SIGKILLed driver resumes as in local mode.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from callqa.batch.discover import discover
from callqa.batch.ray_executor import RayOptions
from callqa.batch.runner import run_batch
from callqa.batch.store import Store
from callqa.scoring import load_rulebook
from test_batch_run import _sources, make_recordings, options, rows, sigkill_and_resume

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (pip install 'callqa[ray]')", allow_module_level=True)

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).with_name("ray")
ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # every Ray address on loopback (Ray otherwise picks the host's outward-facing address)
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(16),  # nothing read from or written to ~/.ray
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head():
    """A one-node Ray cluster (2 CPUs) on 127.0.0.1; yields (address, head pid)."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        mp.delenv("RAY_ADDRESS", raising=False)
        import ray  # after the variables: Ray reads its authentication mode on import
        port = _free_port()
        temp = tempfile.mkdtemp(prefix="callqa-ray-")  # short: Ray's socket paths live in it
        cmd = [str(RAY), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
               "--port", str(port), "--num-cpus", "2", "--num-gpus", "0",
               "--include-dashboard", "false", "--dashboard-port", str(_free_port()),
               "--dashboard-agent-listen-port", str(_free_port()),
               "--disable-usage-stats", "--temp-dir", temp]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the Ray head did not come up"
                    time.sleep(0.2)
            yield f"127.0.0.1:{port}", proc.pid
        finally:
            if ray.is_initialized():
                ray.shutdown()
            # The head and everything it started (a graceful SIGTERM takes ~15 s); the
            # actors' worker processes are in the head's session and follow the raylet.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            deadline = time.monotonic() + 30
            while _session(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not _session(proc.pid), "Ray processes outlived the head"
            shutil.rmtree(temp, ignore_errors=True)


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _comparable(path: Path) -> dict:
    """A transcript or result JSON without the wall times, which differ from run to run."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "timing_s"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(json.loads(path.read_text(encoding="utf-8")))


def _state(out: Path) -> dict[str, dict]:
    keep = ("status", "error", "agent_id", "audio_sha256", "asr_key", "model", "score",
            "passed", "rulebook_sha256", "audio_seconds")
    state = {}
    for call_id, row in rows(out).items():
        state[call_id] = {k: row[k] for k in keep}
        for kind in ("transcript_path", "result_path"):
            if row[kind]:
                state[call_id][kind] = _comparable(out / row[kind])
    return state


def test_ray_gives_the_same_results_as_local(tmp_path, head):
    address, _ = head
    rec = tmp_path / "rec"
    make_recordings(rec, [f"A00{i}_20261121_000{i}.flac" for i in range(1, 4)])
    (rec / "empty.wav").write_bytes(b"")
    (rec / "junk.mp3").write_bytes(b"definitely not audio" * 50)
    rulebook = load_rulebook()
    calls = discover(rec)
    runs = {"local": None, "ray": RayOptions(address=address),
            "ray, audio shipped": RayOptions(address=address, ship_audio=True)}
    states, summaries = {}, {}
    for name, ray_options in runs.items():
        out = tmp_path / name.replace(", ", "-").replace(" ", "-")
        with Store.open(out) as store:
            s = run_batch(calls, store, rulebook, options(rulebook, workers=2, ray=ray_options))
        summaries[name] = (s.total, s.transcribed, s.rescored, s.skipped, s.failed, s.exit_code,
                           s.workers, s.threads_per_worker, sorted(f["error"] for f in s.failures))
        states[name] = _state(out)
        if ray_options:
            import ray

            assert len(s.model_loads) == 2 and set(s.model_loads.values()) == {1}
            assert not ray.is_initialized()  # the batch disconnected from the cluster
    assert summaries["local"] == (5, 3, 0, 0, 2, 1, 2, 1, summaries["local"][-1])
    assert summaries["ray"] == summaries["local"]
    assert summaries["ray, audio shipped"] == summaries["local"]
    assert states["local"]["empty"]["status"] == "failed"
    assert all(v["status"] == "scored" for k, v in states["local"].items()
               if k.startswith("A00"))
    assert states["ray"] == states["local"]
    assert states["ray, audio shipped"] == states["local"]  # errors name the original paths

    # Re-running with Ray skips what is done (the failed files are tried again).
    with Store.open(tmp_path / "ray") as store:
        s = run_batch(calls, store, rulebook,
                      options(rulebook, workers=2, ray=RayOptions(address=address)))
    assert (s.skipped, s.transcribed, s.failed, s.exit_code) == (3, 0, 2, 1)


class ActorKiller(threading.Thread):
    """SIGKILLs the cluster's ASR actors while they transcribe (at most ``times`` kills)."""

    def __init__(self, head_pid: int, times: int, start: threading.Event | None = None):
        super().__init__(daemon=True)
        self.head_pid, self.times = head_pid, times
        self.go = start or threading.Event()
        if start is None:
            self.go.set()
        self.stop, self.killed = threading.Event(), []

    def busy_actors(self) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes()
                if (title.startswith(b"ray::AsrActor.transcribe")
                        and os.getsid(int(entry)) == self.head_pid):  # this module's cluster
                    pids.append(int(entry))
            except OSError:
                pass
        return pids

    def run(self) -> None:
        self.go.wait()
        while not self.stop.is_set() and len(self.killed) < self.times:
            for pid in self.busy_actors()[: self.times - len(self.killed)]:
                if pid not in self.killed:
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
            self.stop.wait(0.05)


def test_killed_actor_is_replaced_and_its_call_retried(tmp_path, head, caplog):
    address, head_pid = head
    caplog.set_level(logging.WARNING, logger="callqa.batch")
    rec, out = tmp_path / "rec", tmp_path / "out"
    make_recordings(rec, [f"A00{i}_20261121_000{i}.flac" for i in range(1, 5)])
    rulebook = load_rulebook()
    first_scored = threading.Event()
    killer = ActorKiller(head_pid, times=1, start=first_scored)
    done_before_kill: dict[str, dict] = {}

    def on_event(call_id: str, what: str) -> None:
        if what == "scored" and not first_scored.is_set():
            done_before_kill.update(rows(out))
            first_scored.set()

    killer.start()
    with Store.open(out) as store:
        s = run_batch(discover(rec), store, rulebook,
                      options(rulebook, workers=2, ray=RayOptions(address=address)),
                      on_event=on_event)
    killer.stop.set()
    killer.join()
    assert len(killer.killed) == 1, "no actor was caught transcribing"
    assert (s.transcribed, s.failed, s.exit_code) == (4, 0, 0)  # each call transcribed once
    # a replacement was started (it takes calls once its model is loaded, if any are left);
    # no process loaded the model twice
    log = [r.getMessage() for r in caplog.records]
    assert sum("died; starting another" in m for m in log) == 1, log
    assert sum("trying it again" in m for m in log) >= 1, log
    assert set(s.model_loads.values()) == {1}
    final = rows(out)
    assert all(r["status"] == "scored" for r in final.values()) and len(final) == 4
    for call_id, row in done_before_kill.items():  # finished before the kill: untouched
        if row["status"] == "scored":
            assert final[call_id] == row


def test_call_whose_actor_dies_twice_is_recorded_as_failed(tmp_path, head):
    address, head_pid = head
    rec, out = tmp_path / "rec", tmp_path / "out"
    data, rate = _sources()[0]
    rec.mkdir()
    sf.write(rec / "A001_20261121_0001.flac", data, rate, format="FLAC")
    rulebook = load_rulebook()
    ray_options = options(rulebook, workers=1, ray=RayOptions(address=address))
    killer = ActorKiller(head_pid, times=2)
    killer.start()
    with Store.open(out) as store:
        s = run_batch(discover(rec), store, rulebook, ray_options)
    killer.stop.set()
    killer.join()
    assert len(killer.killed) == 2
    assert (s.transcribed, s.failed, s.exit_code) == (0, 1, 1)
    assert "worker process died" in s.failures[0]["error"]
    assert rows(out)["A001_20261121_0001"]["status"] == "failed"

    with Store.open(out) as store:  # the next run (no killer) scores it
        s = run_batch(discover(rec), store, rulebook, ray_options)
    assert (s.transcribed, s.failed, s.exit_code) == (1, 0, 0)


def test_sigkill_of_the_ray_driver_loses_nothing_finished(tmp_path, head):
    address, _ = head
    sigkill_and_resume(tmp_path, ["--executor", "ray", "--ray-address", address,
                                  "--workers", "1"])


def test_unreachable_cluster_fails_fast_with_exit_2(tmp_path):
    """A wrong --ray-address (nothing listening) ends the batch with exit 2 and a message
    naming the address, instead of Ray's minutes of retrying (a hung nightly cron job)."""
    rec = tmp_path / "rec"
    make_recordings(rec, ["A001_20261121_0001.flac"])
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, **ENV}
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-m", "callqa", "batch", str(rec), "--executor", "ray",
                        "--ray-address", address, "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"--ray-address {address}: cannot reach the Ray head" in r.stderr
