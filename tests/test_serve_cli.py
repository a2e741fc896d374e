"""``callqa serve`` and ``callqa serve adduser`` at the command line, and a real server process
started by the command, answering on loopback and stopping on SIGINT."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from typer.testing import CliRunner

from callqa.cli import app
from callqa.verdicts import ReviewStore
from callqa.serve import load_users_file

from serve_helpers import build_store, free_port

runner = CliRunner()


def test_help_is_true():
    res = runner.invoke(app, ["serve", "--help"])
    assert res.exit_code == 0
    for option in ("--out", "--host", "--port", "--users", "adduser"):
        assert option in res.output


def test_refuses_what_it_cannot_serve(tmp_path):
    res = runner.invoke(app, ["serve", "--out", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "nothing" in res.output and "callqa batch" in res.output
    build_store(tmp_path / "out")
    res = runner.invoke(app, ["serve", "--out", str(tmp_path / "out"), "--host", "0.0.0.0"])
    assert res.exit_code == 2 and "needs users" in res.output
    bad = tmp_path / "users.yaml"
    bad.write_text("users:\n  - name: x\n    role: boss\n    secret_hash: scrypt$x\n", "utf-8")
    res = runner.invoke(app, ["serve", "--out", str(tmp_path / "out"), "--users", str(bad)])
    assert res.exit_code == 2 and "users.yaml" in res.output and "role" in res.output


def test_adduser(tmp_path):
    out = tmp_path / "out"
    build_store(out)
    res = runner.invoke(app, ["serve", "adduser", "A001", "--role", "agent", "--out", str(out)])
    assert res.exit_code == 0, res.output
    token = res.output.split("token for A001: ")[1].split()[0]
    with ReviewStore.open(out / "callqa.db") as rs:
        user = rs.authenticate("A001", token)
        assert user is not None and (user.role, user.agent_id) == ("agent", "A001")
        stored = rs.conn.execute("SELECT secret_hash FROM review_users").fetchone()[0]
        assert token not in stored
    res = runner.invoke(app, ["serve", "adduser", "x", "--role", "admin", "--out", str(out)])
    assert res.exit_code == 2 and "reviewer, agent" in res.output
    res = runner.invoke(app, ["serve", "adduser", "x", "--role", "agent",
                              "--out", str(tmp_path / "none")])
    assert res.exit_code == 2 and "none" in res.output
    res = runner.invoke(app, ["serve", "adduser", "李雷", "--role", "reviewer", "--print-hash"])
    assert res.exit_code == 0
    entry = res.stdout
    users_file = tmp_path / "users.yaml"
    users_file.write_text("users:\n" + entry, encoding="utf-8")
    assert load_users_file(users_file)["李雷"][0].role == "reviewer"
    assert yaml.safe_load(users_file.read_text("utf-8"))["users"][0]["secret_hash"] != \
        res.output.split("token for 李雷: ")[1].split()[0]


def test_the_command_serves_on_loopback_and_stops(tmp_path):
    out = tmp_path / "out"
    build_store(out)
    with ReviewStore.open(out / "callqa.db") as rs:
        rs.add_user("qa", "reviewer", "secret-1")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "callqa", "serve", "--out", str(out),
                             "--port", str(port)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        auth = "Basic " + base64.b64encode(b"qa:secret-1").decode()
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/me",
                                             headers={"Authorization": auth})
                with urllib.request.urlopen(req, timeout=5) as r:
                    assert json.loads(r.read()) == {"name": "qa", "role": "reviewer",
                                                    "agent_id": None}
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"127.0.0.1:{port}" in err and "login required" in err
