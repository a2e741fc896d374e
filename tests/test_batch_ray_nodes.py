"""``callqa batch --executor ray`` on a cluster of two nodes, one of which is lost mid-batch.

The cluster is Ray's own ``ray.cluster_utils.Cluster``: a head and a second node, each its own
raylet with one CPU, both on this machine's loopback (what Ray's test suite uses to run several
nodes on one host); its own token, no usage stats, no dashboard. The recordings are short cuts
of the sample calls, transcribed by the real embedded model (as test_batch_run.py).

What it proves: calls are transcribed on both nodes; when the second node dies (its raylet and
its actor SIGKILLed while the actor is transcribing), the call it held is retried on the head,
no replacement actor waits for a node that is gone, and every call is transcribed and scored
exactly once, with the same transcripts, results and database rows as the local process pool.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
from collections import Counter
from pathlib import Path

import pytest

from callqa.batch.discover import discover
from callqa.batch.ray_executor import RayOptions
from callqa.batch.runner import run_batch
from callqa.batch.store import Store
from callqa.scoring import load_rulebook
from test_batch_ray import ENV, _state
from test_batch_run import make_recordings, options

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster():
    """Two Ray nodes of one CPU each on 127.0.0.1; yields (cluster, second node)."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        mp.delenv("RAY_ADDRESS", raising=False)
        import ray  # after the variables: Ray reads its authentication mode on import
        from ray.cluster_utils import Cluster

        temp = tempfile.mkdtemp(prefix="callqa-ray-")  # short: Ray's socket paths live in it
        # Cluster also writes the head's address to RAY_TMPDIR/ray/ray_current_cluster, which
        # fails where /tmp/ray was never made (a fresh machine): keep it in the test's own dir
        mp.setenv("RAY_TMPDIR", temp)
        os.makedirs(os.path.join(temp, "ray"), exist_ok=True)
        node = {"num_cpus": 1, "num_gpus": 0, "node_ip_address": "127.0.0.1", "temp_dir": temp}
        c = Cluster(initialize_head=True, connect=False,
                    head_node_args={**node, "include_dashboard": False})
        try:
            second = c.add_node(**node)
            yield c, second
        finally:
            if ray.is_initialized():
                ray.shutdown()
            c.shutdown()
            shutil.rmtree(temp, ignore_errors=True)


def _raylet_pid(node) -> int:
    from ray._private import ray_constants

    return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _title(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class NodeKiller(threading.Thread):
    """Takes the second node down — its actor processes, then its raylet, all SIGKILLed — once
    that node has transcribed a call and its actor is busy with another."""

    def __init__(self, cluster, node, transcribed_there: threading.Event):
        super().__init__(daemon=True)
        self.cluster, self.node, self.ready = cluster, node, transcribed_there
        self.raylet = _raylet_pid(node)
        self.stop, self.killed = threading.Event(), []

    def run(self) -> None:
        self.ready.wait()
        while not self.stop.is_set():
            busy = [p for p in _children(self.raylet)
                    if _title(p).startswith(b"ray::AsrActor.transcribe")]
            if busy:
                workers = _children(self.raylet)
                for pid in workers:
                    os.kill(pid, signal.SIGKILL)
                self.cluster.remove_node(self.node, allow_graceful=False)
                self.killed = busy
                return
            self.stop.wait(0.02)


def test_two_nodes_share_a_batch_and_losing_one_loses_no_call(tmp_path, cluster, caplog):
    c, second = cluster
    rec = tmp_path / "rec"
    make_recordings(rec, [f"A00{i}_20261121_000{i}.flac" for i in range(1, 7)])
    rulebook = load_rulebook()
    calls = discover(rec)

    with Store.open(tmp_path / "local") as store:
        local = run_batch(calls, store, rulebook, options(rulebook, workers=2))
    assert (local.transcribed, local.failed) == (6, 0)

    events: Counter[tuple[str, str]] = Counter()
    on_second = threading.Event()
    killer = NodeKiller(c, second, on_second)

    def on_event(call_id: str, what: str) -> None:
        events[call_id, what] += 1
        if what == "transcribed" and any(second.node_id in r.getMessage()
                                         for r in caplog.records):
            on_second.set()

    caplog.set_level(logging.INFO, logger="callqa.batch")
    killer.start()
    try:
        with Store.open(tmp_path / "ray") as store:
            s = run_batch(calls, store, rulebook,
                          options(rulebook, workers=2, ray=RayOptions(address=c.address)),
                          on_event=on_event)
    finally:
        killer.stop.set()
        killer.join()
    log = [r.getMessage() for r in caplog.records]

    # Work landed on both nodes, and the second died while transcribing a call.
    head = c.head_node.node_id
    assert any(head in m for m in log if " transcribed on " in m), log
    assert any(second.node_id in m for m in log if " transcribed on " in m), log
    assert killer.killed, "the second node was never caught transcribing"
    retried = [m for m in log if "trying it again" in m]
    assert len(retried) >= 1, log

    # Every call transcribed and scored exactly once; nothing failed; the same results.
    assert (s.total, s.transcribed, s.failed, s.exit_code) == (6, 6, 0, 0)
    assert {k: v for k, v in events.items()} == {
        (call.call_id, what): 1 for call in calls for what in ("transcribed", "scored")}
    assert _state(tmp_path / "ray") == _state(tmp_path / "local")
