"""HTML rendering for the workbench: one Jinja2 environment (autoescape on: every transcript,
name and comment is escaped; templates never mark call data ``|safe``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from callqa import labels
from callqa.report.text import clock

__all__ = ["NavLink", "render"]


_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "serve"

def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = clock
    env.filters["metric_label"] = labels.metric_label
    env.globals["metric_value"] = labels.metric_value
    env.globals["metric_keys"] = labels.METRIC_KEYS
    env.globals.update(speakers=labels.SPEAKER, states=labels.REVIEW_STATE,
                       verdicts=labels.VERDICT, appeal_labels=labels.APPEAL,
                       severities=labels.SEVERITY, event_labels=labels.EVENT,
                       pending_label=labels.PENDING, basis_text=labels.basis_text,
                       user_roles=labels.USER_ROLE)
    return env


_ENV = _env()


@dataclass(frozen=True)
class NavLink:
    """A link of the top navigation; a router lists its own in ``NAV``, in the order shown."""

    href: str
    label: str
    reviewers_only: bool = False
    #: only these roles see it (None: every role that may use the workbench's pages)
    roles: tuple[str, ...] | None = None

    def shown_to(self, user: Any) -> bool:
        if self.reviewers_only and not user.is_reviewer:
            return False
        return self.roles is None or user.role in self.roles


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """A page; ``ctx`` may hold ``user``. ``csrf`` (the token forms must carry) and ``query``
    (a helper building this page's URL with some parameters changed) are added here.

    The token is the session's; before login it is the login form's. In local mode (no users)
    a browser without a session gets one here, so each browser has a token of its own."""
    from callqa.serve import deps

    s = request.app.state.settings
    sess = deps.session_of(request, s)
    new_sid = None
    if sess is None and not s.auth_required and s.local_user is not None:
        new_sid, sess = deps.login(s, s.local_user)

    def query(**changes: Any) -> str:
        params = {k: v for k, v in request.query_params.items()}
        params.update({k: v for k, v in changes.items()})
        return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})

    html = _ENV.get_template(template).render(
        request=request, csrf=sess.csrf if sess else s.form_token, query=query,
        nav=request.app.state.nav,
        auth_required=s.auth_required, **ctx)
    response = HTMLResponse(html, status_code=status_code)
    if new_sid is not None:
        response.set_cookie(deps.SESSION_COOKIE, new_sid, httponly=True, samesite="strict",
                            max_age=deps.SESSION_TTL_S, secure=request.url.scheme == "https")
    return response
