"""Running a batch: plan what each call needs, transcribe in worker processes, score and commit
in the parent, one call at a time.

Planning (parent, per call): hash the audio; the *ASR key* is the transcript-cache key of
:mod:`callqa.asr.cache` (audio hash + model id + every ASR option that changes a transcript).

- ``skip``: the row is ``scored`` with the same ASR key, rulebook hash, desk and agent id;
- ``rescore``: a transcript with the same ASR key is on disk (rulebook, desk or agent id changed,
  or the batch was killed between transcript and result): score it, no ASR;
- ``asr``: anything else (new call, changed audio, changed model/options, ``--force``).

Workers only transcribe and return the transcript; the parent writes files and the database
and scores (pure, fast). Nothing is shared but pickled dicts. Where the workers run is the
*executor*'s business; the planning, the bounded window of calls in flight, the retry of calls
lost with a dead worker and the commits are the same for every executor:

- :class:`LocalPool` (default): spawned processes on this machine; each loads the model once
  (pool initializer) and uses ``cores // workers`` CPU threads;
- :class:`callqa.batch.ray_executor.RayPool` (``BatchOptions.ray``): Ray actors, one model each,
  anywhere on a Ray cluster.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from callqa.batch.discover import CallSpec
from callqa.batch.store import Store
from callqa.batch.worker import (BatchAbort, init_worker, probe_duration_s,
                                 threads_per_worker, transcribe_job)
from callqa.errors import TranscriptError
from callqa.transcript import Transcript, load_transcript, save_transcript

if TYPE_CHECKING:  # the scoring engine is imported when a batch runs, not with the CLI
    from callqa.scoring import Rulebook, Scorer

__all__ = ["DEFAULT_MAX_DURATION_S", "BatchOptions", "BatchSummary", "LocalPool", "run_batch"]

logger = logging.getLogger("callqa.batch")

DEFAULT_MAX_DURATION_S = 7200.0


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs.

    Attributes:
        workers: ASR workers (each holds one copy of the model); with Ray, 0 means as many
            actors as the cluster has room for.
        force: redo ASR and scoring for every call.
        max_duration_s: longer recordings fail with an error instead of being transcribed.
        asr: ASR options; ``agent_channel`` is the default for calls the manifest says nothing
            about; ``cpu_threads`` is set per worker by the runner.
        ray: run the workers as Ray actors (:class:`callqa.batch.ray_executor.RayOptions`);
            None: local processes.
    """

    workers: int = 1
    force: bool = False
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    asr: Any = None  # callqa.asr.pipeline.AsrOptions (imported lazily: it loads faster-whisper)
    ray: Any = None  # callqa.batch.ray_executor.RayOptions (imported lazily: Ray is an extra)


