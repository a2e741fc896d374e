"""Calls: the filterable list, one call's page (player, transcript, findings, review), its
recording, and the reviewer's actions on it: verdicts, added findings, "review done"."""

from __future__ import annotations

import math
import sqlite3
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse

from callqa.batch.store import safe_name
from callqa.errors import CallqaError
from callqa.privacy.audio import redacted_copy
from callqa.privacy.redact import redact_for
from callqa.privacy.retention import REDACTED_DIR
from callqa.privacy.views import mask_detail, mask_events, place_of
from callqa.verdicts import ReviewStore, User
from callqa.serve import queries
from callqa.serve.deps import (Settings, agent_scope, csrf_form, current_user, db, json_body,
                               reviewer, reviews, settings)
from callqa.serve.models import (CallDetail, CallFilter, CallPage, MissedIn, REVIEW_STATES,
                                 VerdictIn)
from callqa.serve.pages import NavLink, render

router = APIRouter()
NAV = [NavLink("/calls", "通话")]


# --------------------------------------------------------------------------- list

@router.get("/api/calls", response_model=CallPage, tags=["calls"])
def api_calls(f: Annotated[CallFilter, Query()], conn: sqlite3.Connection = Depends(db),
              scope: str | None = Depends(agent_scope)) -> CallPage:
    return queries.list_calls(conn, f, scope)


