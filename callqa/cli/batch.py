"""``callqa batch``: a directory of recordings → transcripts, results and a state database."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from callqa.batch.discover import DEFAULT_AGENT_PATTERN, discover
from callqa.batch.runner import DEFAULT_MAX_DURATION_S, BatchOptions, run_batch
from callqa.batch.store import DEFAULT_OUT_DIR, Store
from callqa.cli import app, fail
from callqa.cli.transcribe import (AgentChannel, AgentChannelOpt, ComputeTypeOpt, Device,
                                   DeviceOpt, HotwordsOpt, ModelDirOpt, ModelOpt,
                                   asr_options_from_cli)
from callqa.errors import CallqaError
from callqa.scoring import load_rulebook

__all__ = ["batch"]


@app.command("batch")
def batch(
    recordings_dir: Path = typer.Argument(
        ..., help="Directory tree of recordings (wav/flac/ogg/mp3/m4a)."),
    manifest: Optional[Path] = typer.Option(
        None, "--manifest",
        help="CSV with columns path, call_id, agent_id, agent_channel, started_at."),
    out: Path = typer.Option(DEFAULT_OUT_DIR, "--out", "-o",
                             help="Output directory (callqa.db, transcripts/, results/)."),
    workers: int = typer.Option(1, "--workers", "-w", min=1,
                                help="ASR worker processes (each loads the model once)."),
    rules: Optional[Path] = typer.Option(None, "--rules", "-r",
                                         help="Rulebook YAML (default: rules/default.yaml)."),
    force: bool = typer.Option(False, "--force", help="Redo ASR and scoring for every call."),
    agent_pattern: str = typer.Option(
        DEFAULT_AGENT_PATTERN, "--agent-pattern",
        help="Regex with a group (?P<agent>...), searched in the path relative to "
             "RECORDINGS_DIR, for calls the manifest gives no agent_id."),
    model: ModelOpt = "base",
    model_dir: ModelDirOpt = None,
    device: DeviceOpt = Device.cpu,
    compute_type: ComputeTypeOpt = None,
    agent_channel: AgentChannelOpt = AgentChannel.left,
    hotwords: HotwordsOpt = None,
    max_duration_s: float = typer.Option(DEFAULT_MAX_DURATION_S, "--max-duration-s", min=1,
                                         help="Longer recordings fail instead of being "
                                              "transcribed."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Progress bar on stderr."),
) -> None:
    """Transcribe and score every call under RECORDINGS_DIR, resumably.

    Re-running skips finished calls; a changed rulebook re-scores from the stored transcripts
    without ASR (unless its vocabulary, which biases the ASR like --hotwords, changed).
    --agent-channel applies to calls the manifest says nothing about. Exit 0 when every call
    is scored, 1 when some failed (listed on stderr and in the database), 2 on a usage or
    configuration error.
    """
    try:
        rulebook = load_rulebook(rules)
        calls = discover(recordings_dir, manifest, agent_pattern)
        # The same ASR options as `callqa score`: the rulebook's vocabulary joins --hotwords.
        asr = asr_options_from_cli(model, model_dir, device, compute_type, agent_channel,
                                   hotwords, rulebook=rulebook)
        options = BatchOptions(workers=workers, force=force, max_duration_s=max_duration_s,
                               asr=asr)
        with Store.open(out) as store:
            summary = run_batch(calls, store, rulebook, options, progress=progress)
    except CallqaError as exc:
        raise fail(exc) from None
    for f in summary.failures:
        typer.echo(f"callqa: failed: {f['error']}", err=True)
    typer.echo(f"callqa batch: {summary.line()}", err=True)
    raise typer.Exit(summary.exit_code)
