"""Queries the pages and the JSON API share, so the two cannot disagree.

Every function takes ``agent_scope``: None for a reviewer (all calls), an agent id for an agent
(only that agent's calls; a call of another agent is "not found").
"""

from __future__ import annotations

import functools
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from callqa.errors import CallqaError
from callqa.verdicts import (PrecisionRow, ReviewStore, match_reviews, reviewed_score,
                            rule_precision)
from callqa.result import CallResult
from callqa.serve.index import load_result, metrics_of
from callqa.serve.models import (CallDetail, CallFilter, CallPage, CallRow, FindingOut,
                                 PrecisionOut, SearchHit, SearchPage)

__all__ = ["NotFound", "BadRequest", "check_day", "list_calls", "search", "get_call", "call_detail", "precision",
           "agents", "filter_options", "find_finding", "mark", "audio_path", "rulebook_of"]

#: A call's review state, computed from the review tables (see models.REVIEW_STATES).
REVIEW_STATE = """CASE
 WHEN EXISTS (SELECT 1 FROM appeals a WHERE a.call_id = s.call_id AND a.status = 'open')
   THEN 'appealed'
 WHEN EXISTS (SELECT 1 FROM call_reviews cr WHERE cr.call_id = s.call_id) THEN 'reviewed'
 WHEN EXISTS (SELECT 1 FROM reviews r WHERE r.call_id = s.call_id)
   OR EXISTS (SELECT 1 FROM missed_findings m WHERE m.call_id = s.call_id) THEN 'in_progress'
 ELSE 'unreviewed' END"""


class NotFound(LookupError):
    """No such call (or not one this user may see)."""


class BadRequest(ValueError):
    """A parameter that cannot be used (answered 400)."""


def check_day(text: str | None) -> str | None:
    """A ``YYYY-MM-DD`` day from a form or query string ('' → None).

    >>> check_day("2026-11-21"), check_day("")
    ('2026-11-21', None)
    """
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise BadRequest(f"日期应写成 YYYY-MM-DD，而不是 {text!r}") from None


def _next_day(day: str) -> str:
    return (date.fromisoformat(day[:10]) + timedelta(days=1)).isoformat()


def _where(f: CallFilter, agent_scope: str | None) -> tuple[str, list[Any]]:
    sql, args = ["1=1"], []
    if agent_scope is not None:
        sql.append("s.agent_id = ?")
        args.append(agent_scope)
    if f.agent:
        sql.append("s.agent_id = ?")
        args.append(f.agent)
    if f.desk:
        sql.append("s.desk = ?")
        args.append(f.desk)
    if f.since:
        sql.append("s.started_at >= ?")
        args.append(f.since)
    if f.until:
        sql.append("s.started_at < ?")
        args.append(_next_day(f.until))
    for col, val in (("rule_id", f.rule), ("category", f.category)):
        if val:
            sql.append(f"s.call_id IN (SELECT call_id FROM serve_findings WHERE {col} = ?)")
            args.append(val)
    if f.score_min is not None:
        sql.append("s.score >= ?")
        args.append(f.score_min)
    if f.score_max is not None:
        sql.append("s.score <= ?")
        args.append(f.score_max)
    if f.result == "pass":
        sql.append("s.passed = 1")
    elif f.result == "fail":
        sql.append("s.passed = 0 AND s.unscored IS NULL")
    elif f.result == "unscored":
        sql.append("s.unscored IS NOT NULL")
    if f.review:
        sql.append(f"({REVIEW_STATE}) = ?")
        args.append(f.review)
    return " AND ".join(sql), args


