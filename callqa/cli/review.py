"""``callqa explain`` and ``callqa review``: one call as a trainer sees it, in the terminal or as
a self-contained review page with the recording."""

from __future__ import annotations

import os
import tempfile
import webbrowser
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from callqa.cli import app, fail
from callqa.cli.options import AgentOpt, AsrArgs, asr_options
from callqa.cli.score import score_call
from callqa.errors import CallqaError
from callqa.report.explain import print_explain
from callqa.report.review import render_review
from callqa.report.text import verdict_text

__all__ = ["AudioMode", "explain", "review"]


class AudioMode(str, Enum):
    embed = "embed"
    link = "link"


_CALL_HELP = "Call recording (wav/flac/ogg/mp3/m4a): transcribed unless --transcript is given, " \
             "and played on the review page."
_TRANSCRIPT_HELP = "Use this transcript JSON instead of running the ASR on CALL."
_RULES_HELP = "Rulebook YAML (default: rules/default.yaml)."


@app.command("explain")
@asr_options
def explain(
    call: Optional[Path] = typer.Argument(None, help=_CALL_HELP, show_default=False),
    transcript: Optional[Path] = typer.Option(None, "--transcript", "-t", help=_TRANSCRIPT_HELP),
    rules: Optional[Path] = typer.Option(None, "--rules", "-r", help=_RULES_HELP),
    open_page: bool = typer.Option(
        False, "--open", help="Also write the review page to a temporary file and open it in "
                              "the default browser (the recording is embedded)."),
    agent: AgentOpt = None,
    *,
    asr: AsrArgs,
) -> None:
    """Show one call for a trainer: timeline, findings in place, what would raise the score.

    Each finding shows its message, the standard it enforces and the phrasing it recommends.

    Then: the score, the pass mark, and per failed rule the points lost and the score if followed.

    Exit codes: 0 explained (whatever the verdict), 1 undecodable recording, 2 usage/input error.
    """
    result, rulebook = score_call(call, transcript, rules, asr, agent_id=agent)
    print_explain(result, rulebook)
    if open_page:
        fd, name = tempfile.mkstemp(prefix=f"callqa-{result.call_id}-", suffix=".html")
        os.close(fd)  # kept after exit: the browser reads it later
        try:
            page = render_review(result, call, Path(name), "embed", rulebook)
        except CallqaError as exc:
            raise fail(exc) from None
        typer.echo(f"review page: {page}", err=True)
        if not webbrowser.open(page.resolve().as_uri()):
            typer.echo("callqa: no browser could be opened; open the file above yourself",
                       err=True)


@app.command("review")
@asr_options
def review(
    call: Optional[Path] = typer.Argument(None, help=_CALL_HELP, show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="The HTML page to write."),
    transcript: Optional[Path] = typer.Option(None, "--transcript", "-t", help=_TRANSCRIPT_HELP),
    rules: Optional[Path] = typer.Option(None, "--rules", "-r", help=_RULES_HELP),
    audio: AudioMode = typer.Option(
        AudioMode.embed, "--audio",
        help="embed: the recording inside the page (one self-contained file); link: a path "
             "relative to the page (keep them together)."),
    agent: AgentOpt = None,
    *,
    asr: AsrArgs,
) -> None:
    """Write a self-contained review page for one call (audio, timeline, findings).

    Audio player, two-column agent/customer timeline with findings highlighted, findings panel.

    A click on an utterance or a finding plays the recording from there. No network assets.

    Exit codes: 0 page written, 1 unreadable recording, 2 usage/transcript/rulebook error.
    """
    if audio is AudioMode.link and call is None:
        typer.echo("callqa: error: --audio link needs the CALL recording", err=True)
        raise typer.Exit(2)
    result, rulebook = score_call(call, transcript, rules, asr, agent_id=agent)
    try:
        page = render_review(result, call, output, audio.value, rulebook)
    except CallqaError as exc:
        raise fail(exc) from None
    typer.echo(f"{page}: {result.call_id} {verdict_text(result)}, "
               f"{len(result.findings)} findings", err=True)