@dataclass
class BatchSummary:
    """What a batch did; ``exit_code`` is 0 when every call is scored, 1 when some failed."""

    total: int = 0
    transcribed: int = 0
    rescored: int = 0
    skipped: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    asr_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int = 0
    threads_per_worker: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    #: worker pid → how many times that process had loaded a model (1: loaded once).
    model_loads: dict[int, int] = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return self.transcribed + self.rescored

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def line(self) -> str:
        asr = (f"{_hms(self.audio_seconds)} of audio ({self.audio_seconds / 3600:.2f} h) "
               f"transcribed in {_hms(self.wall_seconds)} wall "
               f"({_count(self.workers, 'worker')} × {_count(self.threads_per_worker, 'thread')})"
               if self.workers else
               f"no ASR needed; {_hms(self.wall_seconds)} wall")
        return (f"{self.total} calls: {self.scored} scored ({self.transcribed} transcribed, "
                f"{self.rescored} re-scored from transcripts), {self.skipped} skipped, "
                f"{self.failed} failed; {asr}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scored": self.scored, "exit_code": self.exit_code}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _hms(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


# --------------------------------------------------------------------------- parent side


@dataclass
class _Plan:
    call: CallSpec
    action: str  # skip | rescore | asr | fail
    sha256: str | None = None
    asr_key: str | None = None
    agent_channel: str = "left"
    transcript: Transcript | None = None
    error: str | None = None


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("calls"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=False)


class _Runner:
    def __init__(self, store: Store, rulebook: Rulebook, options: BatchOptions,
                 model_id: str, on_event: Callable[[str, str], None] | None,
                 desks: dict[str, Rulebook] | None = None):
        self.store = store
        self.rulebook = rulebook
        self.desks = desks or {}
        self._scorers: dict[int, Scorer] = {}
        self.options = options
        self.model_id = model_id
        self.summary = BatchSummary()
        self.on_event = on_event or (lambda call_id, what: None)

    def rulebook_for(self, call: CallSpec) -> Rulebook:
        """The call's desk's rulebook; the batch's for a call without a desk."""
        return self.desks.get(call.desk, self.rulebook) if call.desk else self.rulebook

    def scorer(self, rulebook: Rulebook) -> Scorer:
        if id(rulebook) not in self._scorers:
            from callqa.scoring import Scorer  # the scoring libraries load when first needed

            self._scorers[id(rulebook)] = Scorer(rulebook)
        return self._scorers[id(rulebook)]

    # ---------------------------------------------------------------- planning

    def plan(self, call: CallSpec) -> _Plan:
        from callqa.asr.audio import file_sha256, legs_sha256
        from callqa.asr.cache import cache_key

        asr = self.options.asr
        # two files: the agent's leg is the first channel of the call they make
        channel = "left" if call.customer_path else call.agent_channel or asr.agent_channel
        shas = []
        for leg in (call.path, call.customer_path):
            if leg is None:
                continue
            try:
                shas.append(file_sha256(Path(leg)))
            except OSError as exc:
                reason = "no such audio file" if isinstance(exc, FileNotFoundError) else \
                    f"cannot read: {exc.strerror or exc}"
                return _Plan(call, "fail", agent_channel=channel, error=f"{leg}: {reason}")
        sha = legs_sha256(*shas, call.offset_s) if call.customer_path else shas[0]
        row = self.store.get(call.call_id)
        if row and row["path"] != call.path and row["audio_sha256"] not in (None, sha):
            # Another recording already holds this id (e.g. the same file name on another
            # day): keep both, the newcomer gets the id with its audio hash appended.
            call = replace(call, call_id=f"{call.call_id}-{sha[:8]}")
            row = self.store.get(call.call_id)
        key = cache_key(sha, self.model_id, replace(asr, agent_channel=channel).keyed())
        plan = _Plan(call, "asr", sha, key, channel)
        if self.options.force:
            return plan
        if (row and row["status"] == "scored" and row["asr_key"] == key
                and row["rulebook_sha256"] == self.rulebook_for(call).sha256
                and row["desk"] == call.desk and row["agent_id"] == call.agent_id
                and row["started_at"] == call.started_at
                and self.store.resolve(row["result_path"]) is not None):
            plan.action = "skip"
            return plan
        path = self.store.resolve(row["transcript_path"]) if row else None
        path = path or self.store.transcript_file(call.call_id)
        if path.is_file():
            try:
                transcript = load_transcript(path)
            except TranscriptError:
                transcript = None
            if transcript is not None and transcript.asr.get("cache_key") == key:
                plan.action, plan.transcript = "rescore", transcript
        return plan

    # ---------------------------------------------------------------- committing

    def _base(self, plan: _Plan) -> dict[str, Any]:
        c = plan.call
        return {"path": c.path, "agent_id": c.agent_id, "agent_channel": plan.agent_channel,
                "started_at": c.started_at, "desk": c.desk}

    def fail(self, plan: _Plan, error: str) -> None:
        self.store.update(plan.call.call_id, **self._base(plan), audio_sha256=plan.sha256,
                          status="failed", error=error)
        self.summary.failed += 1
        self.summary.failures.append({"call_id": plan.call.call_id, "path": plan.call.path,
                                      "error": error})
        self.on_event(plan.call.call_id, "failed")

    def transcribed(self, plan: _Plan, out: dict[str, Any]) -> None:
        transcript = Transcript.from_dict(out["transcript"], source=plan.call.path)
        path = self.store.transcript_file(plan.call.call_id)
        save_transcript(transcript, path)
        asr = transcript.asr
        self.store.update(
            plan.call.call_id, **self._base(plan), status="transcribed", error=None,
            audio_sha256=asr.get("audio_sha256", plan.sha256),
            asr_key=asr.get("cache_key", plan.asr_key), model=asr.get("model", self.model_id),
            asr_seconds=out["asr_seconds"], audio_seconds=transcript.duration,
            transcript_path=self.store.relative(path), result_path=None, score=None,
            passed=None, rulebook_sha256=None)
        self.summary.transcribed += 1
        self.summary.audio_seconds += transcript.duration
        self.summary.asr_seconds += out["asr_seconds"]
        self.summary.model_loads[out["pid"]] = out["model_loads"]
        logger.info("%s transcribed on %s in %.1f s", plan.call.call_id,
                    out.get("where", f"pid {out['pid']}"), out["asr_seconds"])
        self.on_event(plan.call.call_id, "transcribed")
        self.score(plan, transcript)

    def score(self, plan: _Plan, transcript: Transcript) -> None:
        call = plan.call
        transcript.call_id, transcript.agent_id = call.call_id, call.agent_id
        started = time.perf_counter()
        rulebook = self.rulebook_for(call)
        try:
            result = self.scorer(rulebook).score(transcript)
            result.desk = call.desk
            path = self.store.write_result(result)
        except Exception as exc:  # a scoring bug on one call must not stop the batch
            logger.exception("scoring %s failed", call.call_id)
            self.fail(plan, f"{call.path}: scoring failed: {type(exc).__name__}: {exc}")
            return
        fields = self._base(plan)
        if plan.action == "rescore":  # the row may predate this run (or be missing)
            fields.update(audio_sha256=plan.sha256, asr_key=plan.asr_key,
                          model=transcript.asr.get("model", self.model_id),
                          audio_seconds=transcript.duration,
                          transcript_path=self.store.relative(
                              self.store.transcript_file(call.call_id)))
        self.store.update(call.call_id, **fields, status="scored", error=None,
                          rulebook_sha256=rulebook.sha256,
                          score_seconds=round(time.perf_counter() - started, 4),
                          result_path=self.store.relative(path), score=result.score,
                          passed=int(result.passed))
        if plan.action == "rescore":
            self.summary.rescored += 1
        self.on_event(call.call_id, "scored")

    # ---------------------------------------------------------------- the workers

    def job(self, plan: _Plan) -> dict[str, Any]:
        return {"call_id": plan.call.call_id, "path": plan.call.path,
                "agent_id": plan.call.agent_id, "agent_channel": plan.agent_channel,
                "customer_path": plan.call.customer_path, "offset_s": plan.call.offset_s,
                "max_duration_s": self.options.max_duration_s}

    def executor(self, calls: int) -> "LocalPool":
        """The pool the transcription runs in (a context manager; see :class:`LocalPool`)."""
        asr = {k: v for k, v in asdict(self.options.asr).items() if k != "_not_keyed"}
        if self.options.ray is not None:
            from callqa.batch.ray_executor import RayPool

            return RayPool(self.options.ray, self.options.workers, calls, asr)
        return LocalPool(self.options.workers, calls, asr)

    def run_asr(self, plans: list[_Plan], advance: Callable[[], None]) -> None:
        """Transcribe ``plans`` with at most ``2 × workers`` calls in flight; commit each as it
        comes back. A call in flight when its worker died is retried once, then failed."""
        if not plans:
            return
        queue = list(reversed(longest_first(plans)))
        retried: set[str] = set()
        in_flight: dict[Future, _Plan] = {}
        with self.executor(len(plans)) as pool:
            self.summary.workers, self.summary.threads_per_worker = pool.workers, pool.threads
            while queue or in_flight:
                while queue and len(in_flight) < pool.workers * 2:
                    plan = queue.pop()
                    in_flight[pool.submit(self.job(plan))] = plan
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    plan = in_flight.pop(future)
                    try:
                        out = future.result()
                    except pool.lost:
                        if plan.call.call_id in retried:
                            self.fail(plan, f"{plan.call.path}: the worker process died while "
                                            "transcribing it (out of memory?)")
                            advance()
                        else:
                            logger.warning("%s: its worker died while transcribing it; "
                                           "trying it again", plan.call.call_id)
                            retried.add(plan.call.call_id)
                            queue.append(plan)
                        continue
                    if "fatal" in out:
                        raise BatchAbort("ASR worker", out["fatal"])
                    if "error" in out:
                        self.fail(plan, out["error"])
                    else:
                        self.transcribed(plan, out)
                    advance()


def longest_first(plans: list[_Plan]) -> list[_Plan]:
    """``plans`` longest recording first (read from the headers; unknown lengths first).

    Taken in this order, the calls still running when the queue runs dry are the shortest, so
    no worker sits idle at the end of a batch while another finishes a long call."""
    def length(plan: _Plan) -> float:
        legs = [probe_duration_s(p) for p in (plan.call.path, plan.call.customer_path) if p]
        return float("inf") if None in legs else max(legs)

    return sorted(plans, key=length, reverse=True)


class LocalPool:
    """The default executor: ``workers`` spawned processes on this machine, each loading the
    model once and using ``cores // workers`` CPU threads.

    Every executor has ``workers``, ``threads``, ``lost`` (the exceptions a future raises when
    its worker died with the job) and ``submit(job) -> Future`` running
    :func:`transcribe_job`; it is a context manager that stops its workers on exit.
    """

    lost: tuple[type[BaseException], ...] = (BrokenProcessPool,)

    def __init__(self, workers: int, calls: int, asr: dict[str, Any]):
        self.workers = max(1, min(workers, calls))
        self.threads = threads_per_worker(self.workers)
        self._asr = asr
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker, initargs=(self._asr, self.threads))

    def submit(self, job: dict[str, Any]) -> Future:
        try:
            return self._pool.submit(transcribe_job, job)
        except BrokenProcessPool:  # a worker died: its jobs fail with `lost`; start afresh
            self._pool.shutdown(wait=True)
            self._pool = self._start()
            return self._pool.submit(transcribe_job, job)

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, exc_type, *_) -> None:
        self._pool.shutdown(wait=exc_type is None, cancel_futures=True)