@router.get("/calls", include_in_schema=False)
def page_calls(request: Request, f: Annotated[CallFilter, Query()],
               conn: sqlite3.Connection = Depends(db), user: User = Depends(current_user),
               scope: str | None = Depends(agent_scope)):
    page = queries.list_calls(conn, f, scope)
    pages = max(1, -(-page.total // f.per_page))
    return render(request, "calls.html.j2", user=user, f=f, page=page, pages=pages,
                  options=queries.filter_options(conn, scope), review_states=REVIEW_STATES)


# --------------------------------------------------------------------------- one call

def _audio_url(s: Settings, row) -> str | None:
    found, _ = queries.audio_path(row, s.out_dir)
    return f"/calls/{quote(row['call_id'], safe='')}/audio" if found else None


def _view(conn, rs: ReviewStore, s: Settings, row, result, user: User,
          original: bool = False):
    """The call as ``user`` may see it (masked result, detail): personal data masked as the
    privacy policy says for their role; a role the policy allows sees the original on request,
    written to the audit trail."""
    if original:
        if user.role not in s.privacy.original_roles:
            raise HTTPException(403, "无权查看原文（个人信息）")
        rs.viewed_original(user, result.call_id)
        return result, queries.call_detail(conn, rs, row, result, _audio_url(s, row))
    place = place_of(user)
    shown = redact_for(result, s.privacy, place)
    detail = queries.call_detail(conn, rs, row, shown, _audio_url(s, row))
    return shown, mask_detail(detail, result, s.privacy, place)


def _detail(conn, rs, s, call_id, scope, user: User) -> CallDetail:
    """A call as a reviewer's action returns it (masked as reviewers see it)."""
    row, result = queries.get_call(conn, s.out_dir, call_id, scope)
    return _view(conn, rs, s, row, result, user)[1]


# a call id may hold "/": the routes with a suffix come before the call itself
@router.get("/calls/{call_id:path}/audio", include_in_schema=False)
def audio(call_id: str, conn: sqlite3.Connection = Depends(db), s: Settings = Depends(settings),
          user: User = Depends(current_user), scope: str | None = Depends(agent_scope)):
    row, result = queries.get_call(conn, s.out_dir, call_id, scope)
    found, tried = queries.audio_path(row, s.out_dir)
    if found is None:
        raise queries.NotFound(f"找不到录音 {row['path']}（已查找：{'，'.join(map(str, tried))}）")
    if user.is_reviewer:
        return FileResponse(found)
    # others hear what their page shows: the masked personal data replaced by a tone
    place = place_of(user)
    copy = s.out_dir / REDACTED_DIR / f"{safe_name(call_id)}.{place}.wav"
    try:
        heard = redacted_copy(found, result.entities or (), s.privacy.masked(place), copy,
                              s.privacy.redact_audio)
    except CallqaError as exc:  # never the original instead
        raise queries.NotFound(f"无法生成脱敏录音：{exc.message}") from None
    return FileResponse(heard, media_type="audio/wav" if heard == copy else None)


@router.get("/api/calls/{call_id:path}", response_model=CallDetail, tags=["calls"])
def api_call(call_id: str, original: bool = Query(False, description="unmasked (audited)"),
             conn: sqlite3.Connection = Depends(db), rs: ReviewStore = Depends(reviews),
             s: Settings = Depends(settings), user: User = Depends(current_user),
             scope: str | None = Depends(agent_scope)) -> CallDetail:
    row, result = queries.get_call(conn, s.out_dir, call_id, scope)
    return _view(conn, rs, s, row, result, user, original)[1]


@router.get("/calls/{call_id:path}", include_in_schema=False)
def page_call(request: Request, call_id: str, original: bool = False,
              conn: sqlite3.Connection = Depends(db),
              rs: ReviewStore = Depends(reviews), s: Settings = Depends(settings),
              user: User = Depends(current_user), scope: str | None = Depends(agent_scope)):
    row, result = queries.get_call(conn, s.out_dir, call_id, scope)
    result, detail = _view(conn, rs, s, row, result, user, original)
    _, tried = queries.audio_path(row, s.out_dir)
    rb = queries.rulebook_of(result)
    rules = [(r.id, r.title, r.points) for r in rb.rules] if rb else []
    events = rs.events(call_id, limit=50) if user.sees_all_calls else []
    if not original:  # the trail quotes reasons and comments as typed
        events = mask_events(events, s.privacy, "review_pages")
    return render(request, "call.html.j2", user=user, d=detail, r=result, path=row["path"],
                  tried=tried, rules=rules, rows=_timeline(result, detail), events=events,
                  privacy="original" if original else (
                      "masked" if s.privacy.masked(place_of(user)) else ""),
                  may_see_original=user.role in s.privacy.original_roles)


def _timeline(result, detail: CallDetail) -> list[dict]:
    """Utterances with the findings (and added findings) that fall inside each; the rest as
    rows of their own at their moment (dead air, a phrase missing from the whole call)."""
    utts = [{"kind": "utt", "i": i, "u": u, "findings": [], "missed": []}
            for i, u in enumerate(result.utterances)]
    extra = []
    placed = [("findings", fo, fo.finding) for fo in detail.findings] + \
        [("missed", m, m) for m in detail.missed]
    for key, item, at in placed:
        home = next((row for row in utts if row["u"].speaker == at.speaker
                     and row["u"].start - 0.05 <= at.start < row["u"].end), None)
        if home is not None:
            home[key].append(item)
        else:
            extra.append({"kind": "gap", "start": at.start, "speaker": at.speaker,
                          "findings": [item] if key == "findings" else [],
                          "missed": [item] if key == "missed" else []})
    rows = utts + extra
    return sorted(rows, key=lambda r: (r["u"].start if r["kind"] == "utt" else r["start"],
                                       r["kind"] != "utt"))


# --------------------------------------------------------------------------- review actions

def set_verdict(conn, rs, s, user, call_id: str, v: VerdictIn) -> None:
    _, result = queries.get_call(conn, s.out_dir, call_id, None)
    finding = queries.find_finding(result, v.rule_id, v.start)
    rs.set_verdict(user, call_id, finding, v.verdict, v.reason)


def add_missed(conn, rs, s, user, call_id: str, m: MissedIn) -> None:
    """Add a finding the rules missed: a rule of the call's rulebook (or, when that file is
    gone, one that fired on the call), at a moment within the call, deducting at most the
    rulebook's base."""
    _, result = queries.get_call(conn, s.out_dir, call_id, None)
    rb = queries.rulebook_of(result)
    known = {r.id: r for r in rb.rules} if rb else {}
    if m.rule_id not in known and m.rule_id not in {f.rule_id for f in result.findings}:
        raise queries.BadRequest(f"未知规则 {m.rule_id}：请选用本通话规则库中的规则")
    rule = known.get(m.rule_id)
    end = m.end if m.end is not None else m.start
    if not m.start <= end <= result.duration + 1.0:
        raise queries.BadRequest(f"时刻应在通话之内（0–{result.duration:.1f} 秒），且结束不早于开始")
    base = float(result.rulebook.get("base") or (rb.base if rb else 100.0))
    deduction = m.deduction if m.deduction is not None else (rule.points if rule else 0.0)
    if deduction > base:
        raise queries.BadRequest(f"扣分不能超过满分 {base:g}")
    rs.add_missed(user, call_id, m.rule_id, m.speaker, m.start, end, deduction, m.note)


@router.post("/api/calls/{call_id:path}/verdicts", response_model=CallDetail, tags=["reviews"],
             dependencies=[Depends(json_body)])
def api_verdict(call_id: str, v: VerdictIn, conn: sqlite3.Connection = Depends(db),
                rs: ReviewStore = Depends(reviews), s: Settings = Depends(settings),
                user: User = Depends(reviewer)) -> CallDetail:
    set_verdict(conn, rs, s, user, call_id, v)
    return _detail(conn, rs, s, call_id, None, user)


@router.post("/api/calls/{call_id:path}/missed", response_model=CallDetail, tags=["reviews"],
             dependencies=[Depends(json_body)])
def api_missed(call_id: str, m: MissedIn, conn: sqlite3.Connection = Depends(db),
               rs: ReviewStore = Depends(reviews), s: Settings = Depends(settings),
               user: User = Depends(reviewer)) -> CallDetail:
    add_missed(conn, rs, s, user, call_id, m)
    return _detail(conn, rs, s, call_id, None, user)


@router.post("/api/calls/{call_id:path}/reviewed", response_model=CallDetail, tags=["reviews"],
             dependencies=[Depends(json_body)])
def api_reviewed(call_id: str, conn: sqlite3.Connection = Depends(db),
                 rs: ReviewStore = Depends(reviews), s: Settings = Depends(settings),
                 user: User = Depends(reviewer)) -> CallDetail:
    queries.get_call(conn, s.out_dir, call_id, None)
    rs.mark_reviewed(user, call_id)
    return _detail(conn, rs, s, call_id, None, user)


def _back(call_id: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/calls/{quote(call_id, safe='')}{anchor}", status_code=303)


@router.post("/calls/{call_id:path}/verdict", include_in_schema=False,
             dependencies=[Depends(csrf_form)])
def form_verdict(call_id: str, rule_id: str = Form(...), start: str = Form(...),
                 verdict: str = Form(...), reason: str = Form(""), anchor: str = Form(""),
                 conn: sqlite3.Connection = Depends(db), rs: ReviewStore = Depends(reviews),
                 s: Settings = Depends(settings), user: User = Depends(reviewer)):
    set_verdict(conn, rs, s, user, call_id,
                VerdictIn(rule_id=rule_id, start=parse_number(start, "时刻"), verdict=verdict,
                          reason=reason))
    return _back(call_id, f"#{anchor}" if anchor.isalnum() else "")


@router.post("/calls/{call_id:path}/missed", include_in_schema=False,
             dependencies=[Depends(csrf_form)])
def form_missed(call_id: str, rule_id: str = Form(...), speaker: str = Form("agent"),
                start: str = Form(...), end: str = Form(""), deduction: str = Form(""),
                note: str = Form(""), conn: sqlite3.Connection = Depends(db),
                rs: ReviewStore = Depends(reviews), s: Settings = Depends(settings),
                user: User = Depends(reviewer)):
    m = MissedIn(rule_id=rule_id, speaker=speaker, start=parse_moment(start),
                 end=parse_moment(end) if end.strip() else None,
                 deduction=parse_number(deduction, "扣分") if deduction.strip() else None,
                 note=note)
    add_missed(conn, rs, s, user, call_id, m)
    return _back(call_id, "#missed")


@router.post("/calls/{call_id:path}/reviewed", include_in_schema=False,
             dependencies=[Depends(csrf_form)])
def form_reviewed(call_id: str, conn: sqlite3.Connection = Depends(db),
                  rs: ReviewStore = Depends(reviews), s: Settings = Depends(settings),
                  user: User = Depends(reviewer)):
    queries.get_call(conn, s.out_dir, call_id, None)
    rs.mark_reviewed(user, call_id)
    return _back(call_id)


def parse_moment(text: str) -> float:
    """Seconds from ``83.5``, ``1:23.5`` or ``01:23``.

    >>> parse_moment("1:23.5"), parse_moment("83.5")
    (83.5, 83.5)
    """
    text = text.strip().replace("：", ":")
    try:
        if ":" in text:
            m, sec = text.rsplit(":", 1)
            value = int(m) * 60 + float(sec)
        else:
            value = float(text)
    except (ValueError, OverflowError):  # OverflowError: minutes too many for a float
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise queries.BadRequest(f"时刻应写成 秒 或 分:秒，例如 83.5 或 1:23.5，而不是 {text[:20]!r}")
    return value


def parse_number(text: str, what: str) -> float:
    """A finite number from a form field, or 400 naming the field.

    >>> parse_number(" 5 ", "扣分")
    5.0
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise queries.BadRequest(f"{what}应是数字，而不是 {text.strip()[:20]!r}")
    return value
