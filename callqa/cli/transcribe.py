"""``callqa transcribe``: one recording → transcript JSON (the input of ``callqa score -t``).

Also holds the ASR options shared by every command that transcribes (``score``, ``review``,
``batch``): declare them with the ``*Opt`` annotated types below and build the options with
:func:`asr_options_from_cli`.
"""

from __future__ import annotations

import json
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from callqa.cli import app, fail
from callqa.errors import CallqaError

__all__ = ["AgentChannel", "Device", "ModelOpt", "ModelDirOpt", "DeviceOpt", "ComputeTypeOpt",
           "AgentChannelOpt", "HotwordsOpt", "Mono", "MonoOpt", "NoCacheOpt", "AgentOpt", "asr_options_from_cli",
           "transcribe"]


class AgentChannel(str, Enum):
    left = "left"
    right = "right"


class Mono(str, Enum):
    auto = "auto"
    agent = "agent"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help="[b]base[/b] (embedded whisper-base), a local CTranslate2 model "
                          "directory, or a faster-whisper model name (downloads: needs internet).")]
ModelDirOpt = Annotated[Optional[Path], typer.Option(
    "--model-dir", help="Where the embedded model is assembled "
                        "(default $XDG_CACHE_HOME/callqa/models/whisper-base).")]
DeviceOpt = Annotated[Device, typer.Option("--device", help="cpu or cuda.")]
ComputeTypeOpt = Annotated[Optional[str], typer.Option(
    "--compute-type", help="CTranslate2 compute type (default int8 on CPU, float16 on CUDA).")]
AgentChannelOpt = Annotated[AgentChannel, typer.Option(
    "--agent-channel", help="Stereo channel of the agent; the other is the customer.")]
MonoOpt = Annotated[Mono, typer.Option(
    "--mono", help="A mono recording: [b]auto[/b] finds one voice or two and attributes two to "
                   "agent and customer; [b]agent[/b] takes it as the agent alone (a trainee's "
                   "own recording).")]
HotwordsOpt = Annotated[Optional[list[str]], typer.Option(
    "--hotwords", help="Domain nouns to bias recognition towards (company, place, product "
                       "names), repeatable or comma-separated. Never the phrases rules check.")]
NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="Neither read nor write the transcript cache.")]
AgentOpt = Annotated[Optional[str], typer.Option("--agent", help="Agent ID recorded with the call.")]


def split_hotwords(values: Optional[list[str]]) -> tuple[str, ...]:
    words = []
    for value in values or ():
        words += [w for w in re.split(r"[,，、\s]+", value) if w]
    return tuple(dict.fromkeys(words))


def asr_options_from_cli(model: str = "base", model_dir: Optional[Path] = None,
                         device: Device | str = Device.cpu, compute_type: Optional[str] = None,
                         agent_channel: AgentChannel | str = AgentChannel.left,
                         hotwords: Optional[list[str]] | tuple[str, ...] = None,
                         vocabulary: tuple[str, ...] = (), rulebook=None,
                         mono: Mono | str = Mono.auto):
    """Build :class:`callqa.asr.pipeline.AsrOptions` from the shared CLI options (and a
    rulebook's ``vocabulary:``, which is added to ``--hotwords``).

    With ``rulebook``, its vocabulary is used and every hotword is checked against the phrases
    its rules listen for: a hotword holding one raises :class:`CallqaError` (exit 2)."""
    from callqa.asr.pipeline import AsrOptions

    if rulebook is not None:
        vocabulary = tuple(rulebook.vocabulary)
        biased = rulebook.biased_hotwords(split_hotwords(list(hotwords or ())))
        if biased:
            word, phrase = biased[0]
            raise CallqaError("--hotwords", f"{word!r} contains {phrase!r}, a phrase rule "
                                            f"checks in {rulebook.path}: biasing the ASR toward "
                                            f"it would fake compliance")
    return AsrOptions(
        model=model,
        model_dir=str(model_dir) if model_dir else None,
        device=getattr(device, "value", device),
        compute_type=compute_type,
        agent_channel=getattr(agent_channel, "value", agent_channel),
        hotwords=split_hotwords(list(hotwords or ()) + list(vocabulary)),
        separate_voices=getattr(mono, "value", mono) == Mono.auto.value,
    )


@app.command("transcribe")
def transcribe(
    call: Annotated[Path, typer.Argument(help="Call recording (wav/flac/ogg/mp3/m4a).")],
    out: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Write the transcript JSON here (default: stdout).")] = None,
    agent: AgentOpt = None,
    agent_channel: AgentChannelOpt = AgentChannel.left,
    mono: MonoOpt = Mono.auto,
    model: ModelOpt = "base",
    model_dir: ModelDirOpt = None,
    device: DeviceOpt = Device.cpu,
    compute_type: ComputeTypeOpt = None,
    hotwords: HotwordsOpt = None,
    rules: Annotated[Optional[Path], typer.Option(
        "--rules", "-r", help="Rulebook whose vocabulary: joins the hotwords, and whose phrases "
                              "no hotword may contain (default: rules/default.yaml).")] = None,
    no_cache: NoCacheOpt = False,
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
        options = asr_options_from_cli(model, model_dir, device, compute_type, agent_channel,
                                       hotwords, rulebook=rulebook, mono=mono)
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