def list_calls(conn: sqlite3.Connection, f: CallFilter, agent_scope: str | None) -> CallPage:
    where, args = _where(f, agent_scope)
    total = conn.execute(f"SELECT COUNT(*) FROM serve_calls s WHERE {where}", args).fetchone()[0]
    # NULLs (no date, unscored) go last whichever way the list is sorted
    order = f"s.{f.sort} IS NULL, s.{f.sort} {f.order.upper()}, s.call_id"
    rows = conn.execute(
        f"SELECT s.*, {REVIEW_STATE} AS review FROM serve_calls s WHERE {where} "
        f"ORDER BY {order} LIMIT ? OFFSET ?", [*args, f.per_page, (f.page - 1) * f.per_page]
    ).fetchall()
    ids = [r["call_id"] for r in rows]
    rules: dict[str, list[str]] = {}
    if ids:
        for cid, rule in conn.execute(
                f"SELECT DISTINCT call_id, rule_id FROM serve_findings WHERE call_id IN "
                f"({','.join('?' * len(ids))}) ORDER BY rule_id", ids):
            rules.setdefault(cid, []).append(rule)
    calls = [CallRow(call_id=r["call_id"], agent_id=r["agent_id"], desk=r["desk"],
                     started_at=r["started_at"],
                     duration=r["duration"], score=r["score"], passed=bool(r["passed"]),
                     unscored=r["unscored"], roles=r["roles"], n_findings=r["n_findings"],
                     review=r["review"], rules=rules.get(r["call_id"], []))
             for r in rows]
    return CallPage(total=total, page=f.page, per_page=f.per_page, calls=calls)


def filter_options(conn: sqlite3.Connection, agent_scope: str | None) -> dict[str, list]:
    """Values for the filter drop-downs: agents, desks, rules (with titles), categories — of
    the calls this user may see (an agent is not told what other agents' calls hold)."""
    scope, args = ("WHERE s.agent_id = ?", [agent_scope]) if agent_scope is not None else ("", [])
    calls = f"serve_calls s {scope}"
    found = f"serve_findings f JOIN serve_calls s ON s.call_id = f.call_id {scope}"
    agents_ = [r[0] for r in conn.execute(
        f"SELECT DISTINCT s.agent_id FROM {calls} ORDER BY s.agent_id", args) if r[0] is not None]
    desks = [r[0] for r in conn.execute(
        f"SELECT DISTINCT s.desk FROM {calls} ORDER BY s.desk", args) if r[0] is not None]
    rules = [(r[0], r[1] or "") for r in conn.execute(
        f"SELECT f.rule_id, MAX(f.title) FROM {found} GROUP BY f.rule_id ORDER BY f.rule_id",
        args)]
    cats = [r[0] for r in conn.execute(
        f"SELECT DISTINCT f.category FROM {found} ORDER BY f.category", args) if r[0]]
    return {"agents": agents_, "desks": desks, "rules": rules, "categories": cats}


# --------------------------------------------------------------------------- search

def mark(text: str, needle: str) -> list[tuple[str, bool]]:
    """``text`` cut into pieces, each occurrence of ``needle`` (any case) marked.

    >>> mark("这个不归我们管，不归", "不归")
    [('这个', False), ('不归', True), ('我们管，', False), ('不归', True)]
    """
    if not needle:
        return [(text, False)]
    low, key = text.casefold(), needle.casefold()
    out, at = [], 0
    while True:
        hit = low.find(key, at)
        if hit < 0:
            break
        if hit > at:
            out.append((text[at:hit], False))
        out.append((text[hit:hit + len(needle)], True))
        at = hit + len(needle)
    if at < len(text):
        out.append((text[at:], False))
    return out


def search(conn: sqlite3.Connection, query: str, agent_scope: str | None,
           speaker: str | None = None, agent: str | None = None, since: str | None = None,
           until: str | None = None, page: int = 1, per_page: int = 50) -> SearchPage:
    """Utterances containing ``query`` (a substring, Chinese or not), newest calls first.

    3+ characters use the trigram index; shorter queries scan the utterances."""
    q = query.strip()
    since, until = check_day(since), check_day(until)
    if not q:
        return SearchPage(query=q, speaker=speaker, total=0, page=page, per_page=per_page,
                          hits=[])
    if len(q) >= 3:
        source = "serve_utts_fts f JOIN serve_utts u ON u.id = f.rowid"
        cond, args = ["serve_utts_fts MATCH ?"], ['"' + q.replace('"', '""') + '"']
    else:
        source = "serve_utts u"
        esc = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond, args = ["u.text LIKE ? ESCAPE '\\'"], [f"%{esc}%"]
    for col, val in (("s.agent_id", agent_scope), ("s.agent_id", agent or None),
                     ("u.speaker", speaker or None)):
        if val is not None:
            cond.append(f"{col} = ?")
            args.append(val)
    if since:
        cond.append("s.started_at >= ?")
        args.append(since)
    if until:
        cond.append("s.started_at < ?")
        args.append(_next_day(until))
    base = f"FROM {source} JOIN serve_calls s ON s.call_id = u.call_id WHERE {' AND '.join(cond)}"
    total = conn.execute(f"SELECT COUNT(*) {base}", args).fetchone()[0]
    rows = conn.execute(
        f"SELECT u.*, s.agent_id, s.started_at {base} "
        f"ORDER BY s.started_at IS NULL, s.started_at DESC, u.call_id, u.idx LIMIT ? OFFSET ?",
        [*args, per_page, (page - 1) * per_page]).fetchall()
    hits = [SearchHit(call_id=r["call_id"], agent_id=r["agent_id"], started_at=r["started_at"],
                      utterance=r["idx"], speaker=r["speaker"], start=r["start_s"],
                      end=r["end_s"], text=r["text"], segments=mark(r["text"], q))
            for r in rows]
    return SearchPage(query=q, speaker=speaker, total=total, page=page, per_page=per_page,
                      hits=hits)


