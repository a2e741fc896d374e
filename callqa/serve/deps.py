"""What every route needs, as FastAPI dependencies: settings, the database, the current user,
role checks and CSRF checks. A permission rule lives here once and is used everywhere.

Who is the current user:

* ``Authorization: Basic name:secret`` (the JSON API; scripts and tests), or
* the session cookie set by the login form (pages), or
* with no users configured and a loopback bind only: the local reviewer (one person at their own
  machine), since ``callqa serve`` refuses any other bind without users.

Forms carry a CSRF token (the session's, or the server's own in local mode) that a page of another
site cannot read; JSON API writes must be ``application/json``, which a cross-site form cannot
send. The cookie is ``HttpOnly`` and ``SameSite=Strict``.
"""

from __future__ import annotations

import hashlib
import hmac
import base64
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from fastapi import Depends, HTTPException, Request

from callqa.privacy.policy import DEFAULT_POLICY, PrivacyPolicy
from callqa.verdicts import ReviewStore, User, verify_secret
from callqa.serve import index

__all__ = ["SESSION_COOKIE", "Settings", "LoginRequired", "settings", "db", "reviews",
           "current_user", "reviewer", "agent_scope", "csrf_form", "json_body",
           "login", "logout"]

SESSION_COOKIE = "callqa_session"
SESSION_TTL_S = 12 * 3600
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass
class Session:
    user: User
    csrf: str
    expires: float


@dataclass
class Settings:
    """One server's configuration (``app.state.settings``).

    Attributes:
        out_dir: the batch's output directory; ``db_path`` is its ``callqa.db``.
        file_users: users from ``--users`` (name → (user, secret hash)); they take precedence
            over users in the database.
        auth_required: False only for a loopback bind without any users.
        local_user: who a request is when authentication is not required.
        form_token: the CSRF token of forms shown before a session exists (and in local mode).
        privacy: what personal data is masked in search results and on call pages, and who
            may open the original (``OUT/callqa.yaml``'s ``privacy:`` section).
    """

    out_dir: Path
    db_path: Path
    file_users: dict[str, tuple[User, str]] = field(default_factory=dict)
    auth_required: bool = True
    local_user: User | None = None
    form_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    privacy: PrivacyPolicy = DEFAULT_POLICY
    sessions: dict[str, Session] = field(default_factory=dict)
    _verified: dict[tuple[str, str], tuple[User, float]] = field(default_factory=dict)

    def authenticate(self, conn: sqlite3.Connection, name: str, secret: str) -> User | None:
        """Check a name and secret against the users file, then the database. A success is
        remembered for a minute (keyed by a hash of the secret), so API calls do not pay the
        scrypt cost each time."""
        key = (name, hashlib.sha256(secret.encode()).hexdigest())
        hit = self._verified.get(key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        user = None
        if name in self.file_users:
            u, stored = self.file_users[name]
            user = u if verify_secret(secret, stored) else None
        else:
            user = ReviewStore(conn, self.db_path).authenticate(name, secret)
        if user is not None:
            self._verified[key] = (user, time.monotonic() + 60)
        return user


class LoginRequired(Exception):
    """No valid credentials: pages redirect to the login form, the API answers 401."""


def settings(request: Request) -> Settings:
    return request.app.state.settings


def db(request: Request, s: Settings = Depends(settings)) -> Iterator[sqlite3.Connection]:
    """A connection for this request, with the search index brought up to date."""
    if not s.auth_required:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        if host not in LOOPBACK:  # a DNS-rebinding page must not reach the unauthenticated app
            raise HTTPException(400, "unexpected Host header")
    conn = index.connect(s.db_path)
    try:
        index.sync(conn, s.out_dir, policy=s.privacy)
        yield conn
    finally:
        conn.close()


def reviews(conn: sqlite3.Connection = Depends(db), s: Settings = Depends(settings)) -> ReviewStore:
    return ReviewStore(conn, s.db_path)


def _basic(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    try:
        name, _, secret = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return name, secret


def session_of(request: Request, s: Settings) -> Session | None:
    sid = request.cookies.get(SESSION_COOKIE)
    sess = s.sessions.get(sid) if sid else None
    if sess is None or sess.expires < time.time():
        return None
    return sess


def current_user(request: Request, conn: sqlite3.Connection = Depends(db),
                 s: Settings = Depends(settings)) -> User:
    basic = _basic(request)
    if basic is not None:
        user = s.authenticate(conn, *basic)
        if user is None:
            raise LoginRequired()
        return user
    sess = session_of(request, s)
    if sess is not None:
        return sess.user
    if not s.auth_required and s.local_user is not None:
        return s.local_user
    raise LoginRequired()


def reviewer(user: User = Depends(current_user)) -> User:
    if not user.is_reviewer:
        raise HTTPException(403, "只有质检员可以这样做")
    return user


def agent_scope(user: User = Depends(current_user)) -> str | None:
    """None for a reviewer (every call); an agent's own agent id otherwise."""
    return None if user.is_reviewer else (user.agent_id or user.name)


def csrf_token(request: Request, s: Settings) -> str:
    sess = session_of(request, s)
    return sess.csrf if sess else s.form_token


async def csrf_form(request: Request, s: Settings = Depends(settings)) -> None:
    """Every form POST carries the token of the page that showed it."""
    form = await request.form()
    sent = str(form.get("csrf") or "")
    if not hmac.compare_digest(sent, csrf_token(request, s)):
        raise HTTPException(403, "表单已过期或来源不明（CSRF），请刷新页面后重试")


def json_body(request: Request) -> None:
    """API writes take JSON only: a cross-site HTML form cannot send it without CORS."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPException(415, "send application/json")


def login(s: Settings, user: User) -> tuple[str, Session]:
    sid = secrets.token_urlsafe(32)
    sess = Session(user, secrets.token_urlsafe(24), time.time() + SESSION_TTL_S)
    s.sessions[sid] = sess
    return sid, sess


def logout(request: Request, s: Settings) -> None:
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        s.sessions.pop(sid, None)
