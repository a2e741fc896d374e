"""Logging in and out (pages); the API authenticates each request with HTTP Basic."""

from __future__ import annotations

import hmac
import sqlite3

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from callqa.verdicts import User
from callqa.serve import deps
from callqa.serve.deps import SESSION_COOKIE, Settings, current_user, db, settings
from callqa.serve.models import MAX_ID, MAX_TEXT
from callqa.serve.pages import render

router = APIRouter()


def _safe_next(url: str) -> str:
    """Only a path on this site (no ``//host`` or scheme): no open redirect after login."""
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else "/"


@router.get("/login", include_in_schema=False)
def page_login(request: Request, next: str = "/"):
    return render(request, "login.html.j2", user=None, next=_safe_next(next), error="")


@router.post("/login", include_in_schema=False)
async def form_login(request: Request, name: str = Form(..., max_length=MAX_ID),
                     secret: str = Form(..., max_length=1000),
                     next: str = Form("/", max_length=MAX_TEXT), csrf: str = Form(""),
                     conn: sqlite3.Connection = Depends(db), s: Settings = Depends(settings)):
    if not hmac.compare_digest(csrf, s.form_token):
        raise HTTPException(403, "表单已过期，请刷新页面后重试")
    user = await deps.check_secret(request, s, conn, name.strip(), secret)
    if user is None:
        return render(request, "login.html.j2", status_code=401, user=None,
                      next=_safe_next(next), error="用户名或密码错误")
    sid, _ = deps.login(s, user)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict",
                    max_age=deps.SESSION_TTL_S, secure=request.url.scheme == "https")
    return resp


@router.post("/logout", include_in_schema=False, dependencies=[Depends(deps.csrf_form)])
def form_logout(request: Request, s: Settings = Depends(settings)):
    deps.logout(request, s)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/api/me", tags=["auth"])
def api_me(user: User = Depends(current_user)) -> dict:
    return {"name": user.name, "role": user.role, "agent_id": user.agent_id}
