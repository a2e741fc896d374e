"""The worker side of a batch: what runs in each worker process (or Ray actor) — thread limits,
the model loaded once, one call transcribed per job. Shared by every executor
(:class:`callqa.batch.runner.LocalPool`, :class:`callqa.batch.ray_executor.RayPool`)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from callqa.asr.recognizer import available_cores
from callqa.errors import CallqaError, ModelError

__all__ = ["BatchAbort", "available_cores", "default_workers", "init_worker", "probe_duration_s",
           "threads_per_worker", "transcribe_job", "trim_heap"]

logger = logging.getLogger("callqa.batch")


class BatchAbort(CallqaError):
    """The batch cannot go on (e.g. the model does not load in the workers): exit code 2."""


def default_workers(cores: int | None = None) -> int:
    """Local ASR workers when ``--workers`` is not given: one per core, at most two. On two
    cores, two single-threaded workers beat one with two threads (one worker's single-threaded
    steps — VAD, word alignment, Python — leave a core idle) and the batch stays within 1.5 GB;
    each further worker is another copy of the model, ~0.5 GB (docs/benchmarks.md)."""
    return max(1, min(2, cores or available_cores()))


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """CPU threads per worker so that ``workers × threads`` does not exceed the cores."""
    return max(1, (cores or available_cores()) // max(1, workers))


_worker: dict[str, Any] = {}


def trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc keeps them otherwise: a worker would sit at
    its per-call peak between calls, and the peaks of all workers would add up)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def init_worker(asr: dict[str, Any], threads: int) -> None:
    """Pool initializer: thread limits first, then load the model once for this process."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    from threadpoolctl import threadpool_limits

    # The variables come too late for the BLAS/OpenMP pools already loaded (numpy's, imported
    # with this module): limit those too, so that every executor computes the same way (a
    # thread count changes float sums, and so now and then a decoded word).
    threadpool_limits(threads)
    try:
        from callqa.asr.pipeline import AsrOptions, load_recognizer

        options = AsrOptions(**{**asr, "hotwords": tuple(asr.get("hotwords") or ()),
                                "cpu_threads": threads})
        load_recognizer(options)  # the model loads once per worker, before the first call
        _worker["options"] = options
    except Exception as exc:  # reported with the first job: the parent stops the batch
        _worker["fatal"] = str(exc)
    trim_heap()


def probe_duration_s(path: str) -> float | None:
    """The length of a recording from its header (no decoding); None when unknown."""
    try:
        import soundfile as sf

        return float(sf.info(path).duration)
    except Exception:
        pass
    try:
        import av

        with av.open(path, metadata_errors="ignore") as container:
            if container.duration:
                return container.duration / 1_000_000
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is not None and stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except Exception:
        pass
    return None


def transcribe_job(job: dict[str, Any]) -> dict[str, Any]:
    """Worker: one call → ``{"transcript": dict, ...}`` or ``{"error": str}``.

    The audio is read from ``job["path"]``, or from ``job["audio"]`` (the file's bytes, for
    workers that do not see the driver's storage), written to a private temporary file with the
    same name; errors still name the original path.
    """
    try:
        if job.get("audio") is None:
            return _transcribe(job)
        with tempfile.TemporaryDirectory(prefix="callqa-audio-") as tmp:
            local = Path(tmp) / "agent" / Path(job["path"]).name
            local.parent.mkdir()
            local.write_bytes(job["audio"])
            local_job = {**job, "path": str(local), "audio": None}
            if job.get("customer_audio") is not None:
                leg = Path(tmp) / "customer" / Path(job["customer_path"]).name
                leg.parent.mkdir()
                leg.write_bytes(job["customer_audio"])
                local_job.update(customer_path=str(leg), customer_audio=None)
            out = _transcribe(local_job)
            if "error" in out:
                out["error"] = out["error"].replace(str(local), job["path"])
                if job.get("customer_path"):
                    out["error"] = out["error"].replace(local_job["customer_path"],
                                                        job["customer_path"])
            return out
    finally:
        trim_heap()


def _transcribe(job: dict[str, Any]) -> dict[str, Any]:
    if "fatal" in _worker:
        return {"fatal": _worker["fatal"]}
    from callqa.asr.pipeline import transcribe_call

    path = job["path"]
    started = time.perf_counter()
    try:
        duration = probe_duration_s(path)
        if duration is not None and duration > job["max_duration_s"]:
            return {"error": f"{path}: recording is {duration / 60:.1f} min long; the limit is "
                             f"{job['max_duration_s'] / 60:.1f} min (--max-duration-s)"}
        options = replace(_worker["options"], agent_channel=job["agent_channel"])
        transcript = transcribe_call(path, options, agent_id=job["agent_id"],
                                     call_id=job["call_id"], use_cache=False,
                                     customer=job.get("customer_path"),
                                     offset_s=job.get("offset_s", 0.0))
        if transcript.duration > job["max_duration_s"]:
            return {"error": f"{path}: recording is {transcript.duration / 60:.1f} min long; "
                             f"the limit is {job['max_duration_s'] / 60:.1f} min"}
    except ModelError as exc:
        return {"fatal": str(exc)}
    except CallqaError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": f"{path}: out of memory while transcribing"}
    except Exception as exc:  # one bad file must not stop the batch
        logger.exception("transcribing %s failed", path)
        return {"error": f"{path}: {type(exc).__name__}: {exc}"}
    from callqa.asr.whisper import models

    return {"transcript": transcript.to_dict(),
            "asr_seconds": round(time.perf_counter() - started, 3),
            "pid": os.getpid(), "model_loads": models.load_count}
