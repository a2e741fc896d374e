"""Per-agent report tables: pure pandas over the scored calls of a batch store.

Input is a list of ``StoredResult`` records (``call_id``, ``path``, ``agent_id``, ``started_at``,
``result``; see ``callqa.batch.store``) and the store's failures; output is a
:class:`ReportTables` of DataFrames with stable English column names, which every format
(CSV, JSON, XLSX, HTML, e-mail) renders. Nothing here touches the file system.

Calls whose agent is unknown are grouped under :data:`UNKNOWN_AGENT`, never dropped. Unscored
calls (``CallResult.unscored``) are listed in ``calls`` with their reason but stay out of every
average, pass rate and hit rate. Reviewer verdicts (``callqa.verdicts``) come in as precision
rows and review rows the caller read from the store.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, Iterable, Protocol, Sequence
from urllib.parse import quote

import pandas as pd

from callqa.batch.store import safe_name
from callqa.result import CATEGORIES, CallResult, Finding
from callqa.verdicts import REVIEW_COLUMNS
from callqa.scoring.metrics import ConversationMetrics

__all__ = [
    "UNKNOWN_AGENT",
    "TABLE_NAMES",
    "ReportTables",
    "build_tables",
    "call_day",
    "review_file",
    "daily_overall",
    "rule_matrix",
    "result_link",
    "review_link",
    "METRIC_COLUMNS",
    "PRECISION_COLUMNS",
]

UNKNOWN_AGENT = "（未知坐席）/unknown"


class StoredResultLike(Protocol):
    call_id: str
    path: str
    agent_id: str | None
    started_at: str | None
    result: CallResult


class PrecisionLike(Protocol):
    """A row of :func:`callqa.verdicts.rule_precision`."""

    rule_id: str
    agent_id: str | None
    confirmed: int
    rejected: int
    missed: int


#: Conversation metrics shown per call and averaged per agent (``CallResult.metrics``).
METRIC_COLUMNS = [f.name for f in fields(ConversationMetrics)
                  if f.name not in ("duration_s", "responses")]
#: Reviewer verdicts: confirmed / (confirmed + rejected) is the precision.
PRECISION_COLUMNS = ["confirmed", "rejected", "precision"]


# Table name → columns, in order. CSV/JSON files are named after the table; the columns are
# the machine contract (only ever added to, never renamed).
COLUMNS: dict[str, list[str]] = {
    "agents": ["agent_id", "calls", "mean_score", "min_score", "max_score", "passed",
               "pass_rate", "vetoed", "findings", "deduction", "agent_talk_s", "first_day",
               "last_day", "rank", "unscored", *METRIC_COLUMNS, *PRECISION_COLUMNS],
    "agent_categories": ["agent_id", *CATEGORIES, "other", "total"],
    "agent_rules": ["agent_id", "rule_id", "title", "category", "severity", "findings",
                    "calls_hit", "calls", "hit_rate", "deduction", *PRECISION_COLUMNS, "missed"],
    "rules": ["rule_id", "title", "category", "severity", "findings", "calls_hit", "calls",
              "hit_rate", "agents_hit", "deduction", *PRECISION_COLUMNS, "missed"],
    "worst_calls": ["agent_id", "rank", "call_id", "day", "score", "passed", "vetoed",
                    "findings", "top_rules", "result_link", "review_link", "path"],
    "trend": ["agent_id", "day", "calls", "mean_score", "min_score", "passed", "pass_rate"],
    "calls": ["call_id", "agent_id", "desk", "rulebook", "started_at", "day", "score", "passed",
              "vetoed",
              "findings", "deduction", "duration_s", "agent_talk_s", "path", "unscored", "roles",
              *METRIC_COLUMNS, "result_link", "review_link", "review"],
    "findings": ["call_id", "agent_id", "day", "rule_id", "title", "category", "severity",
                 "speaker", "start", "end", "deduction", "message", "evidence", "suggestion",
                 "standard", "confidence", "review"],
    "failures": ["call_id", "agent_id", "path", "status", "error"],
    "reviews": list(REVIEW_COLUMNS),
}
TABLE_NAMES = tuple(COLUMNS)


def charged(result: CallResult) -> list[Finding]:
    """A call's findings that count against the agent: not those 待复核 (needs review), which
    the report lists apart (``review`` columns) until a reviewer confirms them."""
    return [f for f in result.findings if not f.review]


@dataclass
class ReportTables:
    """All tables of one report, plus what the report was made from.

    Attributes:
        agents: one row per agent, best mean score first (``rank``): calls scored, mean/min/max
            score, pass rate, talk time, conversation metrics, reviewer precision.
        agent_categories: findings per agent and category (one column per category).
        agent_rules: per agent and rule that fired anywhere: findings, calls hit, hit rate.
        rules: per rule, over all calls: findings, calls hit, hit rate, agents hit.
        worst_calls: each agent's lowest-scoring calls with links to their findings.
        trend: per agent and day: calls, mean score, pass rate (all days that have a date).
        calls: one row per call (unscored ones with their reason and no score), by agent rank.
        findings: one row per finding of every call (evidence text included), with its
            confidence and whether it is 待复核 (``review``: listed, not deducted).
        failures: recordings that could not be processed (from the store).
        reviews: every reviewer verdict and added finding (``callqa.verdicts.review_rows``).
        since: the ``--since`` date the results were filtered with, if any.
        days: the distinct call days present, sorted.
    """

    agents: pd.DataFrame
    agent_categories: pd.DataFrame
    agent_rules: pd.DataFrame
    rules: pd.DataFrame
    worst_calls: pd.DataFrame
    trend: pd.DataFrame
    calls: pd.DataFrame
    findings: pd.DataFrame
    failures: pd.DataFrame
    reviews: pd.DataFrame = field(default_factory=lambda: _empty("reviews"))
    since: date | None = None
    days: list[str] = field(default_factory=list)

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        return [(name, getattr(self, name)) for name in TABLE_NAMES]

    @property
    def multi_day(self) -> bool:
        return len(self.days) > 1


def call_day(started_at: str | None) -> str | None:
    """``2026-11-21`` from an ISO date or datetime (``2026-11-21T09:15:00+08:00``); None if absent
    or unparseable. The day is the calendar day as written (local time of the recording)."""
    if not started_at:
        return None
    text = str(started_at).strip()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return None


def result_link(call_id: str) -> str:
    """Where a call's findings live, relative to the store's output directory (the store names
    files with :func:`callqa.batch.store.safe_name`), URL-quoted for use as a link."""
    return f"results/{quote(safe_name(call_id))}.json"


def review_file(call_id: str) -> str:
    """The per-call review page, relative to the store's output directory (may not exist)."""
    return f"review/{safe_name(call_id)}.html"


