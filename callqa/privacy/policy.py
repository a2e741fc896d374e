"""The privacy policy: which personal data is masked where, who may see it, how long it is kept.

It is the ``privacy:`` section of callqa's configuration file (``OUT/callqa.yaml`` beside a
batch's output, or ``--config FILE``); without one the packaged defaults apply::

    privacy:
      mask:                          # entity types masked, per place text goes
        exports: [phone, id_number, bank_card]       # callqa report's files, OUT/review/
        email: [phone, id_number, bank_card]         # the report e-mail's body
        search: [phone, id_number, bank_card]        # the workbench's search results
        agent_view: [phone, id_number, bank_card]    # the workbench as an agent sees it
        review_pages: [phone, id_number, bank_card]  # the workbench's call page for reviewers
      style: {address: label, name: label}           # partial (139****4567) or label (【地址】)
      original_roles: [reviewer, privacy]            # may open the original (audited)
      retention_days: 90                             # callqa purge's default --older-than
      redact_audio: tone                             # tone | silence, for --redact-audio

A malformed section is a :class:`PolicyError` naming ``FILE:LINE`` (exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callqa.errors import CallqaError
from callqa.privacy.detect import BANK_CARD, ENTITY_TYPES, ID_NUMBER, PHONE

__all__ = ["PLACES", "STYLES", "CONFIG_NAME", "PolicyError", "PrivacyPolicy", "DEFAULT_POLICY",
           "parse_policy", "load_policy", "policy_for"]

#: Where text leaves the store.
PLACES = ("exports", "email", "search", "agent_view", "review_pages")
STYLES = ("partial", "label")
AUDIO_FILL = ("tone", "silence")
CONFIG_NAME = "callqa.yaml"
ROLES = ("reviewer", "privacy", "agent")
_NUMBERS = frozenset({PHONE, ID_NUMBER, BANK_CARD})


class PolicyError(CallqaError):
    """A configuration whose ``privacy:`` section does not validate (``FILE:LINE: message``)."""


@dataclass(frozen=True)
class PrivacyPolicy:
    """Attributes:
        mask: per place (``PLACES``), the entity types masked there.
        style: per entity type, ``partial`` (shape kept: ``139****4567``) or ``label``
            (``【手机号】``).
        original_roles: workbench roles that may open a call's original text (each view is
            written to the audit trail).
        retention_days: how long transcripts, review pages and cached audio are kept
            (``callqa purge`` without ``--older-than``); None keeps them.
        redact_audio: what replaces personal data in a redacted recording: ``tone`` or ``silence``.
        source: the file it came from (``<defaults>`` for the packaged ones).
    """

    mask: dict[str, frozenset[str]] = field(default_factory=lambda: {
        "exports": _NUMBERS, "email": _NUMBERS, "search": _NUMBERS, "agent_view": _NUMBERS,
        "review_pages": _NUMBERS})
    style: dict[str, str] = field(default_factory=lambda: {
        PHONE: "partial", ID_NUMBER: "partial", BANK_CARD: "partial", "email": "partial",
        "address": "label", "name": "label"})
    original_roles: tuple[str, ...] = ("reviewer", "privacy")
    retention_days: int | None = 90
    redact_audio: str = "tone"
    source: str = "<defaults>"

    def masked(self, place: str) -> frozenset[str]:
        return self.mask.get(place, frozenset())


DEFAULT_POLICY = PrivacyPolicy()


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _types(node: yaml.Node, source: str) -> frozenset[str]:
    if not isinstance(node, yaml.SequenceNode):
        raise PolicyError(source, "expected a list of entity types "
                          f"({', '.join(ENTITY_TYPES)})", _line(node))
    out = set()
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or item.value not in ENTITY_TYPES:
            raise PolicyError(source, f"unknown entity type {getattr(item, 'value', '?')!r} "
                              f"(one of {', '.join(ENTITY_TYPES)})", _line(item))
        out.add(item.value)
    return frozenset(out)


def _mapping(node: yaml.Node, source: str, what: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise PolicyError(source, f"{what} must be a mapping", _line(node))
    return node.value


def parse_policy(text: str, source: str = "<config>") -> PrivacyPolicy:
    """The policy in a configuration's ``privacy:`` section (defaults for what it leaves out)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PolicyError(source, f"invalid YAML: {getattr(exc, 'problem', exc)}",
                          mark.line + 1 if mark else None) from exc
    if root is None:
        return PrivacyPolicy(source=source)
    section = next((v for k, v in _mapping(root, source, "the configuration")
                    if k.value == "privacy"), None)
    if section is None:
        return PrivacyPolicy(source=source)
    got: dict[str, Any] = {"source": source}
    for key, value in _mapping(section, source, "privacy"):
        name = key.value
        if name == "mask":
            mask = dict(DEFAULT_POLICY.mask)
            for place, types in _mapping(value, source, "privacy.mask"):
                if place.value not in PLACES:
                    raise PolicyError(source, f"unknown place {place.value!r} in privacy.mask "
                                      f"(one of {', '.join(PLACES)})", _line(place))
                mask[place.value] = _types(types, source)
            got["mask"] = mask
        elif name == "style":
            style = dict(DEFAULT_POLICY.style)
            for kind, how in _mapping(value, source, "privacy.style"):
                if kind.value not in ENTITY_TYPES:
                    raise PolicyError(source, f"unknown entity type {kind.value!r} in "
                                      f"privacy.style (one of {', '.join(ENTITY_TYPES)})",
                                      _line(kind))
                if not isinstance(how, yaml.ScalarNode) or how.value not in STYLES:
                    raise PolicyError(source, f"style of {kind.value} must be one of "
                                      f"{', '.join(STYLES)}", _line(how))
                style[kind.value] = how.value
            got["style"] = style
        elif name == "original_roles":
            roles = value.value if isinstance(value, yaml.SequenceNode) else None
            if roles is None or any(not isinstance(r, yaml.ScalarNode) or r.value not in ROLES
                                    for r in roles):
                raise PolicyError(source, f"privacy.original_roles must list roles among "
                                  f"{', '.join(ROLES)}", _line(value))
            got["original_roles"] = tuple(r.value for r in value.value)
        elif name == "retention_days":
            raw = value.value if isinstance(value, yaml.ScalarNode) else None
            if raw in ("null", "~", ""):
                got["retention_days"] = None
            elif raw is None or not raw.isdigit() or int(raw) < 1:
                raise PolicyError(source, "privacy.retention_days must be a whole number of "
                                  "days >= 1 (or null to keep everything)", _line(value))
            else:
                got["retention_days"] = int(raw)
        elif name == "redact_audio":
            if not isinstance(value, yaml.ScalarNode) or value.value not in AUDIO_FILL:
                raise PolicyError(source, f"privacy.redact_audio must be one of "
                                  f"{', '.join(AUDIO_FILL)}", _line(value))
            got["redact_audio"] = value.value
        else:
            raise PolicyError(source, f"unknown key {name!r} in privacy (known: mask, style, "
                              "original_roles, retention_days, redact_audio)", _line(key))
    return PrivacyPolicy(**got)


def load_policy(path: str | Path) -> PrivacyPolicy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), f"cannot read: {getattr(exc, 'strerror', None) or exc}") \
            from exc
    return parse_policy(text, source=str(path))


def policy_for(out_dir: str | Path | None, config: str | Path | None = None) -> PrivacyPolicy:
    """``config`` when given, else ``OUT/callqa.yaml`` when there is one, else the defaults."""
    if config is not None:
        return load_policy(config)
    if out_dir is not None and (Path(out_dir) / CONFIG_NAME).is_file():
        return load_policy(Path(out_dir) / CONFIG_NAME)
    return DEFAULT_POLICY
