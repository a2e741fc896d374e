"""Project exceptions. Each names the file it is about; the CLI turns them into exit codes."""

from __future__ import annotations

__all__ = ["CallqaError", "RulebookError", "TranscriptError", "AudioError", "ModelError"]


class CallqaError(Exception):
    """Base class: a problem with the user's input or environment, reported without a traceback."""

    exit_code = 2

    def __init__(self, source: str, message: str, line: int | None = None):
        self.source = source
        self.message = message
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


class RulebookError(CallqaError):
    """A rulebook that does not load or validate (``FILE:LINE: message``)."""


class TranscriptError(CallqaError):
    """A transcript JSON file that cannot be read or does not follow the schema."""


class AudioError(CallqaError):
    """A recording that cannot be decoded, is empty, or has an unsupported channel layout."""

    exit_code = 1


class ModelError(CallqaError):
    """The ASR model cannot be found, assembled or loaded."""
