"""The workbench under a flood of wrong passwords for a real user: how long another logged-in
session's requests take while N guesses arrive P at a time, and how many guesses were answered
429 (refused before any scrypt work) instead of 401 (checked with scrypt).

The store is the sample calls' recorded scripts (tests/serve_helpers.py), served by a live
uvicorn on loopback. A reviewer with a session cookie asks for a call page in a loop while the
guesses run; before the flood the same request is timed alone.

    python bench/serve_login_flood.py [--guesses 300] [--parallel 100] [--repeat 30]
"""

from __future__ import annotations

import argparse
import base64
import http.cookiejar
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serve_helpers import build_store, live_server  # noqa: E402

from callqa.serve import create_app  # noqa: E402
from callqa.verdicts import ReviewStore  # noqa: E402

USER, SECRET = "qa", "right-secret"
PAGE = "/calls/call_08_manager_out_rude"


def session(url: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/login", timeout=60).read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"name": USER, "secret": SECRET, "csrf": token}).encode()
    opener.open(url + "/login", data=data, timeout=60).read()
    return opener


def timed(opener, url: str) -> float:
    t0 = time.perf_counter()
    with opener.open(url + PAGE, timeout=120) as r:
        r.read()
    return time.perf_counter() - t0


def guess(url: str, n: int) -> int:
    auth = base64.b64encode(f"{USER}:wrong{n}".encode()).decode()
    req = urllib.request.Request(url + "/api/me", headers={"Authorization": f"Basic {auth}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--guesses", type=int, default=300)
    ap.add_argument("--parallel", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="callqa-flood-"))
    build_store(out)
    with ReviewStore.open(out / "callqa.db") as rs:
        rs.add_user(USER, "reviewer", SECRET)
    with live_server(create_app(out)) as url:
        opener = session(url)
        alone = [timed(opener, url) for _ in range(args.repeat)]
        during: list[float] = []
        done = threading.Event()

        def user() -> None:
            while not done.is_set():
                during.append(timed(opener, url))

        watcher = threading.Thread(target=user)
        watcher.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            codes = list(pool.map(lambda n: guess(url, n), range(args.guesses)))
        flood_s = time.perf_counter() - t0
        done.set()
        watcher.join()
    print(f"{args.guesses} wrong passwords, {args.parallel} at a time: {flood_s:.1f} s; "
          f"{codes.count(429)} refused (429) without hashing, {codes.count(401)} checked (401)")
    for name, xs in (("alone", alone), ("during the flood", during)):
        print(f"call page {name}: median {statistics.median(xs) * 1000:.0f} ms, "
              f"slowest {max(xs) * 1000:.0f} ms over {len(xs)} requests")


if __name__ == "__main__":
    main()
