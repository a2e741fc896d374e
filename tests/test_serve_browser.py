"""The workbench in a real headless Chromium against a live uvicorn on loopback: a reviewer
filters, searches, confirms, rejects and adds a missed finding; an agent appeals and a reviewer
resolves it; a sampling queue is drawn. The browser fixture is the review page tests' (Debian's
chromium + chromium-driver; never skipped).

Screenshots go to ``artifacts/workbench-*.png``; with ``CALLQA_DOCS_IMG=1`` also to
``docs/img/`` (the pictures in docs/workbench.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callqa.verdicts import ReviewStore
from callqa.scoring import load_rulebook
from callqa.serve import create_app

from serve_helpers import MISDIAL, UNCERTAIN, XSS_CALL, build_store, live_server
from test_review_browser import browser, click, console_errors  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[1]
REVIEWER = ("王芳", "pw-reviewer")
AGENT = ("A003", "tok-a003")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve-browser")
    results = {r.call_id: r for r in build_store(out)}
    with ReviewStore.open(out / "callqa.db") as rs:
        rs.add_user(REVIEWER[0], "reviewer", REVIEWER[1])
        rs.add_user(AGENT[0], "agent", AGENT[1])
    with live_server(create_app(out)) as url:
        yield url, results


def shot(browser, name: str, at: str | None = None) -> None:
    """Screenshots, scrolled so that element ``at`` (an id) is at the top."""
    scroll = f"document.getElementById('{at}').scrollIntoView({{block: 'start'}});"
    (ROOT / "artifacts").mkdir(exist_ok=True)
    if at:
        browser.execute_script(scroll)
    browser.save_screenshot(str(ROOT / "artifacts" / f"workbench-{name}.png"))
    if os.environ.get("CALLQA_DOCS_IMG"):  # smaller, for docs/workbench.md
        size = browser.get_window_size()
        browser.set_window_size(1200, 720)
        if at:
            browser.execute_script(scroll)
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ROOT / "docs" / "img" / f"workbench-{name}.png"))
        browser.set_window_size(size["width"], size["height"])


def wait(browser, condition, message: str, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition, message=message)


def login(browser, base: str, user) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base}/calls")  # not logged in: the login form, coming back here after
    wait(browser, lambda d: d.find_elements("id", "login"), "no login form")
    browser.find_element("name", "name").send_keys(user[0])
    browser.find_element("name", "secret").send_keys(user[1])
    browser.find_element("css selector", "#login button").click()
    wait(browser, lambda d: d.find_elements("id", "calls"), "login did not reach the list")
    assert user[0] in browser.find_element("id", "who").text


def rows(browser) -> list[str]:
    return [r.get_attribute("data-call") for r in
            browser.find_elements("css selector", "#calls tbody tr[data-call]")]


def select(browser, name: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("css selector", f"select[name={name}]")).select_by_value(value)


def submit_and_wait(browser, button) -> None:
    """Click a form's button and wait for the page it leads to."""
    old = browser.find_element("tag name", "html")
    click(browser, button)
    wait(browser, lambda d: old.id != d.find_element("tag name", "html").id, "no new page")


def test_filter_sort_and_page(browser, site):
    base, results = site
    login(browser, base, REVIEWER)
    assert len(rows(browser)) == len(results)
    select(browser, "rule", "FB03")
    submit_and_wait(browser, browser.find_element("id", "apply"))
    want = {cid for cid, r in results.items() if any(f.rule_id == "FB03" for f in r.findings)}
    assert set(rows(browser)) == want and len(want) >= 2
    select(browser, "rule", "")
    select(browser, "result", "fail")
    submit_and_wait(browser, browser.find_element("id", "apply"))
    want = {cid for cid, r in results.items() if not r.passed and r.unscored is None}
    assert set(rows(browser)) == want
    # sort by score: first click descending, second ascending
    submit_and_wait(browser, browser.find_element("css selector", "a.sort[data-col=score]"))
    scores = [results[c].score for c in rows(browser)]
    assert scores == sorted(scores, reverse=True)
    submit_and_wait(browser, browser.find_element("css selector", "a.sort[data-col=score]"))
    assert [results[c].score for c in rows(browser)] == sorted(scores)
    # pages of 6: the next page continues the list
    browser.get(f"{base}/calls?sort=call_id&order=asc&per_page=6")
    first = rows(browser)
    submit_and_wait(browser, browser.find_element("id", "next"))
    assert rows(browser) == sorted(results)[6:12] and first == sorted(results)[:6]
    browser.get(f"{base}/calls")
    shot(browser, "calls")
    assert console_errors(browser) == []


