"""What every route needs, as FastAPI dependencies: settings, the database, the current user,
role checks and CSRF checks. A permission rule lives here once and is used everywhere.

Who is the current user:

* ``Authorization: Basic name:secret`` (the JSON API; scripts and tests), or
* the session cookie set by the login form (pages), or
* with no users configured and a loopback bind only: the local reviewer (one person at their own
  machine), since ``callqa serve`` refuses any other bind without users. A user added to the
  database while such a server runs ends that mode at the next request: everyone logs in.

Forms carry the CSRF token of their session (in local mode each browser gets a session of its
own); a form POST without a session — e.g. one carried by Basic credentials a browser resends —
is refused. JSON API writes must be ``application/json``, which a cross-site form cannot send.
The cookie is ``HttpOnly`` and ``SameSite=Strict``; cross-site Origins and foreign Hosts are
refused before any route (:mod:`callqa.serve.guard`).

Failed logins are throttled per name and per address (:mod:`callqa.serve.throttle`); the scrypt
check runs in a small thread pool of its own, so guesses cannot stall other users' requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import anyio
from fastapi import Depends, HTTPException, Request

from callqa.privacy.policy import DEFAULT_POLICY, PrivacyPolicy
from callqa.verdicts import ReviewStore, User, verify_secret
from callqa.serve import index
from callqa.serve.throttle import Throttle

__all__ = ["SESSION_COOKIE", "Settings", "LoginRequired", "settings", "db", "reviews",
           "check_secret", "current_user", "reviewer", "agent_scope", "csrf_form", "json_body",
           "login", "logout", "session_of"]

SESSION_COOKIE = "callqa_session"
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 10_000
#: scrypt checks at once (each takes ~16 MB and a core for ~50 ms)
HASH_THREADS = 2

logger = logging.getLogger("callqa.serve")


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
        form_token: the CSRF token of the login form (shown before a session exists).
        throttle: failed-login counts.
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
    throttle: Throttle = field(default_factory=Throttle)
    _verified: dict[tuple[str, str], tuple[User, float]] = field(default_factory=dict)
    _hashing: Any = None  # anyio.CapacityLimiter, made in the event loop on first use

    def authenticate(self, conn: sqlite3.Connection, name: str, secret: str) -> User | None:
        """Check a name and secret against the users file, then the database. A success is
        remembered for a minute (keyed by a hash of the secret), so API calls do not pay the
        scrypt cost each time."""
        hit = self.remembered(name, secret)
        if hit is not None:
            return hit
        user = None
        if name in self.file_users:
            u, stored = self.file_users[name]
            user = u if verify_secret(secret, stored) else None
        else:
            user = ReviewStore(conn, self.db_path).authenticate(name, secret)
        if user is not None:
            self._verified[_secret_key(name, secret)] = (user, time.monotonic() + 60)
        return user

    def remembered(self, name: str, secret: str) -> User | None:
        """The user of a name and secret checked in the last minute, else None."""
        hit = self._verified.get(_secret_key(name, secret))
        return hit[0] if hit and hit[1] > time.monotonic() else None

    def notice_users(self, conn: sqlite3.Connection) -> None:
        """Local mode ends when a user appears in the database: from now on everyone logs in."""
        if self.auth_required:
            return
        if conn.execute("SELECT 1 FROM review_users LIMIT 1").fetchone() is not None:
            self.auth_required, self.local_user = True, None
            self.sessions.clear()
            logger.warning("callqa serve: users were added to %s: login is now required",
                           self.db_path)


def _secret_key(name: str, secret: str) -> tuple[str, str]:
    return name, hashlib.sha256(secret.encode()).hexdigest()


class LoginRequired(Exception):
    """No valid credentials: pages redirect to the login form, the API answers 401."""


def settings(request: Request) -> Settings:
    return request.app.state.settings


def db(request: Request, s: Settings = Depends(settings)) -> Iterator[sqlite3.Connection]:
    """A connection for this request, with the search index brought up to date."""
    conn = index.connect(s.db_path)
    try:
        s.notice_users(conn)
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


async def check_secret(request: Request, s: Settings, conn: sqlite3.Connection, name: str,
                       secret: str) -> User | None:
    """A name and secret checked: throttled (:class:`Throttled` before any hashing), and the
    scrypt work off the event loop, at most :data:`HASH_THREADS` at a time."""
    user = s.remembered(name, secret)
    if user is not None:
        return user
    address = request.client.host if request.client else ""
    s.throttle.check(name, address)
    if s._hashing is None:
        s._hashing = anyio.CapacityLimiter(HASH_THREADS)
    ok = None
    try:
        user = await anyio.to_thread.run_sync(s.authenticate, conn, name, secret,
                                              limiter=s._hashing)
        ok = user is not None
    finally:
        s.throttle.done(name, address, ok)
    return user


async def current_user(request: Request, conn: sqlite3.Connection = Depends(db),
                       s: Settings = Depends(settings)) -> User:
    basic = _basic(request)
    if basic is not None:
        user = await check_secret(request, s, conn, *basic)
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


def privacy_officer(user: User = Depends(current_user)) -> User:
    if user.role != "privacy":
        raise HTTPException(403, "只有个人信息管理员可以查看")
    return user


def agent_scope(user: User = Depends(current_user)) -> str | None:
    """None for a reviewer or the privacy officer (every call); an agent's own agent id
    otherwise."""
    return None if user.sees_all_calls else (user.agent_id or user.name)


async def csrf_form(request: Request, s: Settings = Depends(settings)) -> None:
    """Every form POST carries the token of the session whose page showed it; no session (a
    form sent with Basic credentials, or from a page this browser never got) → 403."""
    form = await request.form()
    sent = str(form.get("csrf") or "")
    sess = session_of(request, s)
    basic = _basic(request)
    if sess is None or (basic is not None and basic[0] != sess.user.name):
        raise HTTPException(403, "表单需要本站页面的登录会话（CSRF），请刷新页面后重试")
    if not hmac.compare_digest(sent, sess.csrf):
        raise HTTPException(403, "表单已过期或来源不明（CSRF），请刷新页面后重试")


def json_body(request: Request) -> None:
    """API writes take JSON only: a cross-site HTML form cannot send it without CORS."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPException(415, "API 只接受 application/json")


def login(s: Settings, user: User) -> tuple[str, Session]:
    now = time.time()
    if len(s.sessions) >= MAX_SESSIONS:  # drop the expired, then the oldest
        for sid in [k for k, v in s.sessions.items() if v.expires < now] or \
                sorted(s.sessions, key=lambda k: s.sessions[k].expires)[:MAX_SESSIONS // 10]:
            s.sessions.pop(sid, None)
    sid = secrets.token_urlsafe(32)
    sess = Session(user, secrets.token_urlsafe(24), now + SESSION_TTL_S)
    s.sessions[sid] = sess
    return sid, sess


def logout(request: Request, s: Settings) -> None:
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        s.sessions.pop(sid, None)
