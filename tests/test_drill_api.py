"""Drills through the API of the real app (TestClient): scenarios from sample calls, roles,
the upload's bounds, attempts that are never scored as a perfect call (a dropped connection,
pieces missing, a call ended early, a silent trainee), progress and its export.

The trainee's microphone recording is what a browser uploads: Opus in WebM, in pieces.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from callqa.drill.progress import cohort
from callqa.drill.scenario import DrillError, scenario_from_call
from callqa.drill.store import MAX_CHUNK_BYTES, DrillStore, Play
from callqa.serve import create_app
from callqa.serve.index import connect
from callqa.serve.queries import load_result
from callqa.verdicts import ReviewStore

from serve_helpers import UNCERTAIN, build_store, webm

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
TRAINER, T1, T2, REVIEWER = ("T", "pw-t"), ("S1", "pw-1"), ("S2", "pw-2"), ("R", "pw-r")
CALL = "call_06_rude_pickup"


@pytest.fixture()
def app(tmp_path, asr_options):
    build_store(tmp_path)
    with ReviewStore.open(tmp_path / "callqa.db") as rs:
        rs.add_user(TRAINER[0], "trainer", TRAINER[1])
        rs.add_user(T1[0], "trainee", T1[1])
        rs.add_user(T2[0], "trainee", T2[1])
        rs.add_user(REVIEWER[0], "reviewer", REVIEWER[1])
    app = create_app(tmp_path)
    app.state.drill_asr = asr_options
    return app


@pytest.fixture()
def client(app):
    with TestClient(app) as c:
        yield c


def make_scenario(client, trainees=(T1[0],), call_id=CALL) -> dict:
    r = client.post("/api/drills/scenarios", auth=TRAINER,
                    json={"call_id": call_id, "trainees": list(trainees)})
    assert r.status_code == 200, r.text
    return r.json()


def test_scenario_from_a_sample(client):
    sc = make_scenario(client)
    truth = json.loads((SAMPLES / f"{CALL}.truth.json").read_text("utf-8"))
    customer = [t for t in truth["turns"] if t["speaker"] == "customer"]
    assert [t["text"] for t in sc["turns"]] == [t["text"] for t in customer]
    # the brief: who calls and why (the description's first sentence), not what the agent did
    assert sc["brief"] == "业主报修楼道灯不亮。" and truth["scenario"].startswith(sc["brief"])
    assert sc["agent_first"] and sc["pass_mark"] == 80
    wav = client.get(sc["turns"][0]["url"], auth=T1)
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    data, rate = sf.read(io.BytesIO(wav.content))
    assert abs(len(data) / rate - (sc["turns"][0]["duration_s"] + 0.5)) < 0.05
    page = client.get(f"/drills/{sc['id']}", auth=T1)
    assert page.status_code == 200 and sc["brief"] in page.text
    # the trainer's own brief and pass mark win over the sample's
    r = client.post("/api/drills/scenarios", auth=TRAINER, json={
        "call_id": CALL, "brief": "<b>来电</b>", "pass_mark": 90})
    assert r.json()["brief"] == "<b>来电</b>" and r.json()["pass_mark"] == 90
    assert "&lt;b&gt;来电" in client.get(f"/drills/{r.json()['id']}", auth=TRAINER).text


def test_scenario_needs_a_stereo_recording(client, app, tmp_path):
    r = client.post("/api/drills/scenarios", auth=TRAINER, json={"call_id": UNCERTAIN})
    assert r.status_code == 400 and "找不到录音" in r.json()["detail"]
    r = client.post("/api/drills/scenarios", auth=TRAINER, json={"call_id": "nope"})
    assert r.status_code == 404
    conn = connect(tmp_path / "callqa.db")
    row = conn.execute("SELECT result_path FROM calls WHERE call_id = ?", (CALL,)).fetchone()
    conn.close()
    mono = tmp_path / "mono.wav"
    data, rate = sf.read(SAMPLES / f"{CALL}.flac", always_2d=True)
    sf.write(mono, data.mean(axis=1), rate)
    with pytest.raises(DrillError, match="单声道"):
        scenario_from_call(load_result(tmp_path, row["result_path"]), mono)


def test_roles(client):
    sc = make_scenario(client)
    assert client.get("/drills", auth=REVIEWER).status_code == 403
    assert client.post("/api/drills/scenarios", auth=T1, json={"call_id": CALL}).status_code == 403
    assert client.get(f"/drills/{sc['id']}", auth=T2).status_code == 404  # not assigned
    assert client.get(sc["turns"][0]["url"], auth=T2).status_code == 404
    assert [s["id"] for s in client.get("/api/drills/scenarios", auth=T2).json()] == []
    a = client.post(f"/api/drills/scenarios/{sc['id']}/attempts", auth=T1, json={}).json()
    assert client.get(f"/api/drills/attempts/{a['id']}", auth=T2).status_code == 404
    assert client.get(f"/api/drills/attempts/{a['id']}", auth=TRAINER).status_code == 200
    assert client.get("/drills-progress.csv", auth=T1).status_code == 403
    # the trainer assigns it to the second trainee, who then sees it
    r = client.post(f"/drills/{sc['id']}/assign", auth=TRAINER, follow_redirects=False,
                    data={"trainees": T2[0], "csrf": "wrong"})
    assert r.status_code == 403  # forms carry the CSRF token
    # a form goes with the trainer's session (a Basic-carried form post is refused: CSRF)
    login = client.get("/login").text
    token = login.split('name="csrf" value="')[1].split('"')[0]
    page = client.post("/login", data={"name": TRAINER[0], "secret": TRAINER[1], "csrf": token,
                                       "next": "/drills"})
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = client.post(f"/drills/{sc['id']}/assign", follow_redirects=False,
                    data={"trainees": T2[0], "csrf": csrf})
    assert r.status_code == 303
    assert client.get(f"/drills/{sc['id']}", auth=T2).status_code == 200


def upload(client, attempt_id: int, pieces: list[bytes], user=T1) -> None:
    for seq, piece in enumerate(pieces):
        r = client.post(f"/api/drills/attempts/{attempt_id}/audio?seq={seq}", content=piece,
                        headers={"Content-Type": "application/octet-stream"}, auth=user)
        assert r.status_code == 200, r.text


def test_upload_bounds_and_order(client):
    sc = make_scenario(client)
    a = client.post(f"/api/drills/scenarios/{sc['id']}/attempts", auth=T1, json={}).json()
    url = f"/api/drills/attempts/{a['id']}/audio"
    r = client.post(url + "?seq=0", content=b"x", headers={"Content-Type": "text/plain"},
                    auth=T1)
    assert r.status_code == 415
    r = client.post(url + "?seq=0", content=b"x" * (MAX_CHUNK_BYTES + 1), auth=T1,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413 and "上限" in r.json()["detail"]
    upload(client, a["id"], [b"one", b"two"])
    upload(client, a["id"], [b"one"])  # a resent piece is taken once
    r = client.post(url + "?seq=5", content=b"late", auth=T1,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400 and "顺序" in r.json()["detail"]
    got = client.get(f"/api/drills/attempts/{a['id']}", auth=T1).json()
    assert got["chunks"] == 2 and got["bytes"] == 6
    # someone else cannot add to it
    client.post(f"/drills/{sc['id']}/assign", auth=TRAINER)  # (no csrf: refused, nothing)
    r = client.post(url + "?seq=2", content=b"x", auth=TRAINER,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 403


def test_attempts_that_cannot_be_scored_are_kept_incomplete(client, tmp_path):
    sc = make_scenario(client)
    start = f"/api/drills/scenarios/{sc['id']}/attempts"
    # a dropped connection: the page never finished, and a new attempt begins
    first = client.post(start, auth=T1, json={}).json()
    upload(client, first["id"], [b"piece"])
    second = client.post(start, auth=T1, json={}).json()
    first = client.get(f"/api/drills/attempts/{first['id']}", auth=T1).json()
    assert first["status"] == "incomplete" and "中断" in first["message"]
    # pieces lost on the way: the page recorded 3, the server has 1
    upload(client, second["id"], [b"piece"])
    r = client.post(f"/api/drills/attempts/{second['id']}/finish", auth=T1, json={
        "chunks": 3, "plays": [{"turn": i, "at_s": 5.0 * i} for i in range(4)]})
    assert r.json()["status"] == "incomplete" and "不完整" in r.json()["message"]
    # the call ended after two customer turns
    third = client.post(start, auth=T1, json={}).json()
    upload(client, third["id"], [b"piece"])
    r = client.post(f"/api/drills/attempts/{third['id']}/finish", auth=T1, json={
        "chunks": 1, "plays": [{"turn": 0, "at_s": 2.0}, {"turn": 1, "at_s": 9.0}]})
    assert r.json()["status"] == "incomplete" and "只播放了 2 轮" in r.json()["message"]
    # bad play times are refused at the edge
    r = client.post(f"/api/drills/attempts/{third['id']}/finish", auth=T1, json={
        "chunks": 1, "plays": [{"turn": 0, "at_s": -1}]})
    assert r.status_code == 422
    # none of them is a pass; all are attempts
    progress = client.get("/api/drills/progress", auth=T1).json()
    assert progress[0]["attempts"] == 3 and not progress[0]["passed"]
    page = client.get(f"/drills/attempts/{second['id']}", auth=T1)
    assert page.status_code == 200 and "不计为通过" in page.text


@pytest.mark.slow
def test_a_silent_trainee_is_never_a_pass(client):
    """A microphone that recorded only quiet (a muted headset): the real pipeline hears no
    agent, the attempt is not scored, and it is not a pass."""
    sc = make_scenario(client)
    a = client.post(f"/api/drills/scenarios/{sc['id']}/attempts", auth=T1, json={}).json()
    rng = np.random.default_rng(0)
    quiet = webm(rng.normal(0, 10 ** (-70 / 20), 48000 * 30))
    upload(client, a["id"], [quiet[i: i + 4000] for i in range(0, len(quiet), 4000)])
    n = -(-len(quiet) // 4000)
    plays = [{"turn": i, "at_s": 1.0 + 7.0 * i} for i in range(len(sc["turns"]))]
    r = client.post(f"/api/drills/attempts/{a['id']}/finish", auth=T1,
                    json={"chunks": n, "plays": plays})
    assert r.status_code == 200 and r.json()["status"] == "scoring"
    for _ in range(600):
        got = client.get(f"/api/drills/attempts/{a['id']}", auth=T1).json()
        if got["status"] != "scoring":
            break
        import time

        time.sleep(0.2)
    assert got["status"] == "unscored", got
    assert not got["passed"] and got["score"] is None and got["message"]


def test_cohort_pass_rule(tmp_path):
    """Passed = a scored attempt at or above the pass mark with no veto finding."""
    build_store(tmp_path)
    conn = connect(tmp_path / "callqa.db")
    store = DrillStore(conn, tmp_path)
    row = conn.execute("SELECT * FROM calls WHERE call_id = ?", (CALL,)).fetchone()
    sc = scenario_from_call(load_result(tmp_path, row["result_path"]), Path(row["abs_path"]))
    sc.assigned = ["a", "b", "c"]
    store.add_scenario(sc)
    for trainee, score, passed, vetoed in (("a", 92.0, 1, 0), ("a", 70.0, 0, 0),
                                           ("b", 95.0, 0, 1), ("c", None, 0, 0)):
        at = store.start_attempt(sc.id, trainee)
        store.set_plays(at.id, [Play(0, 1.0)])
        store.set_status(at.id, "scored" if score else "incomplete", None, score=score,
                         passed=passed, vetoed=vetoed, rules=json.dumps(["GR01", "PL01"]))
    c = cohort(store.scenarios(), store.attempts())
    assert c.cell("a", sc.id).passed and c.cell("a", sc.id).scores[-1][1] == 70.0
    assert c.cell("a", sc.id).best == 92.0
    assert not c.cell("b", sc.id).passed and not c.cell("c", sc.id).passed
    assert c.broken["a"][0] == ("GR01", 2)
    from callqa.drill.progress import cohort_csv

    rows = list(csv.DictReader(io.StringIO(cohort_csv(c).lstrip("\ufeff"))))
    assert [(r["学员"], r["是否通过"], r["练习次数"]) for r in rows] == [
        ("a", "通过", "2"), ("b", "未通过", "1"), ("c", "未通过", "1")]
    conn.close()


def test_drill_roles_from_the_cli_and_an_older_database(tmp_path):
    """`callqa serve adduser --role trainer/trainee`, a users file with them, and a database
    made before these roles (its users table allowed only reviewer and agent)."""
    import sqlite3

    from typer.testing import CliRunner

    from callqa.cli import app as cli
    from callqa.serve.app import load_users_file

    build_store(tmp_path)
    conn = sqlite3.connect(tmp_path / "callqa.db")
    conn.execute("CREATE TABLE review_users (name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK "
                 "(role IN ('reviewer', 'agent')), agent_id TEXT, secret_hash TEXT NOT NULL, "
                 "created_at TEXT NOT NULL)")
    conn.execute("INSERT INTO review_users VALUES ('old', 'reviewer', NULL, 'scrypt$x', 'then')")
    conn.commit()
    conn.close()
    runner = CliRunner()
    for name, role in (("林老师", "trainer"), ("小张", "trainee")):
        res = runner.invoke(cli, ["serve", "adduser", name, "--role", role, "--out",
                                  str(tmp_path)])
        assert res.exit_code == 0, res.output
    with ReviewStore.open(tmp_path / "callqa.db") as rs:
        assert {(u.name, u.role) for u in rs.users()} == {
            ("old", "reviewer"), ("林老师", "trainer"), ("小张", "trainee")}
    res = runner.invoke(cli, ["serve", "adduser", "x", "--role", "coach", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "trainee" in res.output
    res = runner.invoke(cli, ["serve", "adduser", "小李", "--role", "trainee", "--print-hash"])
    users = tmp_path / "users.yaml"
    users.write_text("users:\n" + res.stdout, "utf-8")
    assert load_users_file(users)["小李"][0].role == "trainee"


def test_an_attempt_over_the_size_limit_is_kept_incomplete(client, monkeypatch):
    from callqa.drill import store as drill_store

    monkeypatch.setattr(drill_store, "MAX_ATTEMPT_BYTES", 10)  # (a 32 MB upload in a test)
    sc = make_scenario(client)
    a = client.post(f"/api/drills/scenarios/{sc['id']}/attempts", auth=T1, json={}).json()
    upload(client, a["id"], [b"12345678"])
    r = client.post(f"/api/drills/attempts/{a['id']}/audio?seq=1", content=b"12345", auth=T1,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413 and "上限" in r.json()["detail"]
    got = client.get(f"/api/drills/attempts/{a['id']}", auth=T1).json()
    assert got["status"] == "incomplete" and got["bytes"] == 8 and not got["passed"]