def test_search_marks_the_hit_and_links_to_the_moment(browser, site):
    base, results = site
    login(browser, base, REVIEWER)
    browser.get(f"{base}/search")
    browser.find_element("name", "q").send_keys("不归我们管")
    select(browser, "speaker", "agent")
    submit_and_wait(browser, browser.find_element("id", "go"))
    hits = browser.find_elements("css selector", "#hits tr.hit")
    assert len(hits) == 1
    assert [m.text for m in hits[0].find_elements("tag name", "mark")] == ["不归我们管"]
    shot(browser, "search")
    submit_and_wait(browser, hits[0].find_element("css selector", "a.goto"))
    utt = results[XSS_CALL].utterances[2]
    hit = browser.find_element("id", "u2")
    assert "hit" in hit.get_attribute("class") and "不归我们管" in hit.text
    wait(browser, lambda d: abs(d.execute_script(
        "return document.getElementById('audio').currentTime;") - utt.start) < 0.05,
        "the player did not start at the hit")
    # a customer-only search does not find the agent's words
    browser.get(f"{base}/search?q=%E4%B8%8D%E5%BD%92%E6%88%91%E4%BB%AC%E7%AE%A1&speaker=customer")
    assert browser.find_elements("css selector", "#hits tr.hit") == []
    assert console_errors(browser) == []


def _finding(browser, n: int):
    return browser.find_element("id", f"f{n}")


def test_confirm_reject_add_missed_and_finish(browser, site):
    base, results = site
    cid = "call_08_manager_out_rude"
    r = results[cid]
    findings = sorted(r.findings, key=lambda f: (f.start, f.rule_id))
    login(browser, base, REVIEWER)
    browser.get(f"{base}/calls/{cid}")
    auto = float(browser.find_element("id", "auto-score").text)
    assert auto == r.score and float(browser.find_element("id", "reviewed-score").text) == auto

    _finding(browser, 0).find_element("name", "reason").send_keys("确有此话")
    submit_and_wait(browser, _finding(browser, 0).find_element("css selector", "button.confirm"))
    assert "v-confirmed" in _finding(browser, 0).get_attribute("class")
    assert "属实" in _finding(browser, 0).find_element("class name", "review").text

    _finding(browser, 1).find_element("name", "reason").send_keys("是客户说的")
    submit_and_wait(browser, _finding(browser, 1).find_element("css selector", "button.reject"))
    review = _finding(browser, 1).find_element("class name", "review").text
    assert "误报" in review and "是客户说的" in review and REVIEWER[0] in review
    score = float(browser.find_element("id", "reviewed-score").text)
    assert score == pytest.approx(r.score + findings[1].deduction)

    select(browser, "rule_id", "GR01")
    browser.find_element("id", "m-start").send_keys("0:01.5")
    browser.find_element("id", "m-note").send_keys("开头没有问候")
    submit_and_wait(browser, browser.find_element("css selector", "#addmissed button.primary"))
    added = browser.find_elements("css selector", "#missed .finding")
    assert len(added) == 1 and "GR01" in added[0].text and "开头没有问候" in added[0].text
    assert browser.find_elements("css selector", "#timeline .badge.added")
    points = load_rulebook().get("GR01").points
    assert float(browser.find_element("id", "reviewed-score").text) == pytest.approx(
        score - points)

    submit_and_wait(browser, browser.find_element("css selector", "#mark-reviewed button"))
    assert REVIEWER[0] in browser.find_element("id", "reviewed-by").text
    trail = [e.text for e in browser.find_elements("css selector", "#events li")]
    assert len(trail) == 4 and "标记复核完成" in trail[0] and "补充问题 GR01" in trail[1]
    assert "判定误报" in trail[2] and "是客户说的" in trail[2] and "判定属实" in trail[3]
    shot(browser, "call")
    browser.get(f"{base}/calls?review=reviewed")
    assert rows(browser) == [cid]
    assert console_errors(browser) == []


