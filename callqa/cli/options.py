"""The options every command that transcribes shares (score, transcribe, explain, review,
batch), declared once: :func:`asr_options` adds them to a command, which receives them as one
:class:`AsrArgs` and turns them into ``AsrOptions`` with :meth:`AsrArgs.options` — the
rulebook's vocabulary joins ``--hotwords``, and no hotword may hold a phrase a rule checks."""

from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from callqa.asr.recognizer import BACKENDS
from callqa.errors import CallqaError

__all__ = ["AgentChannel", "AgentOpt", "AsrArgs", "Device", "Mono", "NoCacheOpt", "asr_options",
           "split_hotwords"]


class AgentChannel(str, Enum):
    left = "left"
    right = "right"


class Mono(str, Enum):
    auto = "auto"
    agent = "agent"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


Backend = Enum("Backend", {name: name for name in BACKENDS}, type=str)  # type: ignore[misc]

NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="Neither read nor write the transcript cache.")]
AgentOpt = Annotated[Optional[str], typer.Option("--agent", help="Agent ID recorded with the call.")]


@dataclass(frozen=True)
class AsrArgs:
    """The shared ASR options as given on the command line (see :func:`asr_options`)."""

    agent_channel: Annotated[AgentChannel, typer.Option(
        "--agent-channel", help="Stereo channel of the agent; the other is the customer.")] \
        = AgentChannel.left
    mono: Annotated[Mono, typer.Option(
        "--mono", help="A mono recording: [b]auto[/b] finds one voice or two and attributes two "
                       "to agent and customer; [b]agent[/b] takes it as the agent alone (a "
                       "trainee's own recording).")] = Mono.auto
    backend: Annotated[Backend, typer.Option(  # type: ignore[valid-type]
        "--backend", help="The recogniser (docs/asr.md).")] = Backend("whisper")
    model: Annotated[str, typer.Option(
        "--model", "-m", help="[b]base[/b] (embedded whisper-base), a local CTranslate2 model "
                              "directory, or a faster-whisper model name (downloads: needs "
                              "internet).")] = "base"
    model_dir: Annotated[Optional[Path], typer.Option(
        "--model-dir", help="Where the embedded model is assembled "
                            "(default $XDG_CACHE_HOME/callqa/models/whisper-base).")] = None
    device: Annotated[Device, typer.Option("--device", help="cpu or cuda.")] = Device.cpu
    compute_type: Annotated[Optional[str], typer.Option(
        "--compute-type", help="CTranslate2 compute type (default int8 on CPU, float16 on "
                               "CUDA).")] = None
    hotwords: Annotated[Optional[list[str]], typer.Option(
        "--hotwords", help="Domain nouns to bias recognition towards (company, place, product "
                           "names), repeatable or comma-separated. Never the phrases rules "
                           "check.")] = None
    customer_beam: Annotated[int, typer.Option(
        "--customer-beam", min=0, max=10,
        help="Beam width for the customer's track (0: the agent's, 5). 1 costs ~8 % less "
             "CPU; the customer's words are a little less accurate (docs/benchmarks.md).")] = 0
    decoders: Annotated[int, typer.Option(
        "--decoders", min=0, max=16,
        help="A call's windows decoded in parallel, each by a replica of the model (0: two "
             "single-threaded ones on a machine with two or more cores; one per batch worker). "
             "Same words; a cold one-minute call ~1.6× faster (docs/benchmarks.md).")] = 0

    def options(self, rulebook: Any = None) -> Any:
        """``AsrOptions`` for these arguments. With ``rulebook``, its ``vocabulary:`` joins the
        hotwords and a hotword holding a phrase its rules listen for is a usage error (biasing
        the ASR toward it would fake compliance)."""
        from callqa.asr.pipeline import AsrOptions

        hotwords = split_hotwords(self.hotwords)
        vocabulary: tuple[str, ...] = ()
        if rulebook is not None:
            vocabulary = tuple(rulebook.vocabulary)
            biased = rulebook.biased_hotwords(hotwords)
            if biased:
                word, phrase = biased[0]
                raise CallqaError("--hotwords", f"{word!r} contains {phrase!r}, a phrase a rule "
                                                f"checks in {rulebook.path}: biasing the ASR "
                                                f"toward it would fake compliance")
        return AsrOptions(
            backend=_value(self.backend), model=self.model,
            model_dir=str(self.model_dir) if self.model_dir else None,
            device=_value(self.device), compute_type=self.compute_type,
            agent_channel=_value(self.agent_channel),
            hotwords=split_hotwords([*hotwords, *vocabulary]),
            customer_beam_size=self.customer_beam, decoders=self.decoders,
            separate_voices=_value(self.mono) == Mono.auto.value)


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def split_hotwords(values: Optional[list[str]] | tuple[str, ...]) -> tuple[str, ...]:
    words = []
    for value in values or ():
        words += [w for w in re.split(r"[,，、\s]+", value) if w]
    return tuple(dict.fromkeys(words))


_ASR_PARAMS = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                 annotation=f.type)
               for f in fields(AsrArgs)]


def asr_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared ASR options to a typer command; it receives them as ``asr: AsrArgs``."""
    import typing

    hints = typing.get_type_hints(AsrArgs, include_extras=True)
    params = [p.replace(annotation=hints[p.name]) for p in _ASR_PARAMS]
    sig = inspect.signature(command, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "asr"]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        asr = AsrArgs(**{p.name: kwargs.pop(p.name) for p in params})
        return command(asr=asr, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=[*own, *params])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in (*own, *params)}
    del wrapper.__wrapped__  # typer must read the new signature, not the command's
    return wrapper
