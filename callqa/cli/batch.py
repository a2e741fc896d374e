"""``callqa batch``: a directory of recordings → transcripts, results and a state database."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from callqa.batch.desks import assign_desks, load_desks, load_rulebooks
from callqa.batch.discover import DEFAULT_AGENT_PATTERN, discover
from callqa.batch.runner import DEFAULT_MAX_DURATION_S, BatchOptions, run_batch
from callqa.batch.worker import default_workers
from callqa.batch.store import DEFAULT_OUT_DIR, Store, lock_output
from callqa.cli import app, fail
from callqa.cli.options import AsrArgs, Device, asr_options
from callqa.errors import CallqaError

__all__ = ["Executor", "batch"]


class Executor(str, Enum):
    local = "local"
    ray = "ray"



@app.command("batch")
@asr_options
def batch(
    recordings_dir: Path = typer.Argument(
        ..., help="Directory tree of recordings (wav/flac/ogg/mp3/m4a)."),
    manifest: Optional[Path] = typer.Option(
        None, "--manifest",
        help="CSV with columns path, call_id, agent_id, agent_channel, started_at, desk."),
    out: Path = typer.Option(DEFAULT_OUT_DIR, "--out", "-o",
                             help="Output directory (callqa.db, transcripts/, results/)."),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-w", min=1,
        help="ASR workers, each loads the model once and uses cores/N threads (default: one "
             "per core, at most 2; with Ray, as many actors as the cluster holds)."),
    rules: Optional[Path] = typer.Option(None, "--rules", "-r",
                                         help="Rulebook YAML (default: rules/default.yaml)."),
    desks: Optional[Path] = typer.Option(
        None, "--desks", help="YAML file giving each desk its rulebook and folders; a manifest "
                              "'desk' column picks a call's desk (docs/batch.md)."),
    force: bool = typer.Option(False, "--force", help="Redo ASR and scoring for every call."),
    agent_pattern: str = typer.Option(
        DEFAULT_AGENT_PATTERN, "--agent-pattern",
        help="Regex with a group (?P<agent>...), searched in the path relative to "
             "RECORDINGS_DIR, for calls the manifest gives no agent_id."),
    max_duration_s: float = typer.Option(DEFAULT_MAX_DURATION_S, "--max-duration-s", min=1,
                                         help="Longer recordings fail instead of being "
                                              "transcribed."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Progress bar on stderr."),
    executor: Executor = typer.Option(
        Executor.local, "--executor",
        help="Where the ASR workers run: local processes, or Ray actors (pip install "
             "'callqa[ray]'; docs/scaling.md)."),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="Ray cluster to use (HOST:PORT of the head, or auto); "
                                    "default: RAY_ADDRESS, else a private local instance."),
    ray_num_cpus: Optional[float] = typer.Option(
        None, "--ray-num-cpus", min=0, help="CPUs per Ray actor, also its ASR threads "
                                            "(default 1)."),
    ray_num_gpus: Optional[float] = typer.Option(
        None, "--ray-num-gpus", min=0, help="GPUs per Ray actor (default: 1 with --device "
                                            "cuda, else 0)."),
    ray_ship_audio: bool = typer.Option(
        False, "--ray-ship-audio", help="Send the recordings' bytes to the Ray actors "
                                        "(storage not shared with the cluster)."),
    *,
    asr: AsrArgs,
) -> None:
    """Transcribe and score every call under RECORDINGS_DIR, resumably.

    Re-running skips finished calls; a changed rulebook re-scores from the stored transcripts
    without ASR (unless its vocabulary, which biases the ASR like --hotwords, changed).
    --agent-channel applies to calls the manifest says nothing about. Exit 0 when every call
    is scored, 1 when some failed (listed on stderr and in the database), 2 on a usage or
    configuration error, 4 when another callqa batch is writing to the same --out (the message
    names its pid, host and start time; nothing was done).
    """
    from callqa.scoring import load_rulebook  # the engine loads with the command, not the CLI

    try:
        ray = _ray_options(executor, ray_address, ray_num_cpus, ray_num_gpus, ray_ship_audio,
                           asr.device)
        rulebook = load_rulebook(rules)
        desk_map = load_desks(desks) if desks else None
        desk_rulebooks = load_rulebooks(desk_map, rulebook)
        calls = assign_desks(discover(recordings_dir, manifest, agent_pattern), recordings_dir,
                             desk_map)
        # The same ASR options as `callqa score`: the rulebook's vocabulary joins --hotwords
        # (every desk's rulebook's, each checked against its own phrases).
        books = {id(rb): rb for rb in [rulebook, *desk_rulebooks.values()]}.values()
        each = [asr.options(rb) for rb in books]
        asr_settings = replace(each[0], hotwords=tuple(dict.fromkeys(
            h for o in each for h in o.hotwords)))
        options = BatchOptions(workers=workers or (0 if ray else default_workers()), force=force,
                               max_duration_s=max_duration_s, asr=asr_settings, ray=ray)
        with lock_output(out), Store.open(out) as store:
            summary = run_batch(calls, store, rulebook, options, progress=progress,
                                desks=desk_rulebooks)
    except CallqaError as exc:
        raise fail(exc) from None
    for f in summary.failures:
        typer.echo(f"callqa: failed: {f['error']}", err=True)
    typer.echo(f"callqa batch: {summary.line()}", err=True)
    raise typer.Exit(summary.exit_code)


def _ray_options(executor: Executor, address: Optional[str], num_cpus: Optional[float],
                 num_gpus: Optional[float], ship_audio: bool, device: Device):
    """``RayOptions`` for ``--executor ray``; None for local (where --ray-* is an error)."""
    if executor is Executor.local:
        given = [name for name, value in (("--ray-address", address), ("--ray-num-cpus", num_cpus),
                                          ("--ray-num-gpus", num_gpus),
                                          ("--ray-ship-audio", ship_audio or None))
                 if value is not None]
        if given:
            raise CallqaError(given[0], "only applies with --executor ray")
        return None
    from callqa.batch.ray_executor import RayOptions, import_ray

    import_ray()  # a usage error now, not after the planning
    return RayOptions(address=address, num_cpus=1.0 if num_cpus is None else num_cpus,
                      num_gpus=(1.0 if device is Device.cuda else 0.0) if num_gpus is None
                      else num_gpus, ship_audio=ship_audio)
