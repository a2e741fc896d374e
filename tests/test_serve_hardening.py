"""The workbench probed as an attacker would, against a live uvicorn on loopback (issue 21):
size limits, invalid values, cross-site posts, the no-users mode, users added while it runs,
login throttling, parallel appeal resolution, call ids with ``/``, a busy port, the agent's
filter, and the reviewed score under a rule's cap. Every refusal is a 4xx with a Chinese
message, never a 500."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from callqa.batch.store import Store
from callqa.scoring import load_rulebook
from callqa.scoring.engine import score_transcript
from callqa.serve import create_app
from callqa.transcript import Transcript, Utterance
from callqa.verdicts import ReviewStore

from serve_helpers import build_store, free_port, live_server

REVIEWER = ("王芳", "pw-reviewer")
AGENT3 = ("A003", "tok-a003")
AGENT1 = ("A001", "tok-a001")
SLASH_ID = "2026/11/21/A001-7"
CAPPED = "capped_fb04"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _add_call(out: Path, call_id: str, agent: str, utts: list[Utterance], recording: str) -> None:
    result = score_transcript(Transcript(call_id, agent, 60.0, utts), load_rulebook())
    with Store.open(out) as store:
        path = store.write_result(result)
        store.update(call_id, path=recording, abs_path=recording, agent_id=agent,
                     started_at="2026-11-21T10:00:00", status="scored",
                     result_path=store.relative(path), score=result.score,
                     passed=int(result.passed))


def make_batch(out: Path, users: bool = True) -> Path:
    results = build_store(out)
    recording = str(Path(__file__).resolve().parents[1] / "samples" / "call_08_manager_out_rude.flac")
    _add_call(out, SLASH_ID, "A001", [Utterance("agent", 0.5, 3.0, "您好，光明物业客服中心。"),
                                      Utterance("customer", 3.5, 6.0, "我家水管漏了。")],
              recording)
    # FB04 (10 points, cap 20) three times: the third charges nothing until one is rejected
    _add_call(out, CAPPED, "A003", [
        Utterance("agent", 0.5, 3.0, "您好，光明物业客服中心。"),
        Utterance("customer", 3.5, 6.0, "楼道灯坏了。"),
        Utterance("agent", 6.5, 9.0, "这个不归我们管。"),
        Utterance("customer", 9.5, 12.0, "那归谁管？"),
        Utterance("agent", 12.5, 15.0, "反正不归我们管。"),
        Utterance("customer", 15.5, 18.0, "你们是物业啊。"),
        Utterance("agent", 18.5, 21.0, "说了不归我们管。")], recording)
    if users:
        with ReviewStore.open(out / "callqa.db") as rs:
            rs.add_user(REVIEWER[0], "reviewer", REVIEWER[1])
            rs.add_user(AGENT3[0], "agent", AGENT3[1])
            rs.add_user(AGENT1[0], "agent", AGENT1[1])
    assert results
    return out


class Client:
    """Basic auth or a cookie jar, any headers, a raw body when asked."""

    def __init__(self, base: str, user: tuple[str, str] | None = None, cookies: bool = False):
        import http.cookiejar

        self.base, self.user = base, user
        self.jar = http.cookiejar.CookieJar() if cookies else None
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)] if cookies else []
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, method: str, path: str, body=None, form=None, raw: bytes | None = None,
                ctype: str | None = None, headers: dict | None = None):
        h = dict(headers or {})
        data = raw
        if self.user:
            h["Authorization"] = "Basic " + base64.b64encode(":".join(self.user).encode()).decode()
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
        if (form is not None or raw is not None) and "Content-Type" not in h:
            h["Content-Type"] = ctype or "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with self.opener.open(req, timeout=120) as r:
                return r.status, r.read().decode("utf-8", "replace"), _lower(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace"), _lower(e.headers)

    def json(self, method: str, path: str, body=None, expect: int = 200):
        status, text, _ = self.request(method, path, body)
        assert status == expect, f"{method} {path}: {status} {text[:300]}"
        return json.loads(text) if text else None


def _lower(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def login(url: str, user) -> tuple[Client, str]:
    c = Client(url, cookies=True)
    token = re.search(r'name="csrf" value="([^"]+)"', c.request("GET", "/login")[1]).group(1)
    status, body, _ = c.request("POST", "/login", form={
        "name": user[0], "secret": user[1], "csrf": token, "next": "/calls"})
    assert status == 200 and "通话列表" in body, body[:300]
    return c, re.search(r'name="csrf" value="([^"]+)"', body).group(1)


def refused(status: int, text: str) -> bool:
    """A 4xx that says why in Chinese (a JSON ``detail`` or an error page)."""
    return 400 <= status < 500 and bool(CJK.search(text))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return make_batch(tmp_path_factory.mktemp("serve-hard"))


@pytest.fixture(scope="module")
def server(batch):
    with live_server(create_app(batch)) as url:
        yield url


@pytest.fixture
def qa(server):
    return Client(server, REVIEWER)


def first_finding(qa: Client, cid: str) -> dict:
    return qa.json("GET", f"/api/calls/{urllib.parse.quote(cid, safe='')}")["findings"][0]["finding"]


# --------------------------------------------------------------------------- 1. sizes

def test_bodies_and_fields_have_limits(server, qa):
    cid = "call_08_manager_out_rude"
    f = first_finding(qa, cid)
    huge = "长" * 200_000  # 600 KB
    status, text, _ = qa.request("POST", f"/api/calls/{cid}/verdicts",
                                 body={"rule_id": f["rule_id"], "start": f["start"],
                                       "verdict": "rejected", "reason": huge})
    assert status == 413 and refused(status, text)
    c, csrf = login(server, REVIEWER)
    status, text, _ = c.request("POST", f"/calls/{cid}/verdict", form={
        "rule_id": f["rule_id"], "start": f["start"], "verdict": "rejected", "reason": huge,
        "csrf": csrf})
    assert status == 413 and refused(status, text)
    # under the body limit but over a field's
    for path, payload in (
            (f"/api/calls/{cid}/verdicts", {"rule_id": f["rule_id"], "start": f["start"],
                                             "verdict": "rejected", "reason": "理" * 5000}),
            (f"/api/calls/{cid}/missed", {"rule_id": "FB01", "start": 1.0, "note": "注" * 5000}),
            ("/api/queues", {"name": "名" * 500, "per_agent": 1})):
        status, text, _ = qa.request("POST", path, body=payload)
        assert status == 422 and refused(status, text), (path, status, text[:200])
    status, text, _ = c.request("POST", f"/calls/{cid}/verdict", form={
        "rule_id": f["rule_id"], "start": f["start"], "verdict": "rejected",
        "reason": "理" * 5000, "csrf": csrf})
    assert status == 422 and refused(status, text)
    assert qa.json("GET", f"/api/calls/{cid}")["findings"][0]["review"] is None
    # 50 MB announced: refused before it is sent
    host, port = server.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        auth = base64.b64encode(":".join(REVIEWER).encode()).decode()
        sock.sendall((f"POST /api/calls/{cid}/verdicts HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Authorization: Basic {auth}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {50 * 1024 * 1024}\r\n\r\n").encode() + b"{" * 1000)
        head = sock.recv(4096).decode("utf-8", "replace")
    assert head.startswith("HTTP/1.1 413")

    # the longest reason allowed, replaced many times: the page stays small (history is bounded)
    before = len(c.request("GET", f"/calls/{cid}")[1].encode())
    for n in range(30):
        qa.json("POST", f"/api/calls/{cid}/verdicts",
                {"rule_id": f["rule_id"], "start": f["start"], "verdict": "rejected",
                 "reason": f"{n}" + "理" * 1990})
    after = len(c.request("GET", f"/calls/{cid}")[1].encode())
    assert after - before < 100_000, (before, after)


# --------------------------------------------------------------------------- 2. values

def test_invalid_values_are_refused_in_chinese(server, qa):
    cid = "call_08_manager_out_rude"
    f = first_finding(qa, cid)
    c, csrf = login(server, REVIEWER)
    api = [
        (f"/api/calls/{cid}/missed", b'{"rule_id": "FB01", "start": Infinity}'),
        (f"/api/calls/{cid}/missed", b'{"rule_id": "FB01", "start": NaN}'),
        (f"/api/calls/{cid}/missed", {"rule_id": "FB01", "start": -3}),
        (f"/api/calls/{cid}/missed", {"rule_id": "FB01", "start": 5, "end": 1e9}),
        (f"/api/calls/{cid}/missed", {"rule_id": "FB01", "start": 1e9}),
        (f"/api/calls/{cid}/missed", {"rule_id": "ZZ99", "start": 1}),
        (f"/api/calls/{cid}/missed", {"rule_id": "FB01", "start": 1, "deduction": 1e308}),
        (f"/api/calls/{cid}/missed", {"rule_id": "FB01", "start": 1, "speaker": "boss"}),
        (f"/api/calls/{cid}/verdicts", {"rule_id": f["rule_id"], "start": f["start"],
                                        "verdict": "bogus"}),
        (f"/api/calls/{cid}/verdicts", {"rule_id": f["rule_id"], "start": "inf",
                                        "verdict": "confirmed"}),
        ("/api/queues", {"per_agent": 0}),
        (f"/api/calls/{cid}/missed", b'{"rule_id": "FB01\\u0000", "start": 1}'),
        (f"/api/calls/{cid}/missed", b'{"rule_id": "FB01", "start": 1, "note": "\xff\xfe"}'),
    ]
    for path, payload in api:
        status, text, _ = qa.request("POST", path, body=payload)
        assert refused(status, text), (path, payload, status, text[:300])
    forms = [
        (f"/calls/{cid}/missed", {"rule_id": "FB01", "start": "inf"}),
        (f"/calls/{cid}/missed", {"rule_id": "FB01", "start": "nan"}),
        (f"/calls/{cid}/missed", {"rule_id": "FB01", "start": "-1"}),
        (f"/calls/{cid}/missed", {"rule_id": "FB01", "start": "1:9999999"}),
        (f"/calls/{cid}/missed", {"rule_id": "FB01", "start": "9" * 400 + ":1"}),
        (f"/calls/{cid}/missed", {"rule_id": "NOPE", "start": "1"}),
        (f"/calls/{cid}/missed", {"rule_id": "FB01", "start": "1", "deduction": "1e308"}),
        (f"/calls/{cid}/missed", {"rule_id": "FB01", "start": "1", "deduction": "abc"}),
        (f"/calls/{cid}/missed", {"rule_id": "FB01", "start": "1", "speaker": "boss"}),
        (f"/calls/{cid}/verdict", {"rule_id": f["rule_id"], "start": f["start"],
                                   "verdict": "bogus"}),
        (f"/calls/{cid}/verdict", {"rule_id": f["rule_id"], "start": "nan",
                                   "verdict": "confirmed"}),
        ("/queues", {"per_agent": "0"}),
        ("/queues", {"per_agent": "many"}),
    ]
    for path, form in forms:
        status, text, _ = c.request("POST", path, form={**form, "csrf": csrf})
        assert refused(status, text), (path, form, status, text[:300])
    raw = [b"rule_id=FB01&start=1&note=%FF%FE&csrf=", b"rule_id=FB%0001&start=1&csrf="]
    for body in raw:
        status, text, _ = c.request("POST", f"/calls/{cid}/missed",
                                    raw=body + csrf.encode())
        assert refused(status, text), (body, status, text[:300])
    status, text, _ = c.request(
        "POST", f"/calls/{cid}/missed", ctype="multipart/form-data; boundary=x",
        raw=(f'--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
             '--x\r\nContent-Disposition: form-data; name="rule_id"\r\n\r\nFB01\r\n'
             '--x\r\nContent-Disposition: form-data; name="start"\r\n\r\n1\r\n'
             '--x\r\nContent-Disposition: form-data; name="note"\r\n\r\n\x00\r\n'
             '--x--\r\n').encode())
    assert refused(status, text), (status, text[:300])
    for path in ("/api/calls?page=9223372036854775807", "/api/search?q=abc&page=9223372036854775807",
                 "/api/calls?per_page=0", "/api/search?q=%00%00%00", "/api/search?q=%FF%FE",
                 "/search?q=%00", "/calls?page=99999999999", "/api/search?q=" + urllib.parse.quote("字" * 500)):
        status, text, _ = qa.request("GET", path)
        assert refused(status, text), (path, status, text[:300])
    # nothing was stored, and the call page still answers everyone
    d = qa.json("GET", f"/api/calls/{cid}")
    assert d["missed"] == []
    assert c.request("GET", f"/calls/{cid}")[0] == 200


# --------------------------------------------------------------------------- 3. CSRF

def test_cross_site_and_basic_auth_form_posts_are_refused(server, qa):
    cid = "call_06_rude_pickup"
    f = first_finding(qa, cid)
    form = {"rule_id": f["rule_id"], "start": f["start"], "verdict": "confirmed"}
    # Basic credentials (a browser resends them) and the token anyone can read on /login
    public = re.search(r'name="csrf" value="([^"]+)"',
                       Client(server).request("GET", "/login")[1]).group(1)
    status, text, _ = qa.request("POST", f"/calls/{cid}/verdict", form={**form, "csrf": public},
                                 headers={"Origin": "http://evil.example"})
    assert status == 403 and refused(status, text)
    status, text, _ = qa.request("POST", f"/calls/{cid}/verdict", form={**form, "csrf": public})
    assert status == 403 and refused(status, text)
    # a real session's token, sent from another site
    c, csrf = login(server, REVIEWER)
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Referer": "http://evil.example/page"}):
        status, text, _ = c.request("POST", f"/calls/{cid}/verdict",
                                    form={**form, "csrf": csrf}, headers=headers)
        assert status == 403 and refused(status, text), headers
    assert qa.json("GET", f"/api/calls/{cid}")["findings"][0]["review"] is None
    # the same from this site is accepted
    host = server.split("//")[1]
    status, _, _ = c.request("POST", f"/calls/{cid}/verdict", form={**form, "csrf": csrf},
                             headers={"Origin": f"http://{host}"})
    assert status == 200
    assert qa.json("GET", f"/api/calls/{cid}")["findings"][0]["review"]["verdict"] == "confirmed"


# --------------------------------------------------------------------------- 4, 5. no users

def test_no_users_mode_is_for_this_machine_only_and_notices_new_users(tmp_path):
    out = make_batch(tmp_path, users=False)
    with live_server(create_app(out)) as url:
        for path in ("/login", "/calls", "/api/me"):
            status, text, _ = Client(url).request("GET", path, headers={"Host": "evil.example"})
            assert status == 400 and refused(status, text), path
        # each browser gets its own token: one page's token does not work for another
        a, b = Client(url, cookies=True), Client(url, cookies=True)
        tok = [re.search(r'name="csrf" value="([^"]+)"', x.request("GET", "/queues")[1]).group(1)
               for x in (a, b)]
        assert tok[0] != tok[1]
        status, _, _ = b.request("POST", "/queues", form={"per_agent": "1", "csrf": tok[0]})
        assert status == 403
        status, _, _ = Client(url).request("POST", "/queues", form={"per_agent": "1",
                                                                    "csrf": tok[0]})
        assert status == 403
        status, _, _ = a.request("POST", "/queues", form={"per_agent": "1", "csrf": tok[0]})
        assert status == 200
        assert Client(url).json("GET", "/api/me")["role"] == "reviewer"

        # a user is added while it runs: from now on everyone logs in
        with ReviewStore.open(out / "callqa.db") as rs:
            rs.add_user("qa", "reviewer", "s3cret")
        assert Client(url).request("GET", "/api/me")[0] == 401
        assert a.request("GET", "/api/calls")[0] == 401
        assert Client(url, ("qa", "s3cret")).json("GET", "/api/me")["name"] == "qa"


# --------------------------------------------------------------------------- 6. throttling

def test_login_throttling(tmp_path):
    out = make_batch(tmp_path)
    with live_server(create_app(out)) as url:
        for _ in range(5):
            assert Client(url, (REVIEWER[0], "wrong")).request("GET", "/api/me")[0] == 401
        # the name now waits, even with the right password; another user does not
        status, text, headers = Client(url, REVIEWER).request("GET", "/api/me")
        assert status == 429 and refused(status, text) and int(headers["retry-after"]) >= 1
        assert Client(url, AGENT1).json("GET", "/api/me")["name"] == AGENT1[0]
        c = Client(url, cookies=True)
        token = re.search(r'name="csrf" value="([^"]+)"', c.request("GET", "/login")[1]).group(1)
        status, text, _ = c.request("POST", "/login", form={
            "name": REVIEWER[0], "secret": REVIEWER[1], "csrf": token})
        assert status == 429 and refused(status, text)

        # a flood of made-up names from one address, 50 at a time: tries under way count, so
        # at most 20 are checked, the rest refused without hashing
        def guess(n: int) -> int:
            return Client(url, (f"nobody{n}", "x")).request("GET", "/api/me")[0]

        with ThreadPoolExecutor(50) as pool:
            codes = list(pool.map(guess, range(150)))
        assert codes.count(401) <= 20 and set(codes) <= {401, 429}
        assert guess(1000) == 429


def test_unknown_names_answer_as_slowly_as_wrong_passwords(tmp_path):
    """A wrong password costs a scrypt check; an unknown name must cost the same, or the time
    of a 401 tells which names exist (before the fix: ~0.1 ms against ~50 ms)."""
    out = make_batch(tmp_path)
    with live_server(create_app(out)) as url:
        def took(name: str) -> float:
            start = time.perf_counter()
            assert Client(url, (name, "wrong")).request("GET", "/api/me")[0] == 401
            return time.perf_counter() - start

        known = statistics.median(took(REVIEWER[0]) for _ in range(3))
        unknown = statistics.median(took(f"nobody{i}") for i in range(3))
    assert unknown > 0.5 * known, (unknown, known)


# --------------------------------------------------------------------------- 7. appeals

def test_parallel_resolutions_of_one_appeal_one_wins(server, qa, batch):
    cid = "call_09_elevator_interruption"
    a3 = Client(server, AGENT3)
    f = first_finding(qa, cid)
    ap = a3.json("POST", f"/api/calls/{cid}/appeals",
                 {"rule_id": f["rule_id"], "start": f["start"], "comment": "客户先挂断"})
    barrier = threading.Barrier(8)

    def resolve(n: int) -> int:
        barrier.wait()
        return qa.request("POST", f"/api/appeals/{ap['id']}/resolve",
                          body={"outcome": "upheld" if n % 2 else "overturned"})[0]

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(resolve, range(8)))
    assert codes.count(200) == 1 and all(400 <= c < 500 for c in codes if c != 200), codes
    with ReviewStore.open(batch / "callqa.db") as rs:
        done = [e for e in rs.events(cid) if e["action"].startswith("appeal_")]
    assert len(done) == 1


# --------------------------------------------------------------------------- 8. ids with /

def test_a_call_id_with_slashes_opens(server, qa):
    listed = qa.json("GET", "/api/calls?per_page=500")["calls"]
    assert SLASH_ID in [c["call_id"] for c in listed]
    quoted = urllib.parse.quote(SLASH_ID, safe="")
    for path in (f"/api/calls/{quoted}", f"/api/calls/{SLASH_ID}"):
        assert qa.json("GET", path)["call_id"] == SLASH_ID
    c, csrf = login(server, REVIEWER)
    status, page, _ = c.request("GET", f"/calls/{quoted}")
    assert status == 200 and SLASH_ID in page
    assert c.request("GET", f"/calls/{SLASH_ID}/audio")[0] == 200
    status, _, _ = c.request("POST", f"/calls/{quoted}/missed",
                             form={"rule_id": "FB01", "start": "2", "csrf": csrf})
    assert status == 200
    assert [m["rule_id"] for m in qa.json("GET", f"/api/calls/{quoted}")["missed"]] == ["FB01"]


# --------------------------------------------------------------------------- 9. port, filter

def test_serve_on_a_busy_port_says_so_and_exits_2(batch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "callqa", "serve", "--out", str(batch),
                              "--port", str(port)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert res.returncode == 2, res.stderr
    assert f"127.0.0.1:{port}" in res.stderr and "in use" in res.stderr
    assert "login required" not in res.stderr  # no banner before the failure


def test_an_agents_filter_lists_only_rules_of_own_calls(server, batch):
    c, _ = login(server, AGENT3)
    page = c.request("GET", "/calls")[1]
    select = re.search(r'<select name="rule">(.*?)</select>', page, re.S).group(1)
    offered = set(re.findall(r'<option value="([A-Z]+\d+)"', select))
    own = set()
    for r in Client(server, AGENT3).json("GET", "/api/calls?per_page=500")["calls"]:
        own |= set(r["rules"])
    assert offered == own and offered
    everyone = set()
    for r in Client(server, REVIEWER).json("GET", "/api/calls?per_page=500")["calls"]:
        everyone |= set(r["rules"])
    assert everyone - own  # there was something to hide


# --------------------------------------------------------------------------- 10. cap

def test_reviewed_score_reapplies_the_rule_cap(qa):
    d = qa.json("GET", f"/api/calls/{CAPPED}")
    fb04 = [fo["finding"] for fo in d["findings"] if fo["finding"]["rule_id"] == "FB04"]
    assert [f["deduction"] for f in fb04] == [10.0, 10.0, 0.0]
    d = qa.json("POST", f"/api/calls/{CAPPED}/verdicts",
                {"rule_id": "FB04", "start": fb04[0]["start"], "verdict": "rejected",
                 "reason": "客户说的"})
    # the third one now fits under the cap: nothing is given back
    assert d["reviewed_score"] == d["score"]
    d = qa.json("POST", f"/api/calls/{CAPPED}/verdicts",
                {"rule_id": "FB04", "start": fb04[1]["start"], "verdict": "rejected",
                 "reason": "客户说的"})
    assert d["reviewed_score"] == pytest.approx(d["score"] + 10.0)
