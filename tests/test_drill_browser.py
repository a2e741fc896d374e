"""The drill in a real headless Chromium against a live uvicorn: a trainer makes a scenario from
a sample call, two trainees take it with a fake microphone playing recorded speech, the
attempts go through the real model and rulebook, and the trainer sees the cohort.

The microphone is Chromium's fake capture device reading ``ANSWERS.wav``
(``--use-file-for-fake-audio-capture``): the trainee's answers are the agent tracks of sample
calls, cut out and laid on a timeline that follows the page (each answer starts a little after
the customer turn it answers has ended). The compliant trainee answers with call_01's agent
(the standard greeting, asking the caller's name, restating the request, a proper goodbye); the
rude one with call_06's agent ("喂，哪位？", no greeting), a long silence and then "不知道"
(call_08). Verdicts are asserted with margins (the exact words Whisper hears vary by CPU).

Screenshots go to ``artifacts/drill-*.png``; with ``CALLQA_DOCS_IMG=1`` also to ``docs/img/``.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callqa.asr.audio import SAMPLE_RATE, resample_channel
from callqa.drill.attempt import customer_samples
from callqa.drill.scenario import clip
from callqa.drill.store import DrillStore
from callqa.serve import create_app
from callqa.serve.index import connect
from callqa.verdicts import ReviewStore

from serve_helpers import build_store, live_server
from test_review_browser import FLAGS, _binary
from test_serve_browser import wait

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SCENARIO_CALL = "call_06_rude_pickup"
TRAINER = ("林老师", "pw-trainer")
GOOD = ("小张", "pw-good")
RUDE = ("小王", "pw-rude")
LEAD_S = 1.5       # before the first answer (the page asks for the microphone, starts the call)
SILENCE_S = 1.2    # the page's end-of-answer silence (drill_take.html.j2)
MARGIN_S = 1.2     # after a customer turn ends, before the answer starts

#: (sample call, start, end) of each answer: the greeting, then one per customer turn
COMPLIANT = [("call_01_repair_leak", 0.7, 6.095), ("call_01_repair_leak", 18.14, 22.945),
             ("call_01_repair_leak", 27.195, 33.98), ("call_01_repair_leak", 53.3, 64.775),
             ("call_01_repair_leak", 68.21, 71.32)]
RUDE_ANSWERS = [("call_06_rude_pickup", 0.9, 1.8), ("call_06_rude_pickup", 9.1, 13.73),
                ("call_08_manager_out_rude", 23.805, 24.365),
                ("call_06_rude_pickup", 32.075, 34.855), ("call_06_rude_pickup", 38.025, 39.225)]
RUDE_SILENCE = {2: 8.0}  # answer index → seconds of silence before it
RUDE_RULES = {"GR01", "GR02", "GR03", "FB01", "FB03", "RL02", "DA01", "CL01", "PL01", "PL02"}


def _piece(call: str, start: float, end: float) -> np.ndarray:
    data, rate = sf.read(SAMPLES / f"{call}.flac", dtype="float32", always_2d=True)
    agent = data[int((start - 0.1) * rate): int((end + 0.1) * rate), 0]
    return resample_channel(agent, rate)


def answers_wav(path: Path, clips_s: list[float], answers, silences: dict[int, float]) -> Path:
    """The trainee's side as the fake microphone plays it (from the moment it is opened)."""
    out = [np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32)]
    for i, (call, start, end) in enumerate(answers):
        if i in silences:
            out.append(np.zeros(int(silences[i] * SAMPLE_RATE), np.float32))
        out.append(_piece(call, start, end))
        if i < len(clips_s):  # the page's pause, the next customer turn, a moment to think
            out.append(np.zeros(int((SILENCE_S + clips_s[i] + MARGIN_S) * SAMPLE_RATE),
                                np.float32))
    out.append(np.zeros(30 * SAMPLE_RATE, np.float32))  # never loops back during the call
    sf.write(path, np.concatenate(out), SAMPLE_RATE, subtype="PCM_16")
    return path


