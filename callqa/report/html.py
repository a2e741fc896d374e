"""The self-contained HTML report: one file, inline styles, charts as inline SVG, no scripts and
no network assets, so it reads the same in a browser and as an e-mail body.

Rendered with jinja2 and autoescape on: every agent id, call id, message and evidence string is
escaped; the SVG charts are built here with every label escaped before they are marked safe.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Sequence

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from callqa.labels import CATEGORY, METRIC, METRIC_KEYS, RECORDING_ROLES, UNSCORED
from callqa.report.files import records
from callqa.report.tables import UNKNOWN_AGENT, ReportTables, daily_overall, rule_matrix

__all__ = ["render_html", "bar_chart", "line_chart", "talk_time"]

MAX_TREND_LINES = 8
PALETTE = ["#2f6db5", "#d9822b", "#3a9a5b", "#b23b3b", "#7a4fb0", "#2a9d9d", "#8c6d3f",
           "#c2549b", "#5f6b7a", "#9aa22b"]


def _env() -> Environment:
    env = Environment(loader=PackageLoader("callqa", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = lambda v: "" if v is None else f"{float(v) * 100:.1f}%"
    env.filters["num"] = lambda v: "" if v is None else f"{float(v):g}"
    env.filters["secs"] = lambda v: "" if v is None else f"{float(v):.1f}s"
    env.filters["clock"] = _clock
    env.filters["talk"] = talk_time
    return env


def _clock(seconds: Any) -> str:
    m, s = divmod(max(0.0, float(seconds or 0)), 60)
    return f"{int(m):02d}:{s:04.1f}"


def talk_time(seconds: Any) -> str:
    """``1:02:03`` / ``2:03`` for a number of seconds."""
    total = int(round(float(seconds or 0)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _t(value: Any) -> str:
    return str(escape(str(value)))


def bar_chart(items: Sequence[tuple[str, float]], *, max_value: float, fmt: str = "{:g}",
              title: str = "", marker: float | None = None, width: int = 520,
              color: str = PALETTE[0]) -> Markup:
    """Horizontal bars, one per (label, value), as an inline SVG. ``marker`` draws a dashed
    vertical line (e.g. the pass mark)."""
    row_h, label_w, value_w, top = 22, 150, 60, 24 if title else 6
    plot_w = width - label_w - value_w
    height = top + row_h * max(len(items), 1) + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_t(title)}" '
             f'style="font-family:sans-serif;font-size:12px">']
    if title:
        parts.append(f'<text x="0" y="15" font-weight="bold">{_t(title)}</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * row_h
        w = 0 if not max_value else max(0.0, min(1.0, float(value) / max_value)) * plot_w
        short = label if len(label) <= 14 else label[:13] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_t(short)}'
                     f'<title>{_t(label)}</title></text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                     f'fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 15}">{_t(fmt.format(value))}</text>')
    if marker is not None and max_value:
        x = label_w + min(1.0, marker / max_value) * plot_w
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 4}" '
                     f'stroke="#b23b3b" stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(days: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *,
               y_max: float = 100.0, y_min: float = 0.0, title: str = "", width: int = 620,
               height: int = 240) -> Markup:
    """One polyline per (label, values by day) with a legend; None leaves a gap."""
    left, right, top, bottom = 40, 150, 26 if title else 10, 40
    height = max(height, top + 16 * len(series) + 10)  # room for the legend
    plot_w, plot_h = width - left - right, height - top - bottom
    span = (y_max - y_min) or 1.0

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (plot_w * i / (len(days) - 1) if len(days) > 1 else plot_w / 2)
        return x, top + plot_h * (1 - (v - y_min) / span)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_t(title)}" '
             f'style="font-family:sans-serif;font-size:11px">']
    if title:
        parts.append(f'<text x="0" y="15" font-size="12" font-weight="bold">{_t(title)}</text>')
    for tick in range(5):
        v = y_min + span * tick / 4
        _, y = xy(0, v)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     f'stroke="#e3e3e3"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    step = max(1, len(days) // 8)
    for i, day in enumerate(days):
        if i % step == 0 or i == len(days) - 1:
            x, _ = xy(i, y_min)
            parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                         f'{_t(day[5:])}</text>')
    for k, (label, values) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(xy(i, float(v)))
        for run in runs:
            if len(run) > 1:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                             f'stroke-width="2"/>')
            for x, y in run:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        ly = top + 4 + k * 16
        short = label if len(label) <= 16 else label[:15] + "…"
        parts.append(f'<rect x="{left + plot_w + 12}" y="{ly}" width="10" height="10" '
                     f'fill="{color}"/>')
        parts.append(f'<text x="{left + plot_w + 26}" y="{ly + 9}">{_t(short)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _href(link: str, link_base: str) -> str:
    return (link_base + link) if link else ""


def render_html(tables: ReportTables, *, title: str, link_base: str = "",
                generated_at: datetime | None = None, rulebooks: Sequence[str] = (),
                pass_mark: float | None = None, findings_per_call: int = 5) -> str:
    """The whole report as one HTML document.

    ``link_base`` is the path from the HTML file's folder to the store's output directory (e.g.
    ``../``), prepended to the ``results/…json`` and ``review/…html`` links.
    """
    agents = records(tables.agents)
    scored_agents = [a for a in agents if a["mean_score"] is not None]
    all_calls = records(tables.calls)
    calls = tables.calls[tables.calls["score"].notna()] if len(tables.calls) else tables.calls
    n_calls = len(calls)
    totals = {
        "calls": n_calls,
        "unscored": len(all_calls) - n_calls,
        "agents": len(agents),
        "mean_score": float(calls["score"].mean()) if n_calls else None,
        "pass_rate": float(calls["passed"].mean()) if n_calls else None,
        "findings": int(calls["findings"].sum()) if n_calls else 0,
        "vetoed": int((calls["vetoed"] != "").sum()) if n_calls else 0,
        "failures": len(tables.failures),
        "unknown_agent_calls": sum(c["agent_id"] == UNKNOWN_AGENT for c in all_calls),
        "uncertain_roles": sum(c["roles"] == "uncertain" for c in all_calls),
    }
    for c in all_calls:
        c["review_href"] = _href(c["review_link"], link_base)
        c["result_href"] = _href(c["result_link"], link_base)
        c["roles_label"] = RECORDING_ROLES["uncertain"] if c["roles"] == "uncertain" else ""

    charts = {}
    if scored_agents:
        charts["score"] = bar_chart([(a["agent_id"], a["mean_score"]) for a in scored_agents],
                                    max_value=100, fmt="{:.1f}",
                                    title="平均分（按坐席）" if pass_mark is None else
                                    f"平均分（按坐席，虚线为合格线 {pass_mark:g}）",
                                    marker=pass_mark)
        charts["pass_rate"] = bar_chart([(a["agent_id"], a["pass_rate"]) for a in scored_agents],
                                        max_value=1.0, fmt="{:.0%}", title="合格率（按坐席）",
                                        color=PALETTE[2])
    cat_totals = [(CATEGORY.get(c, c), int(tables.agent_categories[c].sum()))
                  for c in tables.agent_categories.columns if c not in ("agent_id", "total")]
    cat_totals = [(k, v) for k, v in cat_totals if v]
    if cat_totals:
        cat_totals.sort(key=lambda kv: -kv[1])
        charts["categories"] = bar_chart(cat_totals, max_value=max(v for _, v in cat_totals),
                                         title="问题数（按类别）", color=PALETTE[1])

    trend = None
    if tables.multi_day:
        overall = daily_overall(tables).set_index("day")
        days = tables.days
        series = [("全部坐席", [float(overall.loc[d, "mean_score"]) if d in overall.index
                                else None for d in days])]
        by_agent = tables.trend.set_index(["agent_id", "day"])["mean_score"].to_dict()
        shown = scored_agents
        chart_title = "每日平均分"
        if len(scored_agents) > MAX_TREND_LINES:  # a legible chart: the lowest-scoring agents only
            shown = sorted(scored_agents, key=lambda a: (a["mean_score"], a["agent_id"]))
            shown = shown[:MAX_TREND_LINES]
            chart_title = f"每日平均分（全部坐席及平均分最低的 {MAX_TREND_LINES} 位坐席）"
        for a in shown:
            series.append((a["agent_id"], [by_agent.get((a["agent_id"], d)) for d in days]))
        charts["trend"] = line_chart(days, series, title=chart_title)
        pivot_score = {(r["agent_id"], r["day"]): r for r in tables.trend.to_dict("records")}
        trend = {"days": days, "cells": pivot_score,
                 "overall": overall.to_dict(orient="index")}

    category_cols = [c for c in tables.agent_categories.columns
                     if c not in ("agent_id",) and (c == "total"
                                                    or int(tables.agent_categories[c].sum()))]
    matrix = rule_matrix(tables)
    rules = {r["rule_id"]: r for r in records(tables.rules)}
    findings_by_call: dict[str, list[dict[str, Any]]] = {}
    for f in tables.findings.to_dict(orient="records"):
        findings_by_call.setdefault(f["call_id"], []).append(f)
    worst = []
    for w in tables.worst_calls.to_dict(orient="records"):
        fs = sorted(findings_by_call.get(w["call_id"], []),
                    key=lambda f: (-f["deduction"], f["start"]))
        worst.append({**w, "result_href": _href(w["result_link"], link_base),
                      "review_href": _href(w["review_link"], link_base),
                      "top_findings": fs[:findings_per_call],
                      "more_findings": max(0, len(fs) - findings_per_call)})

    return _env().get_template("report.html.j2").render(
        title=title,
        tables=tables,
        totals=totals,
        agents=agents,
        charts=charts,
        category_cols=category_cols,
        categories=tables.agent_categories.to_dict(orient="records"),
        category_zh=CATEGORY, metric_keys=METRIC_KEYS, metric_labels=METRIC,
        matrix=matrix.to_dict(orient="records"),
        matrix_agents=[c for c in matrix.columns if c not in ("rule_id", "title", "overall")],
        rules=rules,
        worst=worst,
        all_calls=all_calls,
        unscored_label=UNSCORED,
        reviewed=any(a["confirmed"] or a["rejected"] for a in agents),
        trend=trend,
        failures=tables.failures.to_dict(orient="records"),
        since=tables.since,
        generated_at=(generated_at or datetime.now()).strftime("%Y-%m-%d %H:%M"),
        rulebooks=list(rulebooks),
        unknown_agent=UNKNOWN_AGENT,
    )


def relative_base(from_dir: str | os.PathLike, to_dir: str | os.PathLike) -> str:
    """``../`` style prefix from a report folder to the store's output folder (POSIX slashes)."""
    rel = os.path.relpath(os.fspath(to_dir), os.fspath(from_dir))
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"
