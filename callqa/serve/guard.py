"""What every request passes before any route sees it, in one ASGI middleware:

* a body over :data:`MAX_BODY_BYTES` → 413 (never kept; one declared over
  :data:`DRAIN_BYTES` is refused before it is read);
* NUL bytes or invalid UTF-8 in the query string or a form/JSON body → 400 (SQLite and the
  trigram index would choke on them, and a form would store mojibake); multipart bodies → 415
  (no page uploads files);
* without users (local mode) a ``Host`` that is not a loopback name → 400: a DNS-rebinding page
  on another name must not reach an app that trusts whoever is at this machine;
* a write (POST …) whose ``Origin`` — or, without one, ``Referer`` — names another site → 403:
  browsers send them on cross-site form posts, and no page of this site posts elsewhere.

The answers are the app's own error pages (``/api/…``: JSON), with a Chinese message.
"""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import unquote_to_bytes, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "LOOPBACK_HOSTS", "RequestGuard", "host_name", "bad_text"]

#: The largest request body: a verdict reason, an appeal or a note is a few KB at most.
MAX_BODY_BYTES = 64 * 1024
#: A body up to this size over the limit is read and dropped before the 413, so a client that
#: sends it all before reading (most do) hears the answer; a larger one is cut off.
DRAIN_BYTES = 4 * 1024 * 1024
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ErrorPage = Callable[[Request, int, str], Response]


def host_name(host: str) -> str:
    """``[::1]:8000`` → ``::1``, ``LocalHost:80`` → ``localhost``.

    >>> host_name("[::1]:8000"), host_name("LocalHost:80"), host_name("127.0.0.1")
    ('::1', 'localhost', '127.0.0.1')
    """
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def bad_text(raw: bytes) -> str | None:
    """Why ``raw`` (percent-decoded form data, a query string or JSON) is refused, or None.

    >>> bad_text(b"q=%E4%BD%A0"), bad_text(b"q=%00"), bad_text(b"q=%FF")
    (None, '输入含有 NUL 字符', '输入不是有效的 UTF-8 文本')
    """
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    if b"\x00" in data:
        return "输入含有 NUL 字符"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "输入不是有效的 UTF-8 文本"
    if "\\u0000" in text.lower():  # JSON's escaped NUL
        try:
            if "\x00" in json.dumps(json.loads(text)):
                return "输入含有 NUL 字符"
        except ValueError:
            return None  # not JSON: the route's own parsing will say so
        return "输入含有 NUL 字符"
    return None


def _same_site(url: str, host: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


class RequestGuard:
    """ASGI middleware; ``error(request, status, message)`` renders the refusal."""

    def __init__(self, app: ASGIApp, error: ErrorPage, max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.error = error
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._check_headers(scope, request)
        body = b""
        if refusal is None and scope["method"] not in SAFE_METHODS:
            body, refusal = await self._read_body(request, receive)
        if refusal is not None:
            status, message = refusal
            await self.error(request, status, message)(scope, _drain(receive), send)
            return
        await self.app(scope, _replay(body, receive) if body else receive, send)

    def _check_headers(self, scope: Scope, request: Request) -> tuple[int, str] | None:
        settings: Any = scope["app"].state.settings
        host = request.headers.get("host", "")
        if not settings.auth_required and host_name(host) not in LOOPBACK_HOSTS:
            return 400, "未配置用户时只接受本机地址（Host 必须是 127.0.0.1、localhost 或 ::1）"
        why = bad_text(scope.get("query_string", b""))
        if why:
            return 400, f"查询参数有误：{why}"
        if scope["method"] not in SAFE_METHODS:
            origin = request.headers.get("origin")
            referer = request.headers.get("referer")
            if origin is not None and not _same_site(origin, host):
                return 403, "拒绝跨站提交（Origin 不是本站）"
            if origin is None and referer and not _same_site(referer, host):
                return 403, "拒绝跨站提交（Referer 不是本站）"
        return None

    async def _read_body(self, request: Request,
                         receive: Receive) -> tuple[bytes, tuple[int, str] | None]:
        too_big = 413, f"请求内容过大（上限 {self.max_body_bytes // 1024} KB）"
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            return b"", (400, "Content-Length 无效")
        if declared > DRAIN_BYTES:  # answer at once; the connection closes unread
            return b"", too_big
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            size += len(message.get("body", b""))
            if size > DRAIN_BYTES:
                return b"", too_big
            if size <= self.max_body_bytes:
                chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if size > self.max_body_bytes:  # read to the end (not kept), so the client hears why
            return b"", too_big
        body = b"".join(chunks)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype.startswith("multipart/"):  # no page uploads files: one form encoding to check
            return b"", (415, "只接受 application/x-www-form-urlencoded 表单或 JSON")
        if ctype in ("application/x-www-form-urlencoded", "application/json"):
            why = bad_text(body) if ctype.endswith("urlencoded") else _bad_json(body)
            if why:
                return b"", (400, f"提交的内容有误：{why}")
        return body, None


def _bad_json(body: bytes) -> str | None:
    """JSON is not percent-encoded: check the bytes as they are."""
    if b"\x00" in body:
        return "输入含有 NUL 字符"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "输入不是有效的 UTF-8 文本"
    return bad_text(body.replace(b"%", b"%25"))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _drain(receive: Receive) -> Receive:
    async def nothing() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    return nothing

