"""The Ray executor: ``callqa batch --executor ray`` transcribes in Ray actors.

Each actor is one ASR worker: it loads the model once (in its constructor, like a local pool
worker's initializer) and runs the same job function as a local worker. Everything else stays
with the driver (:mod:`callqa.batch.runner`): planning, the window of ``2 × actors`` calls in
flight (back-pressure: a day's list of files never floods the object store), the retry of a call
whose actor died, scoring, and the SQLite state. An actor that died is replaced by a fresh one
(which loads the model again), which takes calls once it is up; until then the calls go to the
actors still running (a lost node's replacement may never find room).

Audio reaches the actors by path (shared storage: every node sees the driver's paths) or, with
``ship_audio``, as the file's bytes in the call's arguments (through Ray's object store).

Ray is an optional extra (``pip install callqa[ray]``); this module imports it lazily.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callqa.batch.worker import BatchAbort, available_cores, init_worker, transcribe_job
from callqa.errors import CallqaError

__all__ = ["CONNECT_TIMEOUT_S", "START_TIMEOUT_S", "RayOptions", "RayPool"]

logger = logging.getLogger("callqa.batch")

#: How long to wait for a cluster's head to accept a connection. Ray itself keeps retrying an
#: unreachable head for many minutes, which would hang a nightly cron job.
CONNECT_TIMEOUT_S = 15.0

#: How long a batch whose every actor died waits for a replacement to start (its model
#: loaded) before it stops with exit 2 instead of waiting for a node that is gone.
START_TIMEOUT_S = 300.0


def _probe(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast when the head at ``HOST:PORT`` (or ``ray://HOST:PORT``) does not accept a
    TCP connection. ``auto`` and other forms are left to Ray."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise CallqaError(f"--ray-address {address}", f"cannot reach the Ray head within "
                          f"{timeout_s:g} s: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class RayOptions:
    """Where and how the Ray actors run.

    Attributes:
        address: the cluster (``HOST:PORT`` of the head, ``auto``, or ``ray://HOST:10001``);
            None: ``RAY_ADDRESS`` if set, else a private local Ray instance on this machine.
        num_cpus: CPUs each actor reserves; also its CPU threads for the ASR (at least 1).
        num_gpus: GPUs each actor reserves (1 with ``--device cuda``: one actor per GPU).
        ship_audio: send each recording's bytes to the actor instead of its path (for nodes
            that do not share the driver's storage).
    """

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    ship_audio: bool = False


def import_ray():
    """``ray``, or a usage error (exit 2) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise CallqaError("--executor ray", "Ray is not installed: pip install 'callqa[ray]'") \
            from None
    return ray


class AsrActor:
    """One ASR worker process on the cluster (made a Ray actor class by :class:`RayPool`)."""

    def __init__(self, asr: dict[str, Any], threads: int):
        init_worker(asr, threads)

    def transcribe(self, job: dict[str, Any]) -> dict[str, Any]:
        import ray

        out = transcribe_job(job)
        out["where"] = f"node {ray.get_runtime_context().get_node_id()} pid {os.getpid()}"
        return out


class RayPool:
    """The executor of :mod:`callqa.batch.runner` (see :class:`~callqa.batch.runner.LocalPool`)
    on Ray: ``workers`` actors (0: as many as the cluster's CPUs/GPUs can hold at once), each
    holding one model; calls go to the actor with the fewest in flight.

    An actor that died is replaced at once, but the replacement gets calls only once it is up
    (its model loaded): when a node is lost, the cluster may have no room left for it, and the
    calls go to the actors still running instead of waiting for one that never starts."""

    def __init__(self, options: RayOptions, workers: int, calls: int, asr: dict[str, Any]):
        ray = self._ray = import_ray()
        self.options = options
        self.lost = (ray.exceptions.RayActorError,)
        self._started = not ray.is_initialized()
        if self._started:
            self._init(ray, options.address)
        self.threads = max(1, math.ceil(options.num_cpus))
        self.workers = max(1, min(self._room(ray, workers), calls))
        self._asr = asr
        self._actor_class = ray.remote(AsrActor).options(
            num_cpus=options.num_cpus, num_gpus=options.num_gpus, max_restarts=0)
        self.actors = [self._new_actor() for _ in range(self.workers)]
        self._running: dict[Future, tuple[int, Any]] = {}  # future → (slot, actor)
        self._starting: dict[int, Future] = {}  # slot of a replacement → its "ready" future

    @staticmethod
    def _init(ray, address: str | None) -> None:
        given = address or os.environ.get("RAY_ADDRESS")
        if given:
            _probe(given)
        try:
            if given:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            else:  # a private instance on this machine, for as long as the batch runs
                ray.init(address="local", num_cpus=available_cores(), include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
        except Exception as exc:  # ConnectionError, auth, version mismatch …
            raise CallqaError(f"--ray-address {given or ''}".strip(),
                              f"cannot start or reach Ray: {exc}") from None

    def _room(self, ray, workers: int) -> int:
        """Actors the cluster can run at once; more would wait forever for resources."""
        resources = ray.cluster_resources()
        fits = [resources.get("CPU", 0) / self.options.num_cpus] if self.options.num_cpus else []
        if self.options.num_gpus:
            fits.append(resources.get("GPU", 0) / self.options.num_gpus)
        room = int(min(fits)) if fits else workers or 1
        if room < 1:
            raise BatchAbort("--executor ray", f"the Ray cluster ({resources.get('CPU', 0):g} "
                             f"CPUs, {resources.get('GPU', 0):g} GPUs) has no room for an "
                             f"actor with {self.options.num_cpus:g} CPUs and "
                             f"{self.options.num_gpus:g} GPUs")
        if workers > room:
            logger.warning("--workers %d: the Ray cluster has room for %d actors; using %d",
                           workers, room, room)
        return min(workers, room) if workers else room

    def _new_actor(self):
        return self._actor_class.remote(self._asr, self.threads)

    def submit(self, job: dict[str, Any]) -> Future:
        self._replace_dead()
        load = [0] * len(self.actors)
        for slot, _ in self._running.values():
            load[slot] += 1
        slot = min(self._usable(), key=lambda s: (load[s], s))
        if self.options.ship_audio:
            try:
                job = {**job, "audio": Path(job["path"]).read_bytes(),
                       "customer_audio": (Path(job["customer_path"]).read_bytes()
                                          if job.get("customer_path") else None)}
            except OSError:  # the actor tries the path and reports the error
                pass
        future = self.actors[slot].transcribe.remote(job).future()
        self._running[future] = (slot, self.actors[slot])
        return future

    def _replace_dead(self) -> None:
        for future, (slot, actor) in list(self._running.items()):
            if not future.done():
                continue
            del self._running[future]
            if isinstance(future.exception(), self.lost) and self.actors[slot] is actor:
                logger.warning("Ray actor %d died; starting another", slot)
                self._ray.kill(actor)
                self.actors[slot] = self._new_actor()
                self._starting[slot] = self.actors[slot].__ray_ready__.remote().future()

    def _usable(self) -> list[int]:
        """Slots whose actor may take calls: all but replacements still starting; when every
        actor is a replacement still starting, wait for the first one up."""
        for slot, ready in list(self._starting.items()):
            if ready.done():  # up, or failed to start: a call to it fails and is retried
                del self._starting[slot]
        if len(self._starting) == len(self.actors):
            done, _ = wait(self._starting.values(), timeout=START_TIMEOUT_S,
                           return_when=FIRST_COMPLETED)
            if not done:
                raise BatchAbort("--executor ray", f"no Ray actor could be started within "
                                 f"{START_TIMEOUT_S:g} s (nodes lost? `ray status` shows what "
                                 "the cluster has left)")
            return self._usable()
        return [s for s in range(len(self.actors)) if s not in self._starting]

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *_) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []
        if self._started:
            self._ray.shutdown()
