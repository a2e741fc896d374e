"""The workbench application: a small FastAPI app that includes one router per area.

    app = create_app(Path("callqa-out"), users_file=Path("users.yaml"), host="127.0.0.1")

``callqa serve`` builds it and runs it with uvicorn. Errors the library raises become HTTP
answers here: a call one may not see → 404, a review action that cannot be done → 400, a role
that may not do it → 403; pages get a Chinese error page, the API JSON.
"""

from __future__ import annotations

import getpass
import sqlite3
from pathlib import Path

import yaml
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import ValidationError
from urllib.parse import quote

from callqa import db
from callqa.batch.store import DB_NAME, Store
from callqa.errors import CallqaError
from callqa.privacy.policy import policy_for
from callqa.verdicts import ROLES, ReviewError, ReviewStore, User
from callqa.serve import index
from callqa.serve.deps import LoginRequired, Settings
from callqa.serve.guard import LOOPBACK_HOSTS, RequestGuard, host_name
from callqa.serve.pages import render
from callqa.serve.queries import BadRequest, NotFound
from callqa.drill.scenario import DrillError
from callqa.serve.throttle import Throttled
from callqa.serve.routers import (appeals, auth, calls, drills, privacy, sampling, search,
                                  stats)

__all__ = ["AREAS", "ServeError", "create_app", "load_users_file"]

#: The workbench's areas, one router module each (its pages, its API, its ``NAV`` links).
AREAS = (auth, calls, search, appeals, sampling, stats, drills, privacy)


class ServeError(CallqaError):
    """The workbench cannot start: no batch database, a bad users file, an unsafe bind."""


def load_users_file(path: Path) -> dict[str, tuple[User, str]]:
    """``users:`` entries with ``name``, ``role`` (reviewer/agent/trainer/trainee), ``secret_hash`` (from
    ``callqa serve adduser --print-hash``) and, for an agent, ``agent_id`` (default: name)."""
    src = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServeError(src, f"cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ServeError(src, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                         line=None if line is None else line + 1) from None
    entries = data.get("users") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ServeError(src, "expected a top-level 'users:' list")
    out: dict[str, tuple[User, str]] = {}
    for n, e in enumerate(entries, 1):
        where = f"users[{n}]"
        if not isinstance(e, dict) or not e.get("name") or not e.get("secret_hash"):
            raise ServeError(src, f"{where}: needs name and secret_hash")
        if e.get("role") not in ROLES:
            raise ServeError(src, f"{where} ({e['name']}): role must be one of {', '.join(ROLES)}")
        if not str(e["secret_hash"]).startswith("scrypt$"):
            raise ServeError(src, f"{where} ({e['name']}): secret_hash must be a hash from "
                                  f"'callqa serve adduser --print-hash', never the secret")
        name = str(e["name"])
        agent_id = str(e.get("agent_id") or name) if e["role"] == "agent" else None
        out[name] = (User(name, e["role"], agent_id), str(e["secret_hash"]))
    return out


def _check_db(out_dir: Path) -> Path:
    db_path = out_dir / DB_NAME
    if not db_path.is_file():
        raise ServeError(str(out_dir), f"no {DB_NAME} here: run 'callqa batch ... --out "
                                       f"{out_dir}' first")
    try:
        conn = db.connect_read_only(db_path)
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise ServeError(str(db_path), f"cannot open database: {exc}") from None
    if "calls" not in have:
        raise ServeError(str(db_path), "not a callqa batch database (no 'calls' table)")
    Store.open(out_dir).close()  # brings an older database's columns up to date
    return db_path


def create_app(out_dir: Path, users_file: Path | None = None,
               host: str = "127.0.0.1") -> FastAPI:
    """The app for one batch output directory.

    Raises:
        ServeError: no batch database in ``out_dir``; a bad users file; ``host`` is not a
            loopback address and no user is configured (anyone on the network could act).
        PolicyError: a malformed ``privacy:`` section in ``OUT/callqa.yaml``.
    """
    out_dir = Path(out_dir)
    db_path = _check_db(out_dir)
    privacy = policy_for(out_dir)
    with ReviewStore.open(db_path) as rs:  # creates the review tables
        index.ensure_schema(rs.conn)
        index.sync(rs.conn, out_dir, policy=privacy)
        db_users = rs.users()
    file_users = load_users_file(users_file) if users_file else {}
    loopback = host_name(host) in LOOPBACK_HOSTS
    auth_required = bool(file_users or db_users) or not loopback
    if not loopback and not (file_users or db_users):
        raise ServeError(host, "binding a non-loopback address needs users: add them with "
                               "'callqa serve adduser' or --users FILE")
    local = None if auth_required else User(getpass.getuser() or "local", "reviewer")
    settings = Settings(out_dir=out_dir, db_path=db_path, file_users=file_users,
                        auth_required=auth_required, local_user=local, privacy=privacy)

    # no Swagger UI: it loads its scripts from a CDN, and the workbench uses no network assets
    app = FastAPI(title="callqa workbench", docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.settings = settings
    app.state.nav = []  # the top navigation: each area's NAV links, in this order
    for area in AREAS:
        app.include_router(area.router)
        app.state.nav += getattr(area, "NAV", [])

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/calls", status_code=303)

    def _error(request: Request, status: int, message: str, headers: dict | None = None):
        if request.url.path.startswith("/api/"):
            if status == 401:
                headers = {**(headers or {}), "WWW-Authenticate": 'Basic realm="callqa"'}
            return JSONResponse({"detail": message}, status_code=status, headers=headers)
        response = render(request, "error.html.j2", status_code=status, user=None,
                          status=status, message=message)
        response.headers.update(headers or {})
        return response

    app.add_middleware(RequestGuard, error=_error)

    @app.exception_handler(Throttled)
    def _throttled(request: Request, exc: Throttled):
        return _error(request, 429, str(exc),
                      headers={"Retry-After": str(int(exc.retry_after_s) + 1)})

    @app.exception_handler(LoginRequired)
    def _login(request: Request, exc: LoginRequired):
        if request.url.path.startswith("/api/"):
            return _error(request, 401, "需要登录（HTTP Basic 凭据或登录会话）")
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(nxt)}", status_code=303)

    @app.exception_handler(NotFound)
    def _not_found(request: Request, exc: NotFound):
        return _error(request, 404, f"找不到：{exc}")

    @app.exception_handler(ReviewError)
    @app.exception_handler(BadRequest)
    @app.exception_handler(DrillError)
    def _bad_request(request: Request, exc: Exception):
        return _error(request, 400, str(exc))

    @app.exception_handler(HTTPException)
    def _http(request: Request, exc: HTTPException):
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)  # a form's values checked by an input model
    def _invalid(request: Request, exc: RequestValidationError | ValidationError):
        # what was sent is not echoed back (it may be large); a request's locations start
        # with where the value came from ("body", "query"), a model's with the field
        skip = 1 if isinstance(exc, RequestValidationError) else 0
        errors = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")}
                  for e in exc.errors()]
        msgs = "；".join(f"{'.'.join(map(str, e['loc'][skip:]))}: {e['msg']}" for e in errors)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": f"输入有误：{msgs}",
                                 "errors": jsonable_encoder(errors)}, status_code=422)
        return _error(request, 422, f"输入有误：{msgs}")

    return app
