"""``callqa purge``: remove transcripts, review pages and cached audio past their retention,
keeping scores, findings (personal data masked) and reviews.

Exit codes: 0 done (or nothing to do), 2 usage or configuration error, 4 a batch is writing to
the same ``--out``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Optional

import typer

from callqa.batch.store import DB_NAME, DEFAULT_OUT_DIR, EXIT_LOCKED, OutputLocked, lock_output
from callqa.cli import app, fail
from callqa.errors import CallqaError
from callqa.privacy.policy import policy_for
from callqa.privacy.retention import purge as run_purge

__all__ = ["parse_age", "purge"]

_AGE = re.compile(r"^\s*(\d+)\s*(d|w)?\s*$")


def parse_age(text: str) -> timedelta:
    """``90d``, ``12w`` or ``90`` (days)."""
    m = _AGE.match(text)
    if not m or int(m.group(1)) < 1:
        raise ValueError(text)
    return timedelta(days=int(m.group(1)) * (7 if m.group(2) == "w" else 1))


@app.command("purge")
def purge(
    out: Path = typer.Option(DEFAULT_OUT_DIR, "--out", "-o",
                             help="Batch output directory (the one given to callqa batch)."),
    older_than: Optional[str] = typer.Option(
        None, "--older-than", metavar="AGE",
        help="Purge calls older than this: 90d, 12w (default: the privacy policy's "
             "retention_days, 90)."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="Configuration with the privacy: section (default: "
                               "OUT/callqa.yaml)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; remove nothing."),
) -> None:
    """Remove what retention no longer allows: transcripts, review pages (they show the
    transcript), redacted recordings and cached transcripts of calls older than AGE. Scores,
    findings (with personal data masked) and reviews are kept, so agents' history survives;
    the recordings themselves are not touched. Prints each file removed on stdout."""
    if not (out / DB_NAME).is_file():
        typer.echo(f"callqa: error: {out}: no batch store here ({DB_NAME} missing)", err=True)
        raise typer.Exit(2)
    try:
        policy = policy_for(out, config)
        if older_than is not None:
            age = parse_age(older_than)
        elif policy.retention_days is not None:
            age = timedelta(days=policy.retention_days)
        else:
            typer.echo(f"callqa purge: nothing to do: {policy.source} keeps everything "
                       "(retention_days: null)", err=True)
            return
    except ValueError:
        typer.echo(f"callqa: error: --older-than: not an age: {older_than!r} (90d, 12w)",
                   err=True)
        raise typer.Exit(2) from None
    except CallqaError as exc:
        raise fail(exc) from None
    try:
        with lock_output(out):
            done = run_purge(out, age, dry_run=dry_run)
    except OutputLocked as exc:
        typer.echo(f"callqa: error: {exc}", err=True)
        raise typer.Exit(EXIT_LOCKED) from None
    if done.nothing_to_do:
        typer.echo(f"callqa purge: nothing to do: no call before {done.cutoff:%Y-%m-%d} has "
                   "a transcript, review page or cached audio left", err=True)
        return
    for path in done.removed:
        typer.echo(str(path))
    verb = "would purge" if dry_run else "purged"
    typer.echo(f"callqa purge: {verb} {len(done.calls)} calls before {done.cutoff:%Y-%m-%d}: "
               f"{len(done.removed)} files; {done.results_kept} results kept without their "
               "transcript (scores, findings masked, reviews unchanged)", err=True)
