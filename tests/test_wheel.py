"""callqa as a server installs it: a wheel built from this checkout, installed (not editable)
into a fresh virtual environment and run from another directory, scores a sample call, runs the
packaged rulebook's tests and serves the workbench. Nothing may be read from the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from serve_helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
CALL = "call_06_rude_pickup.flac"
#: the installed tool assembles its model and caches transcripts under a private cache
ENV: dict[str, str] = {}


def _run(cmd, cwd, timeout=900, **kw):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env=ENV, **kw)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``callqa`` from a wheel in a fresh venv, and an empty working directory elsewhere."""
    base = tmp_path_factory.mktemp("wheel")
    ENV.update(os.environ, XDG_CACHE_HOME=str(base / "xdg"))
    dist, venv, work = base / "dist", base / "venv", base / "work"
    work.mkdir()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
         cwd=base)
    wheel = next(dist.glob("callqa-*.whl"))
    _run([sys.executable, "-m", "venv", str(venv)], cwd=base)
    _run([str(venv / "bin" / "pip"), "install", "-q", "-c", str(ROOT / "constraints.txt"),
          str(wheel)], cwd=base)
    return venv / "bin" / "callqa", work


def test_wheel_carries_the_rulebook_and_runs_its_tests(installed):
    callqa, work = installed
    listed = _run([str(callqa), "rules", "list"], cwd=work).stdout
    assert "GR01" in listed and "FB01" in listed
    tested = _run([str(callqa), "rules", "test"], cwd=work)
    assert " 0 failed" in tested.stdout + tested.stderr
    site = Path(_run([str(callqa.parent / "python"), "-c",
                      "import callqa, pathlib; print(pathlib.Path(callqa.__file__).parent)"],
                     cwd=work).stdout.strip())
    assert ROOT not in site.parents  # the installed copy, not this checkout
    assert (site / "_rules" / "standard").is_dir() and not (site / "_rules").is_symlink()


@pytest.mark.slow
def test_wheel_scores_a_call_and_serves_the_workbench(installed, tmp_path):
    callqa, work = installed
    rec = tmp_path / "rec"
    rec.mkdir()
    shutil.copy(ROOT / "samples" / CALL, rec / CALL)
    scored = json.loads(_run([str(callqa), "score", str(rec / CALL), "--format", "json",
                             ], cwd=work).stdout)
    assert scored["call_id"] == Path(CALL).stem and scored["score"] is not None
    assert {u["speaker"] for u in scored["utterances"]} == {"agent", "customer"}
    assert Path(scored["rulebook"]["path"]).parent.name == "_rules"
    out = tmp_path / "out"
    _run([str(callqa), "batch", str(rec), "--out", str(out), "--no-progress"], cwd=work)
    port = free_port()
    server = subprocess.Popen([str(callqa), "serve", "--out", str(out), "--port", str(port)],
                              cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=ENV)
    try:
        deadline, page = time.monotonic() + 60, None
        while time.monotonic() < deadline and page is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    page = resp.read().decode("utf-8")
            except OSError:
                time.sleep(0.5)
        assert page is not None, server.stderr.read1().decode("utf-8", "replace")
        assert Path(CALL).stem in page
    finally:
        server.terminate()
        server.wait(timeout=30)