def test_agent_appeals_and_reviewer_resolves(browser, site):
    base, results = site
    cid = "call_13_cleaning_refusal_apology"  # A003's
    login(browser, base, AGENT)
    assert set(rows(browser)) == {c for c, r in results.items() if r.agent_id == "A003"}
    browser.get(f"{base}/calls/{cid}")
    assert browser.find_elements("css selector", ".verdict-form") == []  # no verdicts for agents
    assert browser.find_elements("id", "addmissed") == []
    form = _finding(browser, 0).find_element("css selector", ".appeal-form")
    form.find_element("name", "comment").send_keys("我已经说明了原因并道歉")
    submit_and_wait(browser, form.find_element("tag name", "button"))
    appeal = browser.find_element("css selector", "#appeals .appeal")
    assert appeal.get_attribute("data-status") == "open" and "待处理" in appeal.text
    assert "我已经说明了原因并道歉" in appeal.text and "A003" in appeal.text
    browser.get(f"{base}/calls/call_01_repair_leak")  # another agent's call
    assert "找不到" in browser.find_element("id", "error").text
    browser.get_log("browser")  # the expected 404

    login(browser, base, REVIEWER)
    browser.get(f"{base}/appeals?status=open")
    link = browser.find_element("css selector", "#appeal-list tr[data-status=open] a")
    submit_and_wait(browser, link)
    form = browser.find_element("css selector", "#appeals .resolve-form")
    form.find_element("name", "resolution").send_keys("听录音确有道歉")
    submit_and_wait(browser, form.find_element("css selector", "button[value=overturned]"))
    appeal = browser.find_element("css selector", "#appeals .appeal")
    assert appeal.get_attribute("data-status") == "overturned"
    assert "撤销" in appeal.text and REVIEWER[0] in appeal.text and "听录音确有道歉" in appeal.text
    assert "v-rejected" in _finding(browser, 0).get_attribute("class")
    shot(browser, "appeal", at="appeals")
    assert console_errors(browser) == []


def test_sampling_queue(browser, site):
    base, results = site
    login(browser, base, REVIEWER)
    browser.get(f"{base}/queues")
    per_agent = browser.find_element("name", "per_agent")
    per_agent.clear()
    per_agent.send_keys("1")
    browser.execute_script("document.querySelector('#newqueue [name=since]').value='2026-11-20';"
                           "document.querySelector('#newqueue [name=until]').value='2026-11-21';")
    submit_and_wait(browser, browser.find_element("css selector", "#newqueue button"))
    items = browser.find_elements("css selector", "#queue-items tr[data-call]")
    agents = [i.find_elements("tag name", "td")[2].text for i in items]
    assert sorted(agents) == ["A001", "A002", "A003", "A004"]
    for i in items:
        r = results[i.get_attribute("data-call")]
        assert "待复核" in i.text
    shot(browser, "queue")
    submit_and_wait(browser, items[0].find_element("tag name", "a"))
    assert browser.find_element("id", "call-id").text in results


def test_banners_metrics_precision_and_agents(browser, site):
    base, results = site
    login(browser, base, REVIEWER)
    browser.get(f"{base}/calls/{UNCERTAIN}")
    assert "角色不确定" in browser.find_element("id", "roles-banner").text
    assert "找不到录音" in browser.find_element("id", "noaudio").text
    browser.get(f"{base}/calls/{MISDIAL}")
    assert "没有坐席语音" in browser.find_element("id", "unscored-banner").text
    assert browser.find_element("id", "auto-score").text == "—"
    browser.get(f"{base}/calls/call_09_elevator_interruption")
    metrics = browser.find_element("id", "metrics").text
    assert "坐席说话占比" in metrics and "双方重叠占比" in metrics and "%" in metrics
    browser.get(f"{base}/precision")
    table = browser.find_element("id", "precision")
    assert table.find_elements("css selector", "tr[data-rule]")
    shot(browser, "precision")
    browser.get(f"{base}/agents")
    agent_rows = browser.find_elements("css selector", "#agents tbody tr[data-agent]")
    assert {r.get_attribute("data-agent") for r in agent_rows} == {
        r.agent_id for r in results.values()}
    assert "平均应答时间" in browser.find_element("id", "agents").text
    assert console_errors(browser) == []
