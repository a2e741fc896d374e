"""``callqa score``: one call (a recording, or a transcript JSON) → findings and a score.

Also holds :func:`score_call`, the one way every single-call command (score, explain, review)
turns its CALL / --transcript arguments into a result.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from callqa.cli import app, fail
from callqa.cli.options import AgentOpt, AsrArgs, NoCacheOpt, asr_options
from callqa.errors import CallqaError
from callqa.report.text import timeline
from callqa.result import CallResult
from callqa.transcript import load_transcript

if TYPE_CHECKING:  # the scoring engine loads when a call is scored, not with the CLI
    from callqa.scoring import Rulebook

__all__ = ["Format", "print_result", "score", "score_call"]


class Format(str, Enum):
    json = "json"
    text = "text"


def print_result(result: CallResult, fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    elif result.unscored is not None:
        # no conversation to score: say why, and show what was heard
        typer.echo(f"{result.call_id} 坐席 {result.agent_id or '未知'}  未评分 NOT SCORED: "
                   f"{result.unscored}  (时长 {result.duration:.1f} 秒)")
        for u in result.utterances:
            typer.echo(f"{u.start:7.1f}–{u.end:7.1f} {u.speaker}: {u.text}")
    else:
        typer.echo(timeline(result))


def score_call(call: Optional[Path], transcript: Optional[Path], rules: Optional[Path],
               asr: AsrArgs | None = None, *, agent_id: Optional[str] = None,
               use_cache: bool = True, customer: Optional[Path] = None,
               offset_s: float = 0.0) -> tuple[CallResult, Rulebook]:
    """Score one call from its transcript JSON, or from its recording through the ASR (with
    ``customer``: ``call`` is the agent's leg, ``customer`` the customer's, ``offset_s`` after).

    Errors are printed as one line naming the file and raised as ``typer.Exit`` (1 for audio
    that cannot be used, 2 for usage, transcript, model or rulebook errors)."""
    if call is None and transcript is None:
        typer.echo("callqa: error: give a CALL recording or --transcript FILE.json", err=True)
        raise typer.Exit(2)
    from callqa.scoring import Scorer, load_rulebook

    matcher = None  # built by the Scorer, unless loaded beside the ASR
    try:
        rulebook = load_rulebook(rules)
        if transcript is not None:
            t = load_transcript(transcript)
        else:
            # every command's ASR options go through the rulebook (its vocabulary, the hotword
            # check): a usage error is said before the file is looked at
            options = (asr or AsrArgs()).options(rulebook)
            for given in (call, customer):
                if given is not None and not given.is_file():
                    typer.echo(f"callqa: error: {given}: no such file", err=True)
                    raise typer.Exit(2)
            from concurrent.futures import ThreadPoolExecutor

            from callqa.asr.pipeline import transcribe_call
            from callqa.scoring.engine import load_matching

            # jieba's dictionary and the sentence encoder load while the ASR runs (reading
            # files, no computing: the encoder's BLAS threads stay out of the ASR's way)
            with ThreadPoolExecutor(1, thread_name_prefix="callqa-scoring") as pool:
                loading = pool.submit(load_matching, rulebook)
                t = transcribe_call(call, options, agent_id=agent_id, use_cache=use_cache,
                                    progress=sys.stderr.isatty(), customer=customer,
                                    offset_s=offset_s)
            matcher = loading.result()
        if agent_id is not None:
            t.agent_id = agent_id
        return Scorer(rulebook, matcher).score(t), rulebook
    except CallqaError as exc:
        raise fail(exc) from None


@app.command("score")
@asr_options
def score(
    call: Optional[Path] = typer.Argument(
        None, help="Call recording (wav/flac/ogg/mp3/m4a); with --customer-file, the agent's leg."),
    customer_file: Optional[Path] = typer.Option(
        None, "--customer-file", help="The customer's leg of a call recorded as two mono files "
                                      "(CALL is then the agent's leg)."),
    offset_s: float = typer.Option(
        0.0, "--offset-s", help="Seconds after the agent's file that the customer's file starts "
                                "(negative: before). Only with --customer-file."),
    transcript: Optional[Path] = typer.Option(
        None, "--transcript", "-t", help="Score a transcript JSON instead of a recording (no ASR)."),
    rules: Optional[Path] = typer.Option(None, "--rules", "-r",
                                         help="Rulebook YAML (default: rules/default.yaml)."),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="json or text."),
    agent: AgentOpt = None,
    no_cache: NoCacheOpt = False,
    *,
    asr: AsrArgs,
) -> None:
    """Score one call: findings with evidence, score and verdict.

    Stereo recordings: agent on the left channel unless --agent-channel right. Two files
    (each leg recorded apart): CALL is the agent's, --customer-file the customer's, --offset-s
    how much later the customer's starts. Mono: one voice
    is the agent alone; two voices are attributed to agent and customer, or the call is marked
    "roles uncertain" and no phrase finding is charged; --mono agent takes it as the agent alone.
    Exit 0 when the call was scored (whatever the verdict), 1 when the recording cannot be used,
    2 on a usage, transcript, model or rulebook error.
    """
    if (call is None) == (transcript is None):
        typer.echo("callqa: error: give a CALL recording or --transcript FILE.json (one)", err=True)
        raise typer.Exit(2)
    if customer_file is not None and call is None:
        typer.echo("callqa: error: --customer-file needs CALL, the agent's leg", err=True)
        raise typer.Exit(2)
    if offset_s and customer_file is None:
        typer.echo("callqa: error: --offset-s only goes with --customer-file", err=True)
        raise typer.Exit(2)
    result, _ = score_call(call, transcript, rules, asr, agent_id=agent, use_cache=not no_cache,
                           customer=customer_file, offset_s=offset_s)
    print_result(result, fmt)
