"""The workbench on a batch with desks (live uvicorn on loopback): the calls list filters by
desk, the drop-down offers the desks, a call page names its desk and rulebook, and an agent is
offered only the desks of their own calls."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import replace

import pytest

from callqa.batch.store import Store
from callqa.scoring import load_rulebook
from callqa.scoring.engine import score_transcript
from callqa.serve import create_app
from callqa.transcript import Transcript, Utterance
from callqa.verdicts import ReviewStore

from serve_helpers import build_store, live_server
from test_batch_desks import gas_rulebook
from test_serve_hardening import AGENT3, REVIEWER, Client, login

GAS_CALLS = {"gas_1": "A001", "gas_2": "A002"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve-desks")
    results = build_store(out)
    gas = load_rulebook(gas_rulebook(out.parent / "gas.yaml", version=2))
    with Store.open(out) as store:
        for r in results:  # the sample calls are the 物业 desk's (copies: the fixture is shared)
            store.write_result(replace(r, desk="物业"))
        for cid, agent in GAS_CALLS.items():
            t = Transcript(cid, agent, 20.0, [
                Utterance("agent", 0.5, 3.0, "您好，燃气热线。"),
                Utterance("customer", 3.5, 6.0, "我家燃气表不走了。"),
                Utterance("agent", 6.5, 9.0, "不知道。")])
            r = score_transcript(t, gas)
            r.desk = "燃气"
            path = store.write_result(r)
            store.update(cid, path=f"{cid}.wav", agent_id=agent, started_at="2026-11-21T10:00:00",
                         status="scored", result_path=store.relative(path), score=r.score,
                         passed=int(r.passed))
        # rows changed after the results were rewritten: the index re-reads them
        for r in results:
            store.update(r.call_id, path=store.get(r.call_id)["path"], status="scored")
    with ReviewStore.open(out / "callqa.db") as rs:
        rs.add_user(REVIEWER[0], "reviewer", REVIEWER[1])
        rs.add_user(AGENT3[0], "agent", AGENT3[1])
    with live_server(create_app(out)) as url:
        yield url, gas


def test_calls_filter_by_desk(server):
    url, gas = server
    qa = Client(url, REVIEWER)
    got = qa.json("GET", "/api/calls?" + urllib.parse.urlencode({"desk": "燃气"}))
    assert sorted(c["call_id"] for c in got["calls"]) == sorted(GAS_CALLS)
    assert {c["desk"] for c in got["calls"]} == {"燃气"}
    everyone = qa.json("GET", "/api/calls?per_page=500")
    assert {c["desk"] for c in everyone["calls"]} == {"物业", "燃气"}

    d = qa.json("GET", "/api/calls/gas_1")
    assert d["desk"] == "燃气"
    assert (d["rulebook"]["name"], d["rulebook"]["version"]) == ("燃气热线", 2)
    assert d["rulebook"]["sha256"] == gas.sha256

    c, _ = login(url, REVIEWER)
    page = c.request("GET", "/calls")[1]
    select = re.search(r'<select name="desk">(.*?)</select>', page, re.S).group(1)
    assert sorted(re.findall(r'<option value="([^"]+)"', select)) == sorted(["物业", "燃气"])
    page = c.request("GET", "/calls?" + urllib.parse.urlencode({"desk": "燃气"}))[1]
    assert set(re.findall(r'<tr data-call="([^"]+)"', page)) == set(GAS_CALLS)
    page = c.request("GET", "/calls/gas_1")[1]
    assert '<span id="desk">燃气</span>' in page and "燃气热线 v2" in page


def test_an_agent_is_offered_only_own_desks(server):
    url, _ = server
    c, _ = login(url, AGENT3)  # A003 has 物业 calls only
    page = c.request("GET", "/calls")[1]
    select = re.search(r'<select name="desk">(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="([^"]+)"', select) == ["物业"]
