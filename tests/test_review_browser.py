"""The review page in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

These tests never skip: without the browser they fail and say what to install (CI installs it
with ``.ci/system-packages``). Selenium is pointed at the system chromedriver and chromium, so
selenium-manager never downloads anything. The page is served from a local http.server on
127.0.0.1; a screenshot goes to ``artifacts/review.png`` (git-ignored) for a human to look at.

``CALLQA_CHROMIUM`` / ``CALLQA_CHROMEDRIVER`` override the binaries' paths.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from callqa.report.review import render_review
from callqa.result import CallResult
from callqa.scoring import load_rulebook

from test_review import DURATION_S, XSS, demo_call, write_tone

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SEEK_TOLERANCE_S = 0.05
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--mute-audio", "--window-size=1400,1000"]


def _binary(env: str, *names: str) -> str:
    if os.environ.get(env):
        if Path(os.environ[env]).is_file():
            return os.environ[env]
        pytest.fail(f"{env}={os.environ[env]} does not exist", pytrace=False)
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)
        if found:
            return found
    pytest.fail(f"{names[0]} not found: the review page tests need a real Chromium. Install "
                f"Debian's chromium and chromium-driver (apt-get install chromium "
                f"chromium-driver; CI runs .ci/system-packages), or set {env}.", pytrace=False)


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[dev]'", pytrace=False)
    chromium = _binary("CALLQA_CHROMIUM", "chromium", "chromium-browser")
    chromedriver = _binary("CALLQA_CHROMEDRIVER", "chromedriver")
    profile = tempfile.mkdtemp(prefix="callqa-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The demo call's pages under a local web root: embedded and linked audio."""
    root = tmp_path_factory.mktemp("site")
    result = demo_call()
    rulebook = load_rulebook()
    (root / "audio").mkdir()
    flac = write_tone(root / "audio" / "demo_call.flac")
    render_review(result, flac, root / "review" / "demo_call.html", "embed", rulebook)
    render_review(result, flac, root / "linked" / "demo_call.html", "link", rulebook)
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", result
    finally:
        server.shutdown()
        server.server_close()


def open_page(browser, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "var a = document.getElementById('audio'); return a && a.readyState >= 1;"),
        message="the recording did not load (audio.readyState stayed 0)")


def console_errors(browser) -> list[dict]:
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def stub_play(browser) -> None:
    """Make play() count calls instead of playing, so currentTime stays where the click put it."""
    browser.execute_script(
        "window.__plays = 0; HTMLMediaElement.prototype.play = function () {"
        " window.__plays += 1; return Promise.resolve(); };")


def click(browser, element) -> None:
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def current_time(browser) -> float:
    return browser.execute_script("return document.getElementById('audio').currentTime;")


def test_page_loads_without_console_errors_or_outside_requests(browser, site):
    base, result = site
    open_page(browser, f"{base}/review/demo_call.html")
    assert console_errors(browser) == []
    assert browser.title == f"通话复核 {result.call_id}"
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; });")
    assert [u for u in fetched if not (u.startswith(base) or u.startswith("data:"))] == []
    duration = browser.execute_script("return document.getElementById('audio').duration;")
    assert duration == pytest.approx(DURATION_S, abs=0.05)


def test_every_finding_is_shown(browser, site):
    base, result = site
    open_page(browser, f"{base}/review/demo_call.html")
    panel = browser.find_elements("css selector", "#findings .finding")
    assert len(panel) == len(result.findings) >= 3
    shown = [e.find_element("css selector", ".rid").text for e in panel]
    assert shown == [f.rule_id for f in sorted(result.findings, key=lambda f: (f.start, f.rule_id))]
    assert all(e.is_displayed() for e in panel)
    # ... and each once in the timeline, on its utterance or in place between utterances
    markers = browser.find_elements("css selector", "#timeline [data-finding]")
    assert sorted(m.get_attribute("data-finding") for m in markers) == \
        sorted(e.get_attribute("id") for e in panel)
    assert len(browser.find_elements("css selector", "#timeline li.utt")) == len(result.utterances)
    assert browser.find_elements("css selector", "#timeline .badge"), "no finding on an utterance"
    assert browser.find_elements("css selector", "#timeline .gap"), "no finding between utterances"


def test_clicking_a_finding_seeks_the_audio_to_its_start(browser, site):
    base, result = site
    open_page(browser, f"{base}/review/demo_call.html")
    stub_play(browser)
    findings = sorted(result.findings, key=lambda f: (f.start, f.rule_id))
    for n, f in enumerate(findings):
        browser.execute_script("document.getElementById('audio').currentTime = 39;")
        click(browser, browser.find_element("id", f"f{n}"))
        assert current_time(browser) == pytest.approx(f.start, abs=SEEK_TOLERANCE_S), f.rule_id
        assert browser.execute_script("return window.__plays;") == n + 1
    assert console_errors(browser) == []


