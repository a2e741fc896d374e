"""The ``callqa`` command line: thin typer commands over the library.

Project exceptions (:class:`callqa.errors.CallqaError`) are raised inside and turned into an
error line on stderr and an exit code only here, at the edge. Exit codes: 0 ok, 1 the input was
processed but something failed (a finding-free verdict is still 0), 2 usage or configuration error.
"""

from __future__ import annotations

import sys

import typer

from callqa import __version__
from callqa.errors import CallqaError

app = typer.Typer(
    name="callqa",
    help="Score call-etiquette compliance of Mandarin customer-service phone calls.",
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"callqa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """callqa: transcribe calls, check them against an etiquette rulebook, report per agent."""


def fail(exc: CallqaError) -> "typer.Exit":
    """Print a project error as one line naming the file, and return the Exit to raise."""
    typer.echo(f"callqa: error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


# Command modules register themselves on ``app`` when imported.
from callqa.cli import batch as _batch  # noqa: E402,F401
from callqa.cli import rules as _rules  # noqa: E402,F401
from callqa.cli import score as _score  # noqa: E402,F401
from callqa.cli import transcribe as _transcribe  # noqa: E402,F401
from callqa.cli import review as _review  # noqa: E402,F401
from callqa.cli import report as _report  # noqa: E402,F401
from callqa.cli import serve as _serve  # noqa: E402,F401
from callqa.cli import purge as _purge  # noqa: E402,F401


def main() -> None:
    try:
        app()
    except CallqaError as exc:  # anything a command did not translate itself
        typer.echo(f"callqa: error: {exc}", err=True)
        sys.exit(exc.exit_code)
