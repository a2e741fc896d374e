"""One rulebook per desk: a QA department scores several desks (物业, 燃气, 宽带 …) whose standards
differ. A desks file (``callqa batch --desks FILE``) names each desk's rulebook and the folders
its recordings land in::

    desks:
      物业:
        rules: property.yaml          # relative to this file
        folders: [物业, property]      # under RECORDINGS_DIR (first components of the path)
      燃气:
        rules: gas.yaml
        folders: [gas]
    default: 物业                      # optional: the desk of a call no folder matches

A call's desk is the manifest's ``desk`` column, else the desk whose folder holds it, else the
default; a call with no desk is scored with ``--rules``. Each result records its desk and its
rulebook (name, version, path, sha256).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import yaml

from callqa.batch.discover import BatchInputError, CallSpec
from callqa.scoring import Rulebook, load_rulebook

__all__ = ["Desk", "DeskMap", "load_desks", "assign_desks", "load_rulebooks"]


@dataclass(frozen=True)
class Desk:
    """A desk: its name, its rulebook file (None: the batch's ``--rules``) and its folders."""

    name: str
    rules: Path | None
    folders: tuple[str, ...]


@dataclass(frozen=True)
class DeskMap:
    """The desks of a batch (``source``: the file they came from, for messages)."""

    source: str
    desks: dict[str, Desk]
    default: str | None = None

    def for_path(self, rel_path: str) -> str | None:
        """The desk whose folder holds ``rel_path`` (the longest folder wins), else the default.

        >>> m = DeskMap("d.yaml", {"燃气": Desk("燃气", None, ("gas",)),
        ...                        "夜班": Desk("夜班", None, ("gas/night",))}, default=None)
        >>> m.for_path("gas/A001_1.wav"), m.for_path("gas/night/A1.wav"), m.for_path("x.wav")
        ('燃气', '夜班', None)
        """
        parts = PurePosixPath(rel_path).parts
        best, depth = None, 0
        for desk in self.desks.values():
            for folder in desk.folders:
                f = PurePosixPath(folder).parts
                if len(f) > depth and tuple(parts[:len(f)]) == f and len(parts) > len(f):
                    best, depth = desk.name, len(f)
        return best or self.default


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def load_desks(path: str | Path) -> DeskMap:
    """Read a desks file.

    Raises:
        BatchInputError: unreadable file, bad YAML, a desk without ``rules`` or ``folders``,
            a folder claimed by two desks, an unknown default — naming the file and line.
    """
    path = Path(path)
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise BatchInputError(src, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BatchInputError(src, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise BatchInputError(src, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                              line=mark.line + 1 if mark else None) from None
    # key nodes, for the line of each key
    nodes = {k.value: k for k, _ in root.value} if isinstance(root, yaml.MappingNode) else {}
    entries = data.get("desks") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise BatchInputError(src, "expected a top-level 'desks:' mapping of desk names",
                              line=_line(root))
    desk_nodes = {k.value: k for k, _ in dict((k.value, v) for k, v in root.value)["desks"].value}
    unknown = [k for k in data if k not in ("desks", "default")]
    if unknown:
        raise BatchInputError(src, f"unknown key {unknown[0]!r} (keys: desks, default)",
                              line=_line(nodes.get(unknown[0])))
    desks: dict[str, Desk] = {}
    owner: dict[str, str] = {}
    for name, spec in entries.items():
        name = str(name).strip()
        line = _line(desk_nodes.get(name))
        if not name:
            raise BatchInputError(src, "a desk needs a name", line=line)
        if not isinstance(spec, dict) or not (spec.get("rules") or spec.get("folders")):
            raise BatchInputError(src, f"desk {name!r}: needs 'rules' (a rulebook file) "
                                       f"and/or 'folders'", line=line)
        extra = [k for k in spec if k not in ("rules", "folders")]
        if extra:
            raise BatchInputError(src, f"desk {name!r}: unknown key {extra[0]!r} "
                                       f"(keys: rules, folders)", line=line)
        folders = spec.get("folders") or []
        if isinstance(folders, str):
            folders = [folders]
        if not isinstance(folders, list):
            raise BatchInputError(src, f"desk {name!r}: 'folders' must be a list", line=line)
        clean = tuple(str(f).strip().strip("/") for f in folders if str(f).strip().strip("/"))
        for f in clean:
            if f in owner:
                raise BatchInputError(src, f"folder {f!r} is claimed by desks {owner[f]!r} and "
                                           f"{name!r}", line=line)
            owner[f] = name
        rules = spec.get("rules")
        rules_path = None
        if rules:
            rules_path = Path(str(rules))
            rules_path = rules_path if rules_path.is_absolute() else path.parent / rules_path
        desks[name] = Desk(name, rules_path, clean)
    default = data.get("default")
    if default is not None and str(default) not in desks:
        raise BatchInputError(src, f"default desk {default!r} is not one of the desks "
                                   f"({', '.join(desks)})", line=_line(nodes.get("default")))
    return DeskMap(src, desks, None if default is None else str(default))


def assign_desks(calls: list[CallSpec], root: str | Path, desks: DeskMap | None) -> list[CallSpec]:
    """Each call with its desk: the manifest's (which must be a known desk when there is a
    desks file), else by folder, else the default.

    Raises:
        BatchInputError: a manifest desk the desks file does not name.
    """
    if desks is None:
        return calls
    root = Path(root)
    out = []
    for call in calls:
        if call.desk is not None:
            if call.desk not in desks.desks:
                raise BatchInputError(call.path, f"desk {call.desk!r} (from the manifest) is not "
                                                 f"in {desks.source} ({', '.join(desks.desks)})")
            out.append(call)
            continue
        try:
            rel = Path(call.path).relative_to(root).as_posix()
        except ValueError:
            rel = Path(call.path).as_posix()
        out.append(replace(call, desk=desks.for_path(rel)))
    return out


def load_rulebooks(desks: DeskMap | None, default: Rulebook) -> dict[str, Rulebook]:
    """Desk name → its rulebook (the default rulebook for a desk without ``rules``)."""
    if desks is None:
        return {}
    return {d.name: load_rulebook(d.rules) if d.rules else default for d in desks.desks.values()}
