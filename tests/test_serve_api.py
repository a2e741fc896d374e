"""The workbench's HTTP API against a live uvicorn on loopback: filters, search, reviews,
appeals, sampling, precision — and who may do what (an agent cannot read another agent's call
or change a verdict; no credentials, no access; forms need their CSRF token)."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from callqa.batch.store import Store
from callqa.verdicts import ReviewStore, hash_secret
from callqa.scoring import load_rulebook
from callqa.scoring.engine import score_transcript
from callqa.serve import ServeError, create_app, load_users_file
from callqa.transcript import Transcript, Utterance

from serve_helpers import MISDIAL, UNCERTAIN, XSS, XSS_CALL, build_store, live_server

REVIEWER = ("王芳", "pw-reviewer")
AGENT3 = ("A003", "tok-a003")
AGENT1 = ("A001", "tok-a001")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve-api")
    results = build_store(out)
    with ReviewStore.open(out / "callqa.db") as rs:
        rs.add_user(REVIEWER[0], "reviewer", REVIEWER[1])
        rs.add_user(AGENT3[0], "agent", AGENT3[1])
        rs.add_user(AGENT1[0], "agent", AGENT1[1])
    return out, {r.call_id: r for r in results}


@pytest.fixture(scope="module")
def server(batch):
    with live_server(create_app(batch[0])) as url:
        yield url


class Client:
    """A tiny HTTP client: Basic auth for the API, or a cookie jar for the pages."""

    def __init__(self, base: str, user: tuple[str, str] | None = None, cookies: bool = False):
        self.base, self.user = base, user
        self.jar = http.cookiejar.CookieJar() if cookies else None
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)] if cookies else []
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, method: str, path: str, body=None, form=None,
                ctype: str | None = None) -> tuple[int, str, dict]:
        headers = {}
        data = None
        if self.user:
            token = base64.b64encode(":".join(self.user).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = ctype or "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers=headers)
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status, r.read().decode("utf-8", "replace"), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)

    def json(self, method: str, path: str, body=None, expect: int = 200):
        status, text, _ = self.request(method, path, body)
        assert status == expect, f"{method} {path}: {status} {text[:300]}"
        return json.loads(text) if text else None

    def get(self, path: str, expect: int = 200):
        return self.json("GET", path, expect=expect)


@pytest.fixture
def qa(server):
    return Client(server, REVIEWER)


@pytest.fixture
def a3(server):
    return Client(server, AGENT3)


def findings(detail: dict) -> list[dict]:
    """A call's findings from ``/api/calls/{id}``, each with its review's fields beside."""
    out = []
    for fo in detail["findings"]:
        review = fo["review"] or {}
        out.append({**fo["finding"], "index": fo["index"], "verdict": review.get("verdict"),
                    "reason": review.get("reason"), "reviewer": review.get("reviewer")})
    return out


def q(path: str, **params) -> str:
    return path + "?" + urllib.parse.urlencode(params)


# --------------------------------------------------------------------------- list and search

def test_calls_filter_sort_and_paginate(qa, batch):
    _, results = batch
    everything = qa.get(q("/api/calls", per_page=500))
    assert everything["total"] == len(results)

    got = qa.get(q("/api/calls", agent="A003", per_page=500))
    assert sorted(c["call_id"] for c in got["calls"]) == sorted(
        cid for cid, r in results.items() if r.agent_id == "A003")

    got = qa.get(q("/api/calls", rule="FB03", per_page=500))
    assert sorted(c["call_id"] for c in got["calls"]) == sorted(
        cid for cid, r in results.items() if any(f.rule_id == "FB03" for f in r.findings))
    assert got["total"] >= 2

    cats = qa.get(q("/api/calls", category="dead_air", per_page=500))["calls"]
    assert cats
    assert {c["call_id"] for c in cats} == {
        cid for cid, r in results.items() if any(f.category == "dead_air" for f in r.findings)}

    low = qa.get(q("/api/calls", score_max=80, sort="score", order="asc", per_page=500))
    scores = [c["score"] for c in low["calls"]]
    assert scores == sorted(scores) and max(scores) <= 80
    assert len(scores) == sum(1 for r in results.values() if r.score is not None
                              and r.score <= 80)

    fails = qa.get(q("/api/calls", result="fail", per_page=500))["calls"]
    assert fails and all(not c["passed"] and c["unscored"] is None for c in fails)
    unscored = qa.get(q("/api/calls", result="unscored"))["calls"]
    assert [c["call_id"] for c in unscored] == [MISDIAL] and unscored[0]["score"] is None

    day = qa.get(q("/api/calls", since="2026-11-21", until="2026-11-21", per_page=500))
    assert day["total"] > 0 and all(c["started_at"].startswith("2026-11-21")
                                    for c in day["calls"])

    # a day that is not one is refused, not a server error
    qa.get(q("/api/calls", since="yesterday"), expect=422)
    qa.get(q("/api/search", q="您好", until="2026-13-01"), expect=400)
    qa.get(q("/api/precision", since="21/11/2026"), expect=400)
    qa.json("POST", "/api/queues", {"per_agent": 1, "since": "soon"}, expect=422)

    # pages: 7 per page, in call order, no call twice, none missing
    seen = []
    for page in (1, 2, 3):
        got = qa.get(q("/api/calls", sort="call_id", order="asc", per_page=7, page=page))
        seen += [c["call_id"] for c in got["calls"]]
    assert seen == sorted(results)


def test_search_who_said_what(qa, batch):
    _, results = batch
    got = qa.get(q("/api/search", q="不归我们管", speaker="agent"))
    assert [(h["call_id"], h["speaker"]) for h in got["hits"]] == [(XSS_CALL, "agent")]
    hit = got["hits"][0]
    assert ("不归我们管", True) in [tuple(s) for s in hit["segments"]]
    assert hit["start"] == 7.5 and hit["utterance"] == 2

    for query, speaker in (("不知道", "customer"), ("不知道", "agent"), ("您好", ""), ("喂", "")):
        want = sorted((cid, i) for cid, r in results.items()
                      for i, u in enumerate(r.utterances)
                      if query in u.text and (not speaker or u.speaker == speaker))
        got = qa.get(q("/api/search", q=query, speaker=speaker, per_page=500))
        assert sorted((h["call_id"], h["utterance"]) for h in got["hits"]) == want, query
        assert got["total"] == len(want)
    assert qa.get(q("/api/search", q="根本没有这句话"))["total"] == 0


# --------------------------------------------------------------------------- reviewing

def test_verdicts_missed_findings_and_reviewed_score(qa, batch):
    _, results = batch
    cid = "call_08_manager_out_rude"
    r = results[cid]
    d = qa.get(f"/api/calls/{cid}")
    assert d["score"] == r.score and d["reviewed_score"] == r.score
    assert d["metrics"] == r.metrics and d["audio"] == f"/calls/{cid}/audio"
    f0, f1 = findings(d)[0], findings(d)[1]
    d = qa.json("POST", f"/api/calls/{cid}/verdicts",
                {"rule_id": f0["rule_id"], "start": f0["start"], "verdict": "confirmed"})
    d = qa.json("POST", f"/api/calls/{cid}/verdicts",
                {"rule_id": f1["rule_id"], "start": f1["start"], "verdict": "rejected",
                 "reason": "客户说的"})
    v = {f["index"]: (f["verdict"], f["reason"], f["reviewer"]) for f in findings(d)}
    assert v[0] == ("confirmed", "", REVIEWER[0]) and v[2] == (None, None, None) and v[1] == ("rejected", "客户说的", REVIEWER[0])
    assert d["reviewed_score"] == pytest.approx(r.score + f1["deduction"])

    d = qa.json("POST", f"/api/calls/{cid}/missed",
                {"rule_id": "GR01", "speaker": "agent", "start": 1.0, "end": 2.0,
                 "note": f"没有问候 {XSS}"})
    gr01 = load_rulebook().get("GR01").points
    assert d["missed"][0]["deduction"] == gr01  # the rule's points by default
    assert d["reviewed_score"] == pytest.approx(r.score + f1["deduction"] - gr01)
    assert qa.get(q("/api/calls", review="in_progress"))["calls"][0]["call_id"] == cid

    qa.json("POST", f"/api/calls/{cid}/reviewed", {})
    reviewed = [c["call_id"] for c in qa.get(q("/api/calls", review="reviewed"))["calls"]]
    assert reviewed == [cid]

    # a finding that does not exist, a verdict that is not one
    qa.json("POST", f"/api/calls/{cid}/verdicts",
            {"rule_id": "XX99", "start": 1.0, "verdict": "confirmed"}, expect=404)
    qa.json("POST", f"/api/calls/{cid}/verdicts",
            {"rule_id": f0["rule_id"], "start": f0["start"], "verdict": "maybe"}, expect=422)
    qa.json("POST", f"/api/calls/{cid}/verdicts",
            {"rule_id": f0["rule_id"], "start": f0["start"], "verdict": "rejected"}, expect=400)

    prec = {(p["rule_id"], "*" if p["all_agents"] else p["agent_id"]): p
            for p in qa.get("/api/precision")}
    p = prec[f1["rule_id"], "*"]
    assert p["rejected"] >= 1 and p["fired"] >= 1
    assert prec[f1["rule_id"], "A002"]["precision"] == p["confirmed"] / (
        p["confirmed"] + p["rejected"])
    assert prec["GR01", "A002"]["missed"] == 1


def test_appeal_and_resolution(qa, a3, batch):
    cid = "call_06_rude_pickup"  # agent A003's
    f = findings(qa.get(f"/api/calls/{cid}"))[2]
    ap = a3.json("POST", f"/api/calls/{cid}/appeals",
                 {"rule_id": f["rule_id"], "start": f["start"], "comment": "我说了您好"})
    assert (ap["status"], ap["agent"]) == ("open", "A003") and ap["created_at"]
    a3.json("POST", f"/api/calls/{cid}/appeals",
            {"rule_id": f["rule_id"], "start": f["start"], "comment": "again"}, expect=400)
    assert [c["call_id"] for c in qa.get(q("/api/calls", review="appealed"))["calls"]] == [cid]
    assert [a["id"] for a in a3.get("/api/appeals")] == [ap["id"]]

    done = qa.json("POST", f"/api/appeals/{ap['id']}/resolve",
                   {"outcome": "overturned", "resolution": "录音里确有问候"})
    assert (done["status"], done["resolver"]) == ("overturned", REVIEWER[0]) and done["resolved_at"]
    after = findings(qa.get(f"/api/calls/{cid}"))[2]
    assert after["verdict"] == "rejected" and "录音里确有问候" in after["reason"]
    qa.json("POST", f"/api/appeals/{ap['id']}/resolve", {"outcome": "upheld"}, expect=400)


def test_sampling_queue(qa, batch):
    _, results = batch
    qa.json("POST", "/api/calls/call_01_repair_leak/reviewed", {})
    queue = qa.json("POST", "/api/queues", {"name": "周抽检", "per_agent": 2,
                                            "since": "2026-11-20", "until": "2026-11-21",
                                            "seed": 3})
    items = queue["items"]
    per_agent: dict[str, list[str]] = {}
    for i in items:
        per_agent.setdefault(i["agent_id"], []).append(i["call_id"])
    assert set(per_agent) == {"A001", "A002", "A003", "A004"}
    assert all(len(v) == 2 for v in per_agent.values())
    ids = [i["call_id"] for i in items]
    assert "call_01_repair_leak" not in ids and len(set(ids)) == len(ids)
    for cid in ids:
        assert "2026-11-20" <= qa.get(f"/api/calls/{cid}")["started_at"][:10] <= "2026-11-21"
        assert results[cid].agent_id in per_agent
    again = qa.json("POST", "/api/queues", {"per_agent": 2, "since": "2026-11-20",
                                            "until": "2026-11-21", "seed": 3})
    assert [i["call_id"] for i in again["items"]] == ids  # same seed, same draw
    assert qa.get(f"/api/queues/{queue['id']}")["items"] == items
    # calls with a 待复核 finding (it deducts nothing until reviewed) are drawn first, whatever
    # the seed
    pending = {cid for cid, r in results.items() if any(f.review for f in r.findings)
               and "2026-11-20" <= qa.get(f"/api/calls/{cid}")["started_at"][:10] <= "2026-11-21"
               and cid != "call_01_repair_leak"}
    assert pending
    for seed in (1, 2, 3):
        drawn = qa.json("POST", "/api/queues", {"per_agent": 1, "since": "2026-11-20",
                                                 "until": "2026-11-21", "seed": seed})["items"]
        first = {i["agent_id"]: i["call_id"] for i in drawn}
        assert all(first[results[cid].agent_id] in pending for cid in pending)


def test_call_page_shows_confidence_and_pending_findings(qa, batch):
    _, results = batch
    cid = next(c for c, r in results.items() if any(f.review for f in r.findings))
    d = qa.get(f"/api/calls/{cid}")
    pending = [fo["finding"] for fo in d["findings"] if fo["finding"]["review"]]
    assert pending and all(f["deduction"] == 0 and f["held"] > 0 and f["confidence"] < 0.5
                           for f in pending)
    status, page, _ = qa.request("GET", f"/calls/{cid}")
    assert status == 200
    assert "待复核" in page and "置信度" in page and "确认属实后扣" in page


def test_reviews_survive_rescoring(qa, batch):
    out, results = batch
    cid = "call_14_garbage_abusive"
    before = findings(qa.get(f"/api/calls/{cid}"))
    for f in before:
        qa.json("POST", f"/api/calls/{cid}/verdicts",
                {"rule_id": f["rule_id"], "start": f["start"], "verdict": "confirmed"})
    gone = before[0]["rule_id"]
    # re-score the same transcript with a rulebook that no longer has one of the rules
    rb = load_rulebook()
    r = results[cid]
    tr = Transcript(cid, r.agent_id, r.duration, list(r.utterances))
    rescored = score_transcript(tr, rb.only([x.id for x in rb.rules if x.id != gone]))
    time.sleep(1.1)  # the store's updated_at has whole seconds
    with Store.open(out) as store:
        path = store.write_result(rescored)
        store.update(cid, path=store.get(cid)["path"], result_path=store.relative(path),
                     score=rescored.score)
    d = qa.get(f"/api/calls/{cid}")
    assert gone not in [f["rule_id"] for f in findings(d)]
    assert all(f["verdict"] == "confirmed" for f in findings(d))
    assert [h["rule_id"] for h in d["history"]] == [gone]


def test_audio_is_served_or_reported_missing(qa, server):
    status, body, headers = Client(server, REVIEWER).request(
        "GET", "/calls/call_12_aircon_refusal/audio")
    assert status == 200 and headers["content-type"].startswith("audio/")
    assert qa.get(f"/api/calls/{UNCERTAIN}")["audio"] is None
    status, page, _ = Client(server, REVIEWER).request("GET", f"/calls/{UNCERTAIN}")
    assert status == 200 and "找不到录音" in page and "no_such_recording.wav" in page
    assert "角色不确定" in page
    status, page, _ = Client(server, REVIEWER).request("GET", f"/calls/{MISDIAL}")
    assert "未评分" in page and "没有坐席语音" in page


# --------------------------------------------------------------------------- permissions

def test_agent_sees_only_own_calls(a3, batch):
    _, results = batch
    mine = sorted(cid for cid, r in results.items() if r.agent_id == "A003")
    got = a3.get(q("/api/calls", per_page=500))
    assert sorted(c["call_id"] for c in got["calls"]) == mine
    # asking for another agent's calls by filter gives nothing, not their calls
    assert a3.get(q("/api/calls", agent="A001"))["total"] == 0
    other = "call_01_repair_leak"  # A001's
    a3.get(f"/api/calls/{other}", expect=404)
    status, _, _ = Client(a3.base, AGENT3).request("GET", f"/calls/{other}/audio")
    assert status == 404
    status, page, _ = Client(a3.base, AGENT3).request("GET", f"/calls/{other}")
    assert status == 404 and "光明物业" not in page
    hits = a3.get(q("/api/search", q="您好", per_page=500))["hits"]
    assert hits and {h["agent_id"] for h in hits} == {"A003"}
    assert {a["agent_id"] for a in a3.get("/api/agents")} == {"A003"}


def test_agent_cannot_change_verdicts_or_act_as_reviewer(a3, qa, server):
    own = "call_09_elevator_interruption"  # A003's
    f = findings(qa.get(f"/api/calls/{own}"))[0]
    before = f["verdict"]
    body = {"rule_id": f["rule_id"], "start": f["start"], "verdict": "rejected"}
    a3.json("POST", f"/api/calls/{own}/verdicts", body, expect=403)
    a3.json("POST", f"/api/calls/{own}/missed", {"rule_id": "GR01", "start": 1.0}, expect=403)
    a3.json("POST", f"/api/calls/{own}/reviewed", {}, expect=403)
    a3.json("POST", "/api/queues", {"per_agent": 1}, expect=403)
    a3.get("/api/precision", expect=403)
    assert findings(qa.get(f"/api/calls/{own}"))[0]["verdict"] == before
    # an appeal on another agent's call is not found; a reviewer cannot appeal
    other = findings(qa.get("/api/calls/call_12_aircon_refusal"))[0]
    a3.json("POST", "/api/calls/call_12_aircon_refusal/appeals",
            {"rule_id": other["rule_id"], "start": other["start"], "comment": "x"}, expect=404)
    qa.json("POST", f"/api/calls/{own}/appeals",
            {"rule_id": f["rule_id"], "start": f["start"], "comment": "x"}, expect=403)
    ap = a3.json("POST", f"/api/calls/{own}/appeals",
                 {"rule_id": f["rule_id"], "start": f["start"], "comment": "插话是在确认地址"})
    a3.json("POST", f"/api/appeals/{ap['id']}/resolve", {"outcome": "overturned"}, expect=403)
    assert findings(qa.get(f"/api/calls/{own}"))[0]["verdict"] == before


def test_no_or_wrong_credentials(server):
    status, _, headers = Client(server).request("GET", "/api/calls")
    assert status == 401 and headers.get("www-authenticate", "").startswith("Basic")
    assert Client(server, (REVIEWER[0], "wrong")).request("GET", "/api/calls")[0] == 401
    assert Client(server, ("nobody", "x")).request("GET", "/api/me")[0] == 401
    status, _, headers = Client(server).request("GET", "/calls")
    assert status == 200  # redirected to the login form
    assert Client(server).request("GET", "/login")[1].count('name="secret"') == 1


def _login(server: str, user) -> tuple[Client, str]:
    c = Client(server, cookies=True)
    page = c.request("GET", "/login")[1]
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    status, body, _ = c.request("POST", "/login", form={
        "name": user[0], "secret": user[1], "csrf": token, "next": "/calls"})
    assert status == 200 and "通话列表" in body
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    return c, csrf


def test_forms_need_the_csrf_token(server, qa):
    c, csrf = _login(server, REVIEWER)
    cid = "call_16_after_hours_repair"
    f = findings(qa.get(f"/api/calls/{cid}"))[0]
    form = {"rule_id": f["rule_id"], "start": f["start"], "verdict": "rejected",
            "reason": "非坐席用语"}
    status, body, _ = c.request("POST", f"/calls/{cid}/verdict", form=form)
    assert status == 403 and "CSRF" in body
    status, _, _ = c.request("POST", f"/calls/{cid}/verdict", form={**form, "csrf": "forged"})
    assert status == 403
    assert findings(qa.get(f"/api/calls/{cid}"))[0]["verdict"] is None
    status, body, _ = c.request("POST", f"/calls/{cid}/verdict", form={**form, "csrf": csrf})
    assert status == 200 and findings(qa.get(f"/api/calls/{cid}"))[0]["verdict"] == "rejected"
    # the JSON API takes JSON only (a cross-site form cannot send it)
    status, _, _ = qa.request("POST", f"/api/calls/{cid}/reviewed", body={}, ctype="text/plain")
    assert status == 415
    # login with a wrong password: 401 and no session
    c2 = Client(server, cookies=True)
    token = re.search(r'name="csrf" value="([^"]+)"',
                      c2.request("GET", "/login")[1]).group(1)
    status, body, _ = c2.request("POST", "/login", form={"name": REVIEWER[0],
                                                         "secret": "nope", "csrf": token})
    assert status == 401 and "密码错误" in body and not list(c2.jar)


def test_everything_shown_is_escaped(qa, server):
    c, csrf = _login(server, REVIEWER)
    cid = XSS_CALL
    qa.json("POST", f"/api/calls/{cid}/missed",
            {"rule_id": "FB01", "start": 7.5, "note": f"备注{XSS}"})
    page = c.request("GET", f"/calls/{cid}")[1]
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("&lt;img src=x") >= 2  # the transcript and the note
    hits = c.request("GET", "/search?" + urllib.parse.urlencode({"q": "onerror"}))[1]
    assert "&lt;img src=x <mark>onerror</mark>=alert(1)&gt;" in hits and "<img" not in hits


# --------------------------------------------------------------------------- starting up

def test_non_loopback_bind_needs_users(tmp_path):
    build_store(tmp_path)
    with pytest.raises(ServeError, match="needs users"):
        create_app(tmp_path, host="0.0.0.0")
    app = create_app(tmp_path, host="127.0.0.1")
    assert not app.state.settings.auth_required
    with ReviewStore.open(tmp_path / "callqa.db") as rs:
        rs.add_user("qa", "reviewer", "s")
    assert create_app(tmp_path, host="0.0.0.0").state.settings.auth_required
    with pytest.raises(ServeError, match="no callqa.db"):
        create_app(tmp_path / "empty")


def test_local_mode_without_users(tmp_path):
    build_store(tmp_path)
    with live_server(create_app(tmp_path)) as url:
        me = Client(url).get("/api/me")
        assert me["role"] == "reviewer"
        # the unauthenticated app answers loopback names only (no DNS rebinding)
        req = urllib.request.Request(url + "/api/me", headers={"Host": "evil.example:80"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=30)
        assert exc.value.code == 400


def test_users_file(tmp_path, batch):
    good = tmp_path / "users.yaml"
    good.write_text("users:\n  - name: 李雷\n    role: reviewer\n    secret_hash: '"
                    + hash_secret("s1") + "'\n  - name: zhang\n    role: agent\n"
                    "    agent_id: A004\n    secret_hash: '" + hash_secret("s2") + "'\n",
                    encoding="utf-8")
    users = load_users_file(good)
    assert users["zhang"][0].agent_id == "A004" and users["李雷"][0].is_reviewer
    with live_server(create_app(batch[0], users_file=good)) as url:
        got = Client(url, ("zhang", "s2")).get(q("/api/calls", per_page=500))
        assert got["total"] > 0 and {c["agent_id"] for c in got["calls"]} == {"A004"}
        assert Client(url, ("李雷", "s1")).get("/api/me")["role"] == "reviewer"
        assert Client(url, ("zhang", "s1")).request("GET", "/api/me")[0] == 401
    bad = tmp_path / "bad.yaml"
    for text, message in (
            ("users:\n  - name: x\n    role: admin\n    secret_hash: scrypt$1\n", "role must"),
            ("users:\n  - name: x\n    role: agent\n    secret_hash: plain\n", "never the secret"),
            ("users: [\n", "not valid YAML"),
            ("- a\n", "'users:' list")):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ServeError, match=message) as exc:
            load_users_file(bad)
        assert "bad.yaml" in str(exc.value)
