"""HTML rendering for the workbench: one Jinja2 environment (autoescape on: every transcript,
name and comment is escaped; templates never mark call data ``|safe``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from callqa import labels
from callqa.report.text import clock

__all__ = ["render"]


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
                       severities=labels.SEVERITY, event_labels=labels.EVENT)
    return env


_ENV = _env()


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """A page; ``ctx`` may hold ``user``. ``csrf`` (the token forms must carry) and ``query``
    (a helper building this page's URL with some parameters changed) are added here."""
    from callqa.serve.deps import csrf_token

    s = request.app.state.settings

    def query(**changes: Any) -> str:
        params = {k: v for k, v in request.query_params.items()}
        params.update({k: v for k, v in changes.items()})
        return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})

    html = _ENV.get_template(template).render(
        request=request, csrf=csrf_token(request, s), query=query,
        auth_required=s.auth_required, **ctx)
    return HTMLResponse(html, status_code=status_code)
