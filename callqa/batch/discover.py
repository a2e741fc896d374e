"""Finding the calls of a batch: a directory tree of recordings, an optional manifest CSV, and
a filename pattern for the agent id.

Every recording under the directory (``.wav .flac .ogg .mp3 .m4a``, any depth, any case) is a
call. A manifest row adds what the file name cannot say; a manifest row whose file is missing is
still a call (it fails as unreadable, it is not dropped). Without a manifest value, the agent id
comes from :data:`DEFAULT_AGENT_PATTERN` (or ``--agent-pattern``) searched in the path relative
to the directory, and ``started_at`` from the file's mtime.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from callqa.batch.store import mtime_iso
from callqa.errors import CallqaError

__all__ = ["AUDIO_SUFFIXES", "DEFAULT_AGENT_PATTERN", "MANIFEST_COLUMNS", "BatchInputError",
           "CallSpec", "compile_agent_pattern", "discover", "read_manifest"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
MANIFEST_COLUMNS = ("path", "call_id", "agent_id", "agent_channel", "started_at", "desk",
                    "customer_path", "customer_offset_s")

#: A path component that starts with letters followed by digits and ends at ``_``, ``-`` or
#: ``/``: ``A001_20261121_0001.flac`` → ``A001``, ``A001/0001.wav`` → ``A001``,
#: ``2026-11-21/A001-0003.wav`` → ``A001``; ``call_01.wav`` or ``0001.wav`` → no agent.
DEFAULT_AGENT_PATTERN = r"(?:^|/)(?P<agent>[A-Za-z]{1,8}\d{1,8})(?=[_/-])"


class BatchInputError(CallqaError):
    """A missing recordings directory, a bad manifest (``FILE:LINE``) or a bad pattern."""


@dataclass(frozen=True)
class CallSpec:
    """One call to process.

    Attributes:
        call_id: unique in the batch: the manifest's, else the file stem (or the relative path
            with ``/`` → ``__`` when two files share a stem).
        path: the recording path as given (directory argument joined with the relative path).
        agent_id: from the manifest, else the filename pattern, else None (reported as unknown).
        agent_channel: ``left``/``right`` from the manifest, else None (the batch default).
        started_at: ISO date or datetime from the manifest, else the file's mtime.
        desk: the manifest's ``desk`` (else set from a desks file, :mod:`callqa.batch.desks`).
        customer_path: for a call recorded as two files, the customer's leg (``path`` is then
            the agent's); never a call of its own.
        offset_s: how many seconds after the agent's file the customer's starts.
    """

    call_id: str
    path: str
    agent_id: str | None
    agent_channel: str | None
    started_at: str | None
    desk: str | None = None
    customer_path: str | None = None
    offset_s: float = 0.0


def compile_agent_pattern(pattern: str | None) -> re.Pattern[str]:
    pattern = pattern or DEFAULT_AGENT_PATTERN
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise BatchInputError("--agent-pattern", f"invalid regular expression: {exc}") from None
    if "agent" not in rx.groupindex:
        raise BatchInputError("--agent-pattern", "needs a named group (?P<agent>...)")
    return rx


def agent_from_path(rel_path: str, rx: re.Pattern[str]) -> str | None:
    m = rx.search(rel_path)
    return (m.group("agent") or None) if m else None


def _check_started_at(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"started_at {value!r} is not an ISO date or datetime "
                             "(e.g. 2026-11-21 or 2026-11-21T09:30:00)") from None
    return value.replace(" ", "T", 1) if len(value) > 10 else value


@dataclass(frozen=True)
class ManifestRow:
    line: int
    path: str
    call_id: str | None
    agent_id: str | None
    agent_channel: str | None
    started_at: str | None
    desk: str | None = None
    customer_path: str | None = None
    offset_s: float = 0.0


def read_manifest(manifest: Path) -> list[ManifestRow]:
    """Parse a manifest CSV (UTF-8, optional BOM, comma or tab separated).

    Raises:
        BatchInputError: unreadable file, no ``path`` column, unknown column, empty path,
            bad ``agent_channel``, ``started_at`` or ``customer_offset_s``, an offset without a
            ``customer_path``, or a duplicate path/call_id — naming the line.
    """
    src = str(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BatchInputError(src, f"cannot read manifest: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BatchInputError(src, "manifest is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise BatchInputError(src, "empty manifest (expected a header line with 'path')", line=1)
    delimiter = "\t" if "\t" in lines[0] and "," not in lines[0] else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    if "path" not in header:
        raise BatchInputError(src, f"no 'path' column in the header (columns: "
                                   f"{', '.join(MANIFEST_COLUMNS)})", line=1)
    unknown = [h for h in header if h not in MANIFEST_COLUMNS]
    if unknown:
        raise BatchInputError(src, f"unknown column {unknown[0]!r} (columns: "
                                   f"{', '.join(MANIFEST_COLUMNS)})", line=1)
    rows: list[ManifestRow] = []
    seen_path: dict[str, int] = {}
    seen_id: dict[str, int] = {}
    for lineno, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) > len(header):
            raise BatchInputError(src, f"{len(values)} fields, header has {len(header)}",
                                  line=lineno)
        rec = {h: (values[i].strip() if i < len(values) else "") or None
               for i, h in enumerate(header)}
        if not rec.get("path"):
            raise BatchInputError(src, "empty path", line=lineno)
        channel = rec.get("agent_channel")
        if channel is not None:
            channel = channel.lower()
            if channel not in ("left", "right"):
                raise BatchInputError(src, f"agent_channel must be 'left' or 'right', not "
                                           f"{rec['agent_channel']!r}", line=lineno)
        started = rec.get("started_at")
        if started is not None:
            try:
                started = _check_started_at(started)
            except ValueError as exc:
                raise BatchInputError(src, str(exc), line=lineno) from None
        offset = 0.0
        if rec.get("customer_offset_s") is not None:
            try:
                offset = float(rec["customer_offset_s"])
                if not math.isfinite(offset):
                    raise ValueError
            except ValueError:
                raise BatchInputError(src, f"customer_offset_s must be a number of seconds, not "
                                           f"{rec['customer_offset_s']!r}", line=lineno) from None
            if rec.get("customer_path") is None:
                raise BatchInputError(src, "customer_offset_s without a customer_path",
                                      line=lineno)
        for key, seen in (("path", seen_path), ("call_id", seen_id)):
            value = rec.get(key)
            if value is not None:
                if value in seen:
                    raise BatchInputError(src, f"duplicate {key} {value!r} (first on line "
                                               f"{seen[value]})", line=lineno)
                seen[value] = lineno
        rows.append(ManifestRow(lineno, rec["path"], rec.get("call_id"), rec.get("agent_id"),
                                channel, started, rec.get("desk"), rec.get("customer_path"),
                                offset))
    return rows


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def discover(recordings_dir: str | Path, manifest: str | Path | None = None,
             agent_pattern: str | None = None) -> list[CallSpec]:
    """All calls of a batch, sorted by path.

    Manifest paths are relative to ``recordings_dir`` (or absolute). Recordings in the tree but
    not in the manifest are included too, with the pattern's agent id; a file a manifest row
    names as its ``customer_path`` is that call's customer leg, not a call.

    Raises:
        BatchInputError: missing directory, bad manifest, bad pattern, duplicate call ids.
    """
    root = Path(recordings_dir)
    if not root.is_dir():
        raise BatchInputError(str(root), "recordings directory does not exist")
    rx = compile_agent_pattern(agent_pattern)
    found = sorted(p for p in root.rglob("*")
                   if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    by_rel: dict[str, ManifestRow] = {}
    rows = read_manifest(Path(manifest)) if manifest is not None else []
    for row in rows:
        p = Path(row.path)
        by_rel[_rel(p if p.is_absolute() else root / p, root)] = row
    def under_root(given: str) -> Path:
        p = Path(given)
        return p if p.is_absolute() else root / p

    legs = {_rel(under_root(r.customer_path), root) for r in rows if r.customer_path}
    paths = {_rel(p, root): p for p in found if _rel(p, root) not in legs}
    for rel, row in by_rel.items():  # listed but absent: still a call (it will fail)
        if rel not in paths:
            p = Path(row.path)
            paths[rel] = p if p.is_absolute() else root / p

    stems = Counter(Path(rel).stem for rel in paths)
    calls: list[CallSpec] = []
    ids: dict[str, str] = {}
    for rel in sorted(paths):
        path, row = paths[rel], by_rel.get(rel)
        stem = Path(rel).stem
        call_id = (row.call_id if row and row.call_id else
                   stem if stems[stem] == 1 else str(Path(rel).with_suffix("")).replace("/", "__"))
        if call_id in ids:
            where = f"line {row.line}: " if row else ""
            raise BatchInputError(str(manifest or root), f"{where}call_id {call_id!r} of {rel} "
                                                         f"is also the id of {ids[call_id]}")
        ids[call_id] = rel
        agent = (row.agent_id if row and row.agent_id else agent_from_path(rel, rx))
        calls.append(CallSpec(
            call_id=call_id, path=str(path), agent_id=agent,
            agent_channel=row.agent_channel if row else None,
            started_at=(row.started_at if row and row.started_at else mtime_iso(path)),
            desk=row.desk if row else None,
            customer_path=(str(under_root(row.customer_path))
                           if row and row.customer_path else None),
            offset_s=row.offset_s if row else 0.0))
    return calls
