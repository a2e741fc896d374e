"""HTML rendering for the workbench: one Jinja2 environment (autoescape on: every transcript,
name and comment is escaped; templates never mark call data ``|safe``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from callqa.report.text import SPEAKER_LABEL, clock

__all__ = ["render", "METRIC_LABELS", "METRIC_KEYS", "STATE_LABELS", "metric_label", "metric_value"]

_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "serve"

STATE_LABELS = {"unreviewed": "未复核", "in_progress": "复核中", "reviewed": "已复核",
                "appealed": "申诉中"}
VERDICT_LABELS = {"confirmed": "属实", "rejected": "误报"}
APPEAL_LABELS = {"open": "待处理", "upheld": "维持", "overturned": "撤销"}
EVENT_LABELS = {"confirmed": "判定属实", "rejected": "判定误报", "missed": "补充问题",
                "call_reviewed": "标记复核完成", "appeal": "提交申诉", "appeal_upheld": "维持原判",
                "appeal_overturned": "撤销（申诉成立）"}
SEVERITY_LABELS = {"critical": "严重", "major": "一般", "minor": "轻微"}
#: Conversation metrics (``CallResult.metrics``, callqa.scoring.metrics) by their keys: label and
#: kind (a rate 0..1 shown as %, seconds, a count). A metric not listed shows under its key.
METRIC_LABELS = {
    "agent_talk_rate": ("坐席说话占比", "rate"),
    "customer_talk_rate": ("客户说话占比", "rate"),
    "non_talk_rate": ("静默占比", "rate"),
    "overtalk_rate": ("双方重叠占比", "rate"),
    "longest_silence_s": ("最长静默", "s"),
    "mean_response_s": ("平均响应时间", "s"),
    "responses": ("坐席应答次数", "n"),
}
#: shown in tables and per agent; duration is in the call's header already
METRIC_KEYS = tuple(k for k in METRIC_LABELS if k != "responses")


def metric_value(key: str, value: Any) -> str:
    """``0.42`` → ``42%`` for a rate, ``3.14`` → ``3.1 秒`` for seconds, "—" for None.

    >>> metric_value("overtalk_rate", 0.042), metric_value("mean_response_s", 1.26)
    ('4.2%', '1.3 秒')
    """
    if value is None:
        return "—"
    kind = METRIC_LABELS.get(key, ("", ""))[1]
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "s":
        return f"{value:.1f} 秒"
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def metric_label(key: str) -> str:
    return METRIC_LABELS.get(key, (key, ""))[0]


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = clock
    env.filters["metric_label"] = metric_label
    env.globals["metric_value"] = metric_value
    env.globals["metric_keys"] = METRIC_KEYS
    env.globals.update(speakers=SPEAKER_LABEL, states=STATE_LABELS, verdicts=VERDICT_LABELS,
                       appeal_labels=APPEAL_LABELS, severities=SEVERITY_LABELS,
                       event_labels=EVENT_LABELS)
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
