"""Appeals: an agent disputes a finding on their own call; a reviewer upholds or overturns."""

from __future__ import annotations

import sqlite3
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from callqa.privacy.views import mask_appeals, place_of
from callqa.verdicts import Appeal, ReviewStore, User
from callqa.serve import queries
from callqa.serve.deps import (Settings, agent_scope, csrf_form, current_user, db, json_body,
                               reviewer, reviews, settings)
from callqa.serve.models import AppealIn, ResolveIn
from callqa.serve.pages import render

router = APIRouter()


def _listed(appeals: list[Appeal], s: Settings, user: User) -> list[Appeal]:
    """Appeals as ``user`` may read them (masked as their call pages are)."""
    return mask_appeals(appeals, s.privacy, place_of(user))


def agent(user: User = Depends(current_user)) -> User:
    if user.role != "agent":
        raise HTTPException(403, "只有坐席本人可以申诉")
    return user


def file_appeal(conn, rs, s, user: User, call_id: str, a: AppealIn) -> Appeal:
    _, result = queries.get_call(conn, s.out_dir, call_id, user.agent_id or user.name)
    if a.missed_id is None:
        queries.find_finding(result, a.rule_id, a.start)
        start = a.start
    else:
        m = rs.missed(call_id, a.missed_id)
        if not m:
            raise queries.NotFound(f"{call_id}: no added finding #{a.missed_id}")
        start = m[0].start
    return rs.appeal(user, call_id, a.rule_id, start, a.comment, a.missed_id)


def resolve(conn, rs, s, user: User, appeal_id: int, r: ResolveIn) -> Appeal:
    ap = rs.get_appeal(appeal_id)
    finding = None
    if ap.missed_id is None:
        _, result = queries.get_call(conn, s.out_dir, ap.call_id, None)
        try:
            finding = queries.find_finding(result, ap.rule_id, ap.start, tolerance_s=1.0)
        except queries.NotFound:
            finding = None  # the finding vanished after re-scoring: the appeal is history
    return rs.resolve_appeal(user, appeal_id, r.outcome, r.resolution, finding)


@router.post("/api/calls/{call_id}/appeals", response_model=Appeal, tags=["appeals"],
             dependencies=[Depends(json_body)])
def api_appeal(call_id: str, a: AppealIn, conn: sqlite3.Connection = Depends(db),
               rs: ReviewStore = Depends(reviews), s: Settings = Depends(settings),
               user: User = Depends(agent)) -> Appeal:
    return file_appeal(conn, rs, s, user, call_id, a)


@router.post("/api/appeals/{appeal_id}/resolve", response_model=Appeal, tags=["appeals"],
             dependencies=[Depends(json_body)])
def api_resolve(appeal_id: int, r: ResolveIn, conn: sqlite3.Connection = Depends(db),
                rs: ReviewStore = Depends(reviews), s: Settings = Depends(settings),
                user: User = Depends(reviewer)) -> Appeal:
    return resolve(conn, rs, s, user, appeal_id, r)


@router.get("/api/appeals", response_model=list[Appeal], tags=["appeals"])
def api_appeals(status: str | None = None, rs: ReviewStore = Depends(reviews),
                s: Settings = Depends(settings), user: User = Depends(current_user),
                scope: str | None = Depends(agent_scope)) -> list[Appeal]:
    return _listed(rs.appeals(status=status or None, agent_id=scope), s, user)


@router.get("/appeals", include_in_schema=False)
def page_appeals(request: Request, status: str = "", rs: ReviewStore = Depends(reviews),
                 s: Settings = Depends(settings), user: User = Depends(current_user),
                 scope: str | None = Depends(agent_scope)):
    return render(request, "appeals.html.j2", user=user, status=status,
                  appeals=_listed(rs.appeals(status=status or None, agent_id=scope), s, user))


@router.post("/calls/{call_id}/appeal", include_in_schema=False,
             dependencies=[Depends(csrf_form)])
def form_appeal(call_id: str, rule_id: str = Form(...), start: float = Form(...),
                comment: str = Form(...), missed_id: str = Form(""),
                conn: sqlite3.Connection = Depends(db), rs: ReviewStore = Depends(reviews),
                s: Settings = Depends(settings), user: User = Depends(agent)):
    a = AppealIn(rule_id=rule_id, start=start, comment=comment,
                 missed_id=int(missed_id) if missed_id.strip() else None)
    file_appeal(conn, rs, s, user, call_id, a)
    return RedirectResponse(f"/calls/{quote(call_id, safe='')}#appeals", status_code=303)


@router.post("/appeals/{appeal_id}/resolve", include_in_schema=False,
             dependencies=[Depends(csrf_form)])
def form_resolve(appeal_id: int, outcome: str = Form(...), resolution: str = Form(""),
                 conn: sqlite3.Connection = Depends(db), rs: ReviewStore = Depends(reviews),
                 s: Settings = Depends(settings), user: User = Depends(reviewer)):
    ap = resolve(conn, rs, s, user, appeal_id, ResolveIn(outcome=outcome, resolution=resolution))
    return RedirectResponse(f"/calls/{quote(ap.call_id, safe='')}#appeals", status_code=303)
