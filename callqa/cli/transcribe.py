"""``callqa transcribe``: one recording → transcript JSON (the input of ``callqa score -t``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from callqa.cli import app, fail
from callqa.cli.options import AgentOpt, AsrArgs, NoCacheOpt, asr_options
from callqa.errors import CallqaError

__all__ = ["transcribe"]


@app.command("transcribe")
@asr_options
def transcribe(
    call: Annotated[Path, typer.Argument(help="Call recording (wav/flac/ogg/mp3/m4a).")],
    out: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Write the transcript JSON here (default: stdout).")] = None,
    agent: AgentOpt = None,
    rules: Annotated[Optional[Path], typer.Option(
        "--rules", "-r", help="Rulebook whose vocabulary: joins the hotwords, and whose phrases "
                              "no hotword may contain (default: rules/default.yaml).")] = None,
    no_cache: NoCacheOpt = False,
    *,
    asr: AsrArgs,
) -> None:
    """Transcribe one call: VAD turns per channel, words from Whisper, as transcript JSON.

    Stereo: agent on the left channel unless --agent-channel right; line echo between the
    channels is removed first. Mono: one voice is the agent alone; two voices are attributed
    to agent and customer, or marked "roles uncertain" (a note on stderr says which);
    --mono agent takes any mono recording as the agent alone.
    Progress goes to stderr; stdout carries only the JSON. Exit 0 on success, 1 when the
    audio cannot be used, 2 on a usage, model or rulebook error.
    """
    from callqa.asr.pipeline import transcribe_call
    from callqa.transcript import save_transcript

    try:
        from callqa.scoring import load_rulebook

        # Always the rulebook (default when --rules is not given): its vocabulary joins the
        # hotwords, and no hotword may hold a phrase its rules check.
        rulebook = load_rulebook(rules)
        options = asr.options(rulebook)
        transcript = transcribe_call(call, options, agent_id=agent, use_cache=not no_cache,
                                     progress=sys.stderr.isatty())
    except CallqaError as exc:
        raise fail(exc) from None
    if transcript.roles in ("separated", "uncertain"):
        for note in transcript.notes:
            typer.echo(f"{call}: {note}", err=True)
    if out is None:
        typer.echo(json.dumps(transcript.to_dict(), ensure_ascii=False, indent=1))
    else:
        save_transcript(transcript, out)
        n = len(transcript.utterances)
        typer.echo(f"{out}: {n} utterances, {transcript.duration:.1f} s", err=True)