def run_batch(calls: list[CallSpec], store: Store, rulebook: Rulebook, options: BatchOptions,
              *, progress: bool = False,
              on_event: Callable[[str, str], None] | None = None,
              desks: dict[str, Rulebook] | None = None) -> BatchSummary:
    """Process ``calls`` into ``store``; see the module docstring. Commits per call.

    ``desks`` maps a desk name to its rulebook (:mod:`callqa.batch.desks`): a call with a
    desk is scored with it, any other with ``rulebook``.

    Raises:
        ModelError: the model cannot be resolved (checked before any work).
        BatchAbort: the model does not load in the workers.
    """
    from callqa.asr.pipeline import AsrOptions, recognizer_model_id

    started = time.perf_counter()
    options = replace(options, asr=options.asr or AsrOptions())
    model_id = recognizer_model_id(options.asr, progress=progress)
    runner = _Runner(store, rulebook, options, model_id, on_event, desks)
    summary = runner.summary
    summary.total = len(calls)
    with _progress(progress) as bar:
        task = bar.add_task("planning", total=len(calls)) if bar else None

        def advance() -> None:
            if bar:
                bar.advance(task)

        plans = [runner.plan(c) for c in calls]
        if bar:
            bar.update(task, description="scoring")
        to_asr = []
        for plan in plans:
            if plan.action == "skip":
                summary.skipped += 1
                advance()
            elif plan.action == "fail":
                runner.fail(plan, plan.error or "unreadable")
                advance()
            elif plan.action == "rescore":
                runner.score(plan, plan.transcript)
                advance()
            else:
                to_asr.append(plan)
        for plan in to_asr:  # visible as pending while the batch runs (and after a crash)
            if (store.get(plan.call.call_id) or {}).get("status") != "scored":
                store.update(plan.call.call_id, **runner._base(plan), status="pending",
                             audio_sha256=plan.sha256, error=None)
        if bar:
            bar.update(task, description="transcribing")
        runner.run_asr(to_asr, advance)
    summary.wall_seconds = time.perf_counter() - started
    return summary
