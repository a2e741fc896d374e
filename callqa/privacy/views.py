"""What the workbench shows whom: one call as a reviewer or an agent may see it.

Kept here so the serve routers stay thin: a route asks for the place its user sees
(:func:`place_of`), masks the result before building its page (:func:`redact_for`), then what
people wrote about the call — reviews (which copy the finding's evidence), added findings'
notes, appeals and the audit trail's details — with :func:`mask_detail` / :func:`mask_events` /
:func:`mask_appeals`.
"""

from __future__ import annotations

from typing import Any

from callqa.privacy.policy import PrivacyPolicy
from callqa.privacy.redact import redact_record, redact_text
from callqa.result import CallResult

__all__ = ["place_of", "mask_detail", "mask_events", "mask_appeals"]


def place_of(user: Any) -> str:
    """The policy's place for a workbench user: reviewers' pages (the privacy officer's too)
    or agents' view."""
    return "review_pages" if user.sees_all_calls else "agent_view"


def mask_detail(detail: Any, original: CallResult, policy: PrivacyPolicy, place: str) -> Any:
    """A call page's detail (a pydantic ``CallDetail``) with the free text about the call
    masked; ``original`` is the unmasked result, whose entities are masked wherever quoted."""
    types, styles = policy.masked(place), policy.style
    if not types:
        return detail
    also = [(e.type, e.text) for e in original.entities or ()]

    def review(r):
        return r and redact_record(r, ("evidence", "reason"), types, styles, also)

    return detail.model_copy(update={
        "findings": [fo.model_copy(update={"review": review(fo.review)}) for fo in detail.findings],
        "history": [review(r) for r in detail.history],
        "missed": [redact_record(m, ("note",), types, styles, also) for m in detail.missed],
        "appeals": mask_appeals(detail.appeals, policy, place, also)})


def mask_appeals(appeals: list, policy: PrivacyPolicy, place: str, also=()) -> list:
    """Appeals with the personal data typed into comments and resolutions masked."""
    return [redact_record(a, ("comment", "resolution"), policy.masked(place), policy.style, also)
            for a in appeals]


def mask_events(events: list[dict], policy: PrivacyPolicy, place: str) -> list[dict]:
    """Audit-trail entries with their details (reasons, comments as typed) masked."""
    types = policy.masked(place)
    if not types:
        return events
    return [{**e, "detail": {k: redact_text(v, types, policy.style) if isinstance(v, str) else v
                             for k, v in (e.get("detail") or {}).items()}} for e in events]