def test_clicking_an_utterance_or_a_timeline_marker_seeks_there(browser, site):
    base, result = site
    open_page(browser, f"{base}/review/demo_call.html")
    stub_play(browser)
    for i in (0, len(result.utterances) - 1):
        click(browser, browser.find_element("id", f"u{i}"))
        assert current_time(browser) == pytest.approx(result.utterances[i].start,
                                                      abs=SEEK_TOLERANCE_S)
    marker = browser.find_element("css selector", "#timeline .badge")
    click(browser, marker)
    n = int(marker.get_attribute("data-finding")[1:])
    f = sorted(result.findings, key=lambda f: (f.start, f.rule_id))[n]
    assert current_time(browser) == pytest.approx(f.start, abs=SEEK_TOLERANCE_S)
    # the finding in the panel is selected too, so the trainer sees its explanation
    assert "selected" in browser.find_element("id", f"f{n}").get_attribute("class")


def test_a_click_really_plays_from_there(browser, site):
    from selenium.webdriver.support.ui import WebDriverWait

    base, result = site
    open_page(browser, f"{base}/review/demo_call.html")
    gap = browser.find_element("css selector", "#timeline .gap")
    start = float(gap.get_attribute("data-start"))
    click(browser, gap)
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(
        "var a = document.getElementById('audio'); return !a.paused && a.currentTime > "
        f"{start + 0.2};"), message="the audio did not play from the clicked finding")
    assert current_time(browser) < start + 5
    browser.execute_script("document.getElementById('audio').pause();")
    assert console_errors(browser) == []


def test_transcript_text_is_rendered_as_text_not_html(browser, site):
    from selenium.common.exceptions import NoAlertPresentException

    base, result = site
    open_page(browser, f"{base}/review/demo_call.html")
    assert browser.find_elements("css selector", "#timeline img") == []
    texts = [e.text for e in browser.find_elements("css selector", "#timeline .text")]
    assert any(XSS in t for t in texts)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text


def test_linked_recording_loads_relative_to_the_page(browser, site):
    base, _ = site
    open_page(browser, f"{base}/linked/demo_call.html")
    src = browser.execute_script("return document.getElementById('audio').currentSrc;")
    assert src == f"{base}/audio/demo_call.flac"
    assert browser.execute_script("return document.getElementById('audio').duration;") == \
        pytest.approx(DURATION_S, abs=0.05)
    assert console_errors(browser) == []


def test_screenshot_for_a_human(browser, site):
    base, result = site
    open_page(browser, f"{base}/review/demo_call.html")
    stub_play(browser)
    gap = browser.find_element("css selector", "#timeline .gap")
    click(browser, gap)
    browser.execute_script("window.scrollTo(0, 0);")
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "review.png"))
    browser.set_window_size(700, 1000)  # narrow: the panel drops under the timeline
    try:
        assert browser.save_screenshot(str(ARTIFACTS / "review-narrow.png"))
    finally:
        browser.set_window_size(1400, 1000)


@pytest.mark.slow
def test_real_sample_through_the_real_model(browser, tmp_path):
    """A generated sample call (stereo 8 kHz FLAC) through faster-whisper, scored, reviewed."""
    from callqa.asr.pipeline import AsrOptions, transcribe_call
    from callqa.scoring import Scorer

    flac = SAMPLES / "call_01_repair_leak.flac"
    assert flac.is_file(), f"{flac} is missing (samples/ is part of the repository)"
    transcript = transcribe_call(flac, AsrOptions(), use_cache=False)
    rulebook = load_rulebook()
    result: CallResult = Scorer(rulebook).score(transcript)
    assert {u.speaker for u in result.utterances} == {"agent", "customer"}
    page = render_review(result, flac, tmp_path / "review" / f"{result.call_id}.html",
                         "embed", rulebook)
    open_page(browser, page.resolve().as_uri())
    assert console_errors(browser) == []
    assert browser.execute_script("return document.getElementById('audio').duration;") == \
        pytest.approx(result.duration, abs=0.1)
    assert len(browser.find_elements("css selector", "#findings .finding")) == \
        len(result.findings)
    assert len(browser.find_elements("css selector", "#timeline li.utt")) == \
        len(result.utterances)
    stub_play(browser)
    last = len(result.utterances) - 1
    click(browser, browser.find_element("id", f"u{last}"))
    assert current_time(browser) == pytest.approx(result.utterances[last].start,
                                                  abs=SEEK_TOLERANCE_S)
    browser.save_screenshot(str(ARTIFACTS / "review-sample.png"))