# --------------------------------------------------------------------------- one call

def get_call(conn: sqlite3.Connection, out_dir: Path, call_id: str,
             agent_scope: str | None) -> tuple[sqlite3.Row, CallResult]:
    row = conn.execute("SELECT * FROM serve_calls WHERE call_id = ?", (call_id,)).fetchone()
    if row is None or (agent_scope is not None and row["agent_id"] != agent_scope):
        raise NotFound(call_id)
    result = load_result(out_dir, row["result_path"])
    if result is None:
        raise NotFound(call_id)
    return row, result


def audio_path(row: sqlite3.Row, out_dir: Path) -> tuple[Path | None, list[Path]]:
    """The recording of a call: the absolute path the batch recorded, else the path it was
    given, relative to the current directory or to the output directory's parent (where a batch
    is usually run from). Returns the file, or None and the places looked at."""
    tried = [Path(row["abs_path"])] if row["abs_path"] else []
    if row["path"]:
        p = Path(row["path"])
        tried += [p] if p.is_absolute() else [Path.cwd() / p, out_dir.resolve().parent / p]
    for cand in dict.fromkeys(tried):
        if cand.is_file():
            return cand, tried
    return None, tried


def rulebook_of(result: CallResult):
    """The rulebook the call was scored with, when its file is still there unchanged (for the
    rule list and points of an added finding); None otherwise."""
    info = result.rulebook
    return _rulebook(str(info.get("path") or ""), str(info.get("sha256") or ""))


@functools.lru_cache(maxsize=8)
def _rulebook(path: str, sha256: str):
    from callqa.scoring.rulebook import load_rulebook

    if not path or not Path(path).is_file():
        return None
    try:
        rb = load_rulebook(path)
    except CallqaError:
        return None
    return rb if not sha256 or rb.sha256 == sha256 else None


def call_detail(conn: sqlite3.Connection, rs: ReviewStore, row: sqlite3.Row,
                result: CallResult, audio_url: str | None) -> CallDetail:
    findings = sorted(result.findings, key=lambda f: (f.start, f.rule_id))
    matched, history = match_reviews(findings, rs.reviews(result.call_id))
    missed = rs.missed(result.call_id)
    rb = rulebook_of(result)
    base = float(result.rulebook.get("base") or (rb.base if rb else 100.0))
    # the caps of the rules that deduct, so a rejection can free room under one
    caps = {r.id: (r.points, r.cap) for r in rb.rules
            if r.cap is not None and r.speaker != "customer"} if rb else None
    out = [FindingOut(index=i, finding=f, review=matched.get(i)) for i, f in enumerate(findings)]
    done = rs.call_review(result.call_id)
    info = {k: result.rulebook.get(k) for k in ("name", "version", "path", "sha256")}
    return CallDetail(
        call_id=result.call_id, agent_id=row["agent_id"], desk=row["desk"], rulebook=info,
        started_at=row["started_at"], duration=result.duration, score=result.score,
        reviewed_score=reviewed_score(result.score, base, findings, matched, missed, caps),
        passed=result.passed, unscored=result.unscored, roles=result.roles,
        metrics=result.metrics, audio=audio_url, findings=out,
        missed=missed, appeals=rs.appeals(call_id=result.call_id), history=history,
        reviewed_by=done["reviewer"] if done else None)


def find_finding(result: CallResult, rule_id: str, start: float, tolerance_s: float = 0.05):
    """The current finding of ``rule_id`` at ``start`` (as the page or API sent it)."""
    best = min((f for f in result.findings if f.rule_id == rule_id),
               key=lambda f: abs(f.start - start), default=None)
    if best is None or abs(best.start - start) > tolerance_s:
        raise NotFound(f"{result.call_id}: no finding {rule_id} at {start:g} s")
    return best