@contextlib.contextmanager
def chromium(*extra: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="callqa-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("CALLQA_CHROMIUM", "chromium", "chromium-browser")
    for flag in FLAGS + ["--autoplay-policy=no-user-gesture-required",
                         f"--user-data-dir={profile}", *extra]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=_binary(
        "CALLQA_CHROMEDRIVER", "chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def microphone(answers: Path) -> tuple[str, ...]:
    return ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={answers}")


def login(browser, base: str, user) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base}/drills")
    wait(browser, lambda d: d.find_elements("id", "login"), "no login form")
    browser.find_element("name", "name").send_keys(user[0])
    browser.find_element("name", "secret").send_keys(user[1])
    browser.find_element("css selector", "#login button").click()
    wait(browser, lambda d: d.find_elements("id", "scenarios"), "login did not reach /drills")


def shot(browser, name: str) -> None:
    (ROOT / "artifacts").mkdir(exist_ok=True)
    browser.save_screenshot(str(ROOT / "artifacts" / f"drill-{name}.png"))
    if os.environ.get("CALLQA_DOCS_IMG"):
        size = browser.get_window_size()
        browser.set_window_size(1200, 800)
        browser.save_screenshot(str(ROOT / "docs" / "img" / f"drill-{name}.png"))
        browser.set_window_size(size["width"], size["height"])


def get(base: str, path: str, user) -> bytes:
    token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    req = urllib.request.Request(base + path, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


@pytest.fixture(scope="module")
def site(tmp_path_factory, asr_options):
    out = tmp_path_factory.mktemp("drill-browser")
    build_store(out)
    with ReviewStore.open(out / "callqa.db") as rs:
        rs.add_user(TRAINER[0], "trainer", TRAINER[1])
        rs.add_user(GOOD[0], "trainee", GOOD[1])
        rs.add_user(RUDE[0], "trainee", RUDE[1])
    app = create_app(out)
    app.state.drill_asr = asr_options
    with live_server(app) as url:
        yield url, out


def take(base: str, out: Path, user, answers: Path, scenario_id: int, name: str) -> dict:
    """The trainee takes the drill; returns what the feedback page shows."""
    with chromium(*microphone(answers)) as browser:
        login(browser, base, user)
        browser.get(f"{base}/drills/{scenario_id}")
        assert "业主报修楼道灯不亮" in browser.find_element("id", "brief").text
        browser.find_element("id", "start").click()
        wait(browser, lambda d: "/drills/attempts/" in d.current_url,
             "the call did not reach the feedback page", timeout=240)
        wait(browser, lambda d: d.find_elements("id", "outcome"), "no outcome")
        outcome = browser.find_element("id", "outcome")
        seen = {
            "status": outcome.get_attribute("data-status"),
            "passed": outcome.get_attribute("data-passed") == "1",
            "rules": {e.get_attribute("data-rule") for e in
                      browser.find_elements("css selector", ".finding[data-rule]")},
            "turns": [e.text for e in browser.find_elements("css selector", ".turn.agent")],
            "model": browser.find_element("id", "model-answer").text,
            "player": bool(browser.find_elements("id", "player")),
            "attempt": int(browser.current_url.rstrip("/").rsplit("/", 1)[1]),
        }
        seen["score"] = float(browser.find_element("id", "score").text) \
            if seen["status"] == "scored" else None
        shot(browser, name)
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    return seen


def test_trainer_trainees_and_cohort(site, tmp_path):
    base, out = site
    # 1. the trainer makes a scenario from the sample call, for both trainees
    with chromium() as browser:
        login(browser, base, TRAINER)
        from selenium.webdriver.support.ui import Select

        form = browser.find_element("id", "new-scenario")
        Select(form.find_element("name", "call_id")).select_by_value(SCENARIO_CALL)
        form.find_element("name", "title").send_keys("楼道灯报修")
        form.find_element("name", "trainees").send_keys(f"{GOOD[0]}，{RUDE[0]}")
        form.find_element("css selector", "button[type=submit]").click()
        wait(browser, lambda d: d.find_elements("id", "start"), "no drill page")
        scenario_id = int(browser.current_url.rstrip("/").rsplit("/", 1)[1])
        shot(browser, "scenario")
    conn = connect(out / "callqa.db")
    sc = DrillStore(conn, out).scenario(scenario_id)
    conn.close()
    assert sc.agent_first and len(sc.turns) == 4 and sc.assigned == sorted([GOOD[0], RUDE[0]])
    clips = [len(clip(t, customer_samples(sc), SAMPLE_RATE)) / SAMPLE_RATE for t in sc.turns]

    # 2. the two trainees take it
    good = take(base, out, GOOD, answers_wav(tmp_path / "good.wav", clips, COMPLIANT, {}),
                scenario_id, "result-good")
    rude = take(base, out, RUDE, answers_wav(tmp_path / "rude.wav", clips, RUDE_ANSWERS,
                                             RUDE_SILENCE), scenario_id, "result-rude")
    assert good["status"] == "scored" and good["passed"], good
    assert good["score"] >= sc.pass_mark
    assert not good["rules"] & {"GR01", "GR02", "CL01", "FB01", "FB05"}, good["rules"]
    assert len(good["turns"]) >= 4 and good["player"]
    # play-back: the call as scored, the trainee left and the customer right
    call, rate = sf.read(io.BytesIO(get(base, f"/drills/attempts/{good['attempt']}/audio", GOOD)))
    assert call.shape[1] == 2 and call.shape[0] / rate > 50
    assert np.sqrt(np.mean(call[:, 0] ** 2)) > 0.01 and np.sqrt(np.mean(call[:, 1] ** 2)) > 0.01
    assert "您好" in "".join(good["turns"][:1])  # the greeting was heard first
    assert good["model"].splitlines() == [t.text for t in sc.model_answer]  # the original agent
    assert rude["status"] == "scored" and not rude["passed"], rude
    assert rude["score"] < sc.pass_mark
    assert len(rude["rules"] & RUDE_RULES) >= 3, rude["rules"]  # most of the lapses, heard
    assert rude["rules"] & {"GR01", "GR02"}  # the pick-up without a greeting

    # 3. the trainer's cohort view and its export
    with chromium() as browser:
        login(browser, base, TRAINER)
        browser.get(f"{base}/drills-progress")
        cells = {(r.get_attribute("data-trainee"), c.get_attribute("data-scenario")):
                 c.get_attribute("data-passed")
                 for r in browser.find_elements("css selector", "#cohort tr[data-trainee]")
                 for c in r.find_elements("css selector", "td[data-scenario]")}
        assert cells[(GOOD[0], str(scenario_id))] == "1"
        assert cells[(RUDE[0], str(scenario_id))] == "0"
        shot(browser, "cohort")
    rows = list(csv.DictReader(io.StringIO(get(base, "/drills-progress.csv", TRAINER)
                                           .decode("utf-8-sig"))))
    by = {r["学员"]: r for r in rows}
    assert by[GOOD[0]]["是否通过"] == "通过" and by[RUDE[0]]["是否通过"] == "未通过"
    assert float(by[GOOD[0]]["最高分"]) == good["score"]
    assert get(base, "/drills-progress.xlsx", TRAINER)[:2] == b"PK"


def test_denied_microphone_starts_nothing(site):
    """Without the fake permission prompt, headless Chromium denies the microphone: the page
    says so and no attempt is recorded."""
    base, out = site
    conn = connect(out / "callqa.db")
    store = DrillStore(conn, out)
    sc = store.add_scenario(_scenario(out, [GOOD[0]]))
    conn.close()
    with chromium("--use-fake-device-for-media-stream", "--deny-permission-prompts") as browser:
        login(browser, base, GOOD)
        browser.get(f"{base}/drills/{sc.id}")
        browser.find_element("id", "start").click()
        wait(browser, lambda d: "麦克风" in d.find_element("id", "error").text,
             "no message about the microphone")
        shot(browser, "denied")
    conn = connect(out / "callqa.db")
    assert not DrillStore(conn, out).attempts(GOOD[0], sc.id)
    conn.close()


def _scenario(out: Path, trainees: list[str]):
    from callqa.drill.scenario import scenario_from_call
    from callqa.serve.queries import load_result

    conn = connect(out / "callqa.db")
    row = conn.execute("SELECT * FROM calls WHERE call_id = ?", (SCENARIO_CALL,)).fetchone()
    conn.close()
    sc = scenario_from_call(load_result(out, row["result_path"]), Path(row["abs_path"]))
    sc.assigned = trainees
    return sc