def review_link(call_id: str) -> str:
    return f"review/{quote(safe_name(call_id))}.html"


def _agent(s: StoredResultLike) -> str:
    agent = s.agent_id if s.agent_id not in (None, "") else s.result.agent_id
    agent = str(agent).strip() if agent is not None else ""
    return agent or UNKNOWN_AGENT


def _rulebook_label(info: dict[str, Any]) -> str:
    """``name vVERSION`` of a result's rulebook ('' when it recorded none).

    >>> _rulebook_label({"name": "燃气热线", "version": 2}), _rulebook_label({})
    ('燃气热线 v2', '')
    """
    return f"{info['name']} v{info.get('version', '?')}" if info.get("name") else ""


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS[name]})


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return _empty(name)
    return pd.DataFrame(rows, columns=COLUMNS[name]).reset_index(drop=True)


def _rate(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def _mean(values: Iterable[float | None], places: int = 4) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return round(sum(vals) / len(vals), places) if vals else None


def _precision(confirmed: int, rejected: int) -> dict[str, Any]:
    return {"confirmed": confirmed, "rejected": rejected,
            "precision": _rate(confirmed, confirmed + rejected)
            if confirmed + rejected else None}


def _split_precision(rows: Iterable[PrecisionLike]
                     ) -> tuple[dict[str, list[int]], dict[tuple[str, str], list[int]]]:
    """``rule_precision`` rows → per rule and per (agent, rule): [confirmed, rejected, missed].

    Its first row of a rule with no agent is the all-agents row; a later one is the calls
    without an agent id (they share ``agent_id`` None)."""
    per_rule: dict[str, list[int]] = {}
    per_agent: dict[tuple[str, str], list[int]] = {}
    for p in rows:
        counts = [int(p.confirmed), int(p.rejected), int(p.missed)]
        if p.agent_id is None and p.rule_id not in per_rule:
            per_rule[p.rule_id] = counts
        else:
            agent = str(p.agent_id).strip() if p.agent_id is not None else ""
            per_agent[(agent or UNKNOWN_AGENT, p.rule_id)] = counts
    return per_rule, per_agent


def _ranked(agent_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best mean score first (then pass rate, then id); the unknown agent and agents without a
    scored call come last, unranked."""
    def key(a: dict[str, Any]) -> tuple:
        unranked = a["agent_id"] == UNKNOWN_AGENT or a["mean_score"] is None
        return (unranked, a["agent_id"] == UNKNOWN_AGENT, -(a["mean_score"] or 0.0),
                -(a["pass_rate"] or 0.0), a["agent_id"])

    out = sorted(agent_rows, key=key)
    rank = 0
    for a in out:
        if a["agent_id"] != UNKNOWN_AGENT and a["mean_score"] is not None:
            rank += 1
            a["rank"] = rank
        else:
            a["rank"] = None
    return out


def build_tables(
    results: Sequence[StoredResultLike],
    failures: Sequence[dict[str, Any]] = (),
    *,
    worst_n: int = 3,
    review_ids: Iterable[str] | None = None,
    since: date | None = None,
    precision: Sequence[PrecisionLike] = (),
    reviews: Sequence[dict[str, Any]] = (),
) -> ReportTables:
    """Compute every report table.

    Args:
        results: the calls (already filtered by ``since`` — the store does that).
        failures: the store's failures (``call_id``, ``path``, ``error``, ``status``).
        worst_n: how many lowest-scoring calls to list per agent.
        review_ids: call ids that have a review page (``review/<call_id>.html``); the
            ``review_link`` column is empty for the others.
        since: recorded in the tables for the report header only.
        precision: :func:`callqa.verdicts.rule_precision` rows for the same period.
        reviews: :func:`callqa.verdicts.review_rows` of the same period, as dicts.
    """
    reviews_pages = set(review_ids or ())
    calls_rows: list[dict[str, Any]] = []
    rule_meta: dict[str, dict[str, str]] = {}
    # per call: rule_id -> (count, deduction)
    per_call_rules: list[dict[str, tuple[int, float]]] = []
    for s in results:
        r = s.result
        rules: dict[str, tuple[int, float]] = {}
        for f in charged(r):
            n, d = rules.get(f.rule_id, (0, 0.0))
            rules[f.rule_id] = (n + 1, d + f.deduction)
            rule_meta.setdefault(f.rule_id, {"title": f.title, "category": f.category,
                                             "severity": f.severity})
        per_call_rules.append(rules)
        calls_rows.append({
            "call_id": s.call_id,
            "agent_id": _agent(s),
            "desk": r.desk or "",
            "rulebook": _rulebook_label(r.rulebook),
            "started_at": s.started_at,
            "day": call_day(s.started_at),
            "score": None if r.unscored or r.score is None else float(r.score),
            "passed": bool(r.passed) and not r.unscored,
            "vetoed": ",".join(r.vetoed),
            "findings": len(charged(r)),
            "deduction": round(sum(f.deduction for f in r.findings), 3),
            "review": len(r.findings) - len(charged(r)),
            "duration_s": round(float(r.duration), 3),
            "agent_talk_s": round(sum(u.duration for u in r.utterances if u.speaker == "agent"), 3),
            "path": s.path,
            "unscored": r.unscored or "",
            "roles": r.roles,
            **{m: (r.metrics or {}).get(m) for m in METRIC_COLUMNS},
            "result_link": result_link(s.call_id),
            "review_link": review_link(s.call_id) if s.call_id in reviews_pages else "",
        })
    scored = [i for i, row in enumerate(calls_rows) if row["score"] is not None]
    days = sorted({calls_rows[i]["day"] for i in scored if calls_rows[i]["day"]})
    rule_prec, agent_prec = _split_precision(precision)

    # -- per agent summary, ranked
    agent_rows = []
    for agent in {row["agent_id"] for row in calls_rows}:
        mine = [row for row in calls_rows if row["agent_id"] == agent and row["score"] is not None]
        scores = [row["score"] for row in mine]
        mine_days = sorted(row["day"] for row in mine if row["day"])
        passed = sum(row["passed"] for row in mine)
        verdicts = [v for (a, _), v in agent_prec.items() if a == agent]
        agent_rows.append({
            "agent_id": agent,
            "calls": len(mine),
            "mean_score": round(sum(scores) / len(scores), 2) if scores else None,
            "min_score": min(scores, default=None),
            "max_score": max(scores, default=None),
            "passed": passed,
            "pass_rate": _rate(passed, len(mine)) if mine else None,
            "vetoed": sum(1 for row in mine if row["vetoed"]),
            "findings": sum(row["findings"] for row in mine),
            "deduction": round(sum(row["deduction"] for row in mine), 3),
            "agent_talk_s": round(sum(row["agent_talk_s"] for row in mine), 1),
            "first_day": mine_days[0] if mine_days else None,
            "last_day": mine_days[-1] if mine_days else None,
            "unscored": sum(1 for row in calls_rows
                            if row["agent_id"] == agent and row["score"] is None),
            **{m: _mean(row[m] for row in mine) for m in METRIC_COLUMNS},
            **_precision(sum(v[0] for v in verdicts), sum(v[1] for v in verdicts)),
        })
    agent_rows = _ranked(agent_rows)
    agents = _frame("agents", agent_rows)
    agents["rank"] = agents["rank"].astype("Int64")  # unranked: empty, not NaN
    agents_order = [a["agent_id"] for a in agent_rows]
    position = {a: i for i, a in enumerate(agents_order)}
    order = sorted(range(len(calls_rows)), key=lambda i: position[calls_rows[i]["agent_id"]])
    calls = _frame("calls", [calls_rows[i] for i in order])

    # -- findings per agent and category
    cat_rows = []
    for agent in agents_order:
        counts: Counter[str] = Counter()
        for i in scored:
            if calls_rows[i]["agent_id"] == agent:
                for f in charged(results[i].result):
                    counts[f.category if f.category in CATEGORIES else "other"] += 1
        cat_rows.append({"agent_id": agent, **{c: counts.get(c, 0) for c in CATEGORIES},
                         "other": counts.get("other", 0), "total": sum(counts.values())})
    agent_categories = _frame("agent_categories", cat_rows)

    # -- per agent and rule, and per rule overall (rules that fired or were reviewed)
    for rule_id in rule_prec:
        rule_meta.setdefault(rule_id, {"title": "", "category": "", "severity": ""})
    rule_ids = sorted(rule_meta)
    agent_rule_rows = []
    for agent in agents_order:
        idx = [i for i in scored if calls_rows[i]["agent_id"] == agent]
        for rule_id in rule_ids:
            hits = [per_call_rules[i][rule_id] for i in idx if rule_id in per_call_rules[i]]
            c, j, m = agent_prec.get((agent, rule_id), (0, 0, 0))
            agent_rule_rows.append({
                "agent_id": agent, "rule_id": rule_id, **rule_meta[rule_id],
                "findings": sum(n for n, _ in hits),
                "calls_hit": len(hits),
                "calls": len(idx),
                "hit_rate": _rate(len(hits), len(idx)),
                "deduction": round(sum(d for _, d in hits), 3),
                **_precision(c, j), "missed": m,
            })
    agent_rules = _frame("agent_rules", agent_rule_rows)

    rule_rows = []
    for rule_id in rule_ids:
        hit_idx = [i for i in scored if rule_id in per_call_rules[i]]
        c, j, m = rule_prec.get(rule_id, (0, 0, 0))
        rule_rows.append({
            "rule_id": rule_id, **rule_meta[rule_id],
            "findings": sum(per_call_rules[i][rule_id][0] for i in hit_idx),
            "calls_hit": len(hit_idx),
            "calls": len(scored),
            "hit_rate": _rate(len(hit_idx), len(scored)),
            "agents_hit": len({calls_rows[i]["agent_id"] for i in hit_idx}),
            "deduction": round(sum(per_call_rules[i][rule_id][1] for i in hit_idx), 3),
            **_precision(c, j), "missed": m,
        })
    rules = _frame("rules", rule_rows)

    # -- worst calls per agent, with links to their findings
    worst_rows = []
    for agent in agents_order:
        idx = [i for i in scored if calls_rows[i]["agent_id"] == agent]
        idx.sort(key=lambda i: (calls_rows[i]["score"], calls_rows[i]["call_id"]))
        for rank, i in enumerate(idx[:worst_n], start=1):
            row = calls_rows[i]
            top = sorted(per_call_rules[i].items(), key=lambda kv: (-kv[1][1], kv[0]))
            worst_rows.append({
                "agent_id": agent, "rank": rank, "call_id": row["call_id"], "day": row["day"],
                "score": row["score"], "passed": row["passed"], "vetoed": row["vetoed"],
                "findings": row["findings"],
                "top_rules": ", ".join(f"{k}×{n}" if n > 1 else k for k, (n, _) in top),
                "result_link": row["result_link"], "review_link": row["review_link"],
                "path": row["path"],
            })
    worst_calls = _frame("worst_calls", worst_rows)

    # -- trend by day
    trend_rows = []
    for agent in agents_order:
        for day in days:
            mine = [calls_rows[i] for i in scored
                    if calls_rows[i]["agent_id"] == agent and calls_rows[i]["day"] == day]
            if not mine:
                continue
            scores = [row["score"] for row in mine]
            passed = sum(row["passed"] for row in mine)
            trend_rows.append({
                "agent_id": agent, "day": day, "calls": len(mine),
                "mean_score": round(sum(scores) / len(scores), 2), "min_score": min(scores),
                "passed": passed, "pass_rate": _rate(passed, len(mine)),
            })
    trend = _frame("trend", trend_rows)

    finding_rows = []
    for i in order:
        row = calls_rows[i]
        for f in sorted(results[i].result.findings, key=lambda f: (f.start, f.rule_id)):
            finding_rows.append({
                "call_id": row["call_id"], "agent_id": row["agent_id"], "day": row["day"],
                "rule_id": f.rule_id, "title": f.title, "category": f.category,
                "severity": f.severity, "speaker": f.speaker, "start": round(f.start, 3),
                "end": round(f.end, 3), "deduction": f.deduction, "message": f.message,
                "evidence": f.evidence, "suggestion": f.suggestion, "standard": f.standard,
                "confidence": f.confidence, "review": f.review,
            })
    findings = _frame("findings", finding_rows)

    failure_rows = [{c: f.get(c) for c in COLUMNS["failures"]} for f in failures]
    failures_df = _frame("failures", failure_rows)
    reviews_df = _frame("reviews", [{c: r.get(c) for c in COLUMNS["reviews"]} for r in reviews])

    return ReportTables(agents=agents, agent_categories=agent_categories,
                        agent_rules=agent_rules, rules=rules, worst_calls=worst_calls,
                        trend=trend, calls=calls, findings=findings,
                        failures=failures_df, reviews=reviews_df, since=since, days=days)


def daily_overall(tables: ReportTables) -> pd.DataFrame:
    """All agents together per day, scored calls only: ``day, calls, mean_score, pass_rate``
    (for the trend chart)."""
    calls = tables.calls
    if len(calls):
        calls = calls[calls["day"].notna() & calls["score"].notna()]
    if not len(calls):
        return pd.DataFrame(columns=["day", "calls", "mean_score", "pass_rate"])
    g = calls.groupby("day", sort=True)
    out = pd.DataFrame({
        "calls": g["call_id"].count(),
        "mean_score": g["score"].mean().round(2),
        "pass_rate": (g["passed"].sum() / g["call_id"].count()).round(4),
    }).reset_index()
    return out


def rule_matrix(tables: ReportTables) -> pd.DataFrame:
    """Hit rate per rule (rows) and agent (columns), plus an ``overall`` column — for people."""
    if not len(tables.agent_rules):
        return pd.DataFrame(columns=["rule_id", "title", "overall"])
    m = tables.agent_rules.pivot(index="rule_id", columns="agent_id", values="hit_rate")
    m = m[list(dict.fromkeys(tables.agent_rules["agent_id"]))]  # agents in rank order
    m.columns = [str(c) for c in m.columns]
    rules = tables.rules.set_index("rule_id")
    m.insert(0, "overall", rules["hit_rate"])
    m.insert(0, "title", rules["title"])
    m = m.reset_index()
    m.columns.name = None
    return m
