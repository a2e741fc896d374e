"""``callqa score``: one call (a recording, or a transcript JSON) → findings and a score."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from callqa.cli import app, fail
from callqa.errors import CallqaError
from callqa.report.text import finding_line, timeline
from callqa.result import CallResult
from callqa.scoring import Scorer, load_rulebook
from callqa.transcript import load_transcript


class Format(str, Enum):
    json = "json"
    text = "text"


def print_result(result: CallResult, fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        typer.echo(timeline(result))


def score_one(transcript_path: Path, rules: Optional[Path]) -> CallResult:
    rulebook = load_rulebook(rules)
    return Scorer(rulebook).score(load_transcript(transcript_path))


@app.command("score")
def score(
    call: Optional[Path] = typer.Argument(None, help="Call recording (wav/flac/ogg/mp3/m4a)."),
    transcript: Optional[Path] = typer.Option(
        None, "--transcript", "-t", help="Score a transcript JSON instead of a recording (no ASR)."),
    rules: Optional[Path] = typer.Option(None, "--rules", "-r",
                                         help="Rulebook YAML (default: rules/default.yaml)."),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="json or text."),
) -> None:
    """Score one call. Exit 0 when the call was scored (whatever the verdict), 1 when the input
    could not be processed, 2 on a usage or rulebook error."""
    if (call is None) == (transcript is None):
        typer.echo("callqa: error: give a CALL recording or --transcript FILE.json (one)", err=True)
        raise typer.Exit(2)
    try:
        result = score_one(transcript, rules) if transcript else None
    except CallqaError as exc:
        raise fail(exc) from None
    if result is None:
        typer.echo("callqa: error: scoring recordings needs callqa.asr", err=True)
        raise typer.Exit(2)
    print_result(result, fmt)


__all__ = ["Format", "finding_line", "print_result", "score"]