# --------------------------------------------------------------------------- summaries

def precision(conn: sqlite3.Connection, db_path: Path, since: str | None = None,
              until: str | None = None) -> list[PrecisionOut]:
    """Reviewer precision per rule and per rule and agent, beside how often each rule fired."""
    since, until = check_day(since), check_day(until)
    cond, args = "", []
    if since:
        cond, args = cond + " AND s.started_at >= ?", [*args, since]
    if until:
        cond, args = cond + " AND s.started_at < ?", [*args, _next_day(until)]
    fired: dict[tuple[str, str | None], int] = {}
    fired_all: dict[str, int] = {}
    titles: dict[str, str] = {}
    for rule, agent, title, n in conn.execute(
            "SELECT f.rule_id, s.agent_id, MAX(f.title), COUNT(*) FROM serve_findings f "
            "JOIN serve_calls s ON s.call_id = f.call_id WHERE 1=1" + cond +
            " GROUP BY f.rule_id, s.agent_id", args):
        fired[rule, agent] = n
        fired_all[rule] = fired_all.get(rule, 0) + n
        titles[rule] = title or ""
    # rule_precision's first row of a rule without an agent is the all-agents row; a later one
    # is the calls without an agent id
    totals: dict[str, PrecisionRow] = {}
    by_agent: dict[tuple[str, str | None], PrecisionRow] = {}
    for p in rule_precision(db_path, since, until):
        if p.agent_id is None and p.rule_id not in totals:
            totals[p.rule_id] = p
        else:
            by_agent[p.rule_id, p.agent_id] = p

    def row(rule: str, agent: str | None, p: PrecisionRow | None, n: int,
            all_agents: bool) -> PrecisionOut:
        return PrecisionOut(rule_id=rule, agent_id=agent, all_agents=all_agents,
                            title=titles.get(rule, ""), fired=n,
                            confirmed=p.confirmed if p else 0, rejected=p.rejected if p else 0,
                            missed=p.missed if p else 0, precision=p.precision if p else None)

    out = []
    for rule in sorted(set(fired_all) | set(totals)):
        out.append(row(rule, None, totals.get(rule), fired_all.get(rule, 0), True))
        agents_ = {a for r, a in fired if r == rule} | {a for r, a in by_agent if r == rule}
        for agent in sorted(agents_, key=lambda a: (a is None, a or "")):
            out.append(row(rule, agent, by_agent.get((rule, agent)),
                           fired.get((rule, agent), 0), False))
    return out


def agents(conn: sqlite3.Connection, agent_scope: str | None) -> list[dict[str, Any]]:
    """Per agent: calls, average score, pass rate, reviewed calls and the average of each
    conversation metric over the calls that have it."""
    scope, args = ("WHERE s.agent_id = ?", [agent_scope]) if agent_scope is not None else ("", [])
    out: dict[str | None, dict[str, Any]] = {}
    for r in conn.execute(
            f"SELECT s.agent_id, s.score, s.passed, s.unscored, s.metrics, "
            f"EXISTS (SELECT 1 FROM call_reviews cr WHERE cr.call_id = s.call_id) AS done "
            f"FROM serve_calls s {scope}", args):
        a = out.setdefault(r["agent_id"], {"agent_id": r["agent_id"], "calls": 0, "scored": 0,
                                           "score_sum": 0.0, "passed": 0, "reviewed": 0,
                                           "metrics": {}})
        a["calls"] += 1
        a["reviewed"] += r["done"]
        if r["unscored"] is None and r["score"] is not None:
            a["scored"] += 1
            a["score_sum"] += r["score"]
            a["passed"] += r["passed"]
        for k, v in metrics_of(r).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                a["metrics"].setdefault(k, []).append(float(v))
    rows = []
    for a in out.values():
        n = a.pop("scored")
        total = a.pop("score_sum")
        a["avg_score"] = round(total / n, 1) if n else None
        a["pass_rate"] = a.pop("passed") / n if n else None
        a["metrics"] = {k: sum(v) / len(v) for k, v in a["metrics"].items()}
        rows.append(a)
    return sorted(rows, key=lambda a: (a["avg_score"] is None, -(a["avg_score"] or 0)))
