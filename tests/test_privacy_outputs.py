"""With redaction on (the defaults), no personal number leaves the store unmasked: every report
file (CSV, JSON, XLSX, HTML, review pages), the e-mail a real SMTP server on loopback receives
(body and attachment), and everything an agent gets from a live workbench — all scanned for the
digits the customer dictated, however they are written. Reviewers may open the original, and
each such view is in the audit trail."""

from __future__ import annotations

import base64
import email
import email.policy
import io
import json
import urllib.request

import pytest
from typer.testing import CliRunner

from callqa.batch.store import DB_NAME
from callqa.cli import app
from callqa.serve import create_app
from callqa.transcript import Entity
from callqa.verdicts import ReviewStore

from privacy_helpers import CALLS, ROOT, WRITTEN, build_batch, leaks, secrets, xlsx_text
from serve_helpers import live_server
from test_report_email import smtp_server  # noqa: F401 - the real SMTP server fixture
from test_serve_api import Client, _login

CALL = CALLS[0]  # the customer dictates 13901234567, the agent reads it back


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("privacy") / "out"
    results = build_batch(out)
    numbers = secrets(results)
    assert numbers == {"13901234567", "13801380000", "110105199003071234",
                       "6222021234567890123"}
    return out, numbers


def test_the_scan_finds_what_the_store_holds(batch) -> None:
    """The store itself keeps the original (results are not an export): the scanner must see
    the number there, or the checks below prove nothing."""
    out, numbers = batch
    assert leaks((out / "results" / f"{CALL}.json").read_text("utf-8"), numbers)


def test_report_files_and_email_are_masked(batch, smtp_server) -> None:  # noqa: F811
    out, numbers = batch
    port, handler = smtp_server()
    res = CliRunner().invoke(app, ["report", "--out", str(out), "--format", "csv,xlsx,html,json",
                                   "--email-to", "qa@example.com", "--smtp-host", "127.0.0.1",
                                   "--smtp-port", str(port)])
    assert res.exit_code == 0, res.output
    files = [p for d in ("report", "review") for p in (out / d).rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".csv", ".json", ".xlsx", ".html"}
    scanned = ""
    for p in files:
        text = xlsx_text(p.read_bytes()) if p.suffix == ".xlsx" else p.read_text("utf-8")
        assert not leaks(text, numbers), p
        scanned += text
    assert "139****4567" in scanned  # masked, not dropped: the sentence still reads
    assert "138****0000" in (out / "report" / "findings.csv").read_text("utf-8")
    (msg,) = handler.messages
    parsed = email.message_from_bytes(msg["content"], policy=email.policy.default)
    parts = list(parsed.walk())
    bodies = [p.get_content() for p in parts if p.get_content_type() in ("text/plain",
                                                                         "text/html")]
    attached = [xlsx_text(p.get_content()) for p in parts if p.get_filename()]
    assert bodies and attached
    for text in bodies + attached:
        assert not leaks(text, numbers)


def test_email_follows_its_own_mask(batch, smtp_server) -> None:  # noqa: F811
    """A policy that masks nothing in the files but numbers in the e-mail: the files show the
    number, the e-mail does not."""
    out, numbers = batch
    config = out.parent / "open-files.yaml"
    config.write_text("privacy:\n  mask:\n    exports: []\n    email: [phone]\n", "utf-8")
    port, handler = smtp_server()
    res = CliRunner().invoke(app, ["report", "--out", str(out), "--format", "json,html",
                                   "--config", str(config), "--report-dir", str(out / "r2"),
                                   "--email-to", "qa@example.com", "--smtp-host", "127.0.0.1",
                                   "--smtp-port", str(port)])
    assert res.exit_code == 0, res.output
    assert leaks((out / "r2" / "findings.json").read_text("utf-8"), numbers)
    assert leaks((out / "r2" / "report.html").read_text("utf-8"), numbers)  # the worst call
    (msg,) = handler.messages
    parsed = email.message_from_bytes(msg["content"], policy=email.policy.default)
    for p in parsed.walk():
        if p.get_content_type() in ("text/plain", "text/html"):
            assert not leaks(p.get_content(), numbers)


def test_malformed_policy_is_exit_2_with_file_and_line(batch) -> None:
    out, _ = batch
    bad = out.parent / "bad.yaml"
    bad.write_text("privacy:\n  mask:\n    exports: [phone, passport]\n", "utf-8")
    res = CliRunner().invoke(app, ["report", "--out", str(out), "--config", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:3: unknown entity type 'passport'" in res.output


@pytest.fixture(scope="module")
def server(batch):
    out, _ = batch
    with ReviewStore.open(out / DB_NAME) as rs:
        rs.add_user("qa", "reviewer", "qa-pw")
        rs.add_user("agent1", "agent", "a-pw", agent_id="A001")
        rs.add_user("dpo", "privacy", "dpo-pw")
    with live_server(create_app(out)) as url:
        yield url


def test_agent_facing_pages_and_api_are_masked(batch, server) -> None:
    out, numbers = batch
    api = Client(server, ("agent1", "a-pw"))
    pages, _ = _login(server, ("agent1", "a-pw"))
    seen = []
    # (q=电话, URL-encoded)
    for path in ("/calls", f"/calls/{CALL}", f"/calls/{WRITTEN}", "/search?q=%E7%94%B5%E8%AF%9D",
                 "/search?q=139"):
        status, text, _ = pages.request("GET", path)
        assert status == 200, path
        seen.append((path, text))
    for path in (f"/api/calls/{CALL}", f"/api/calls/{WRITTEN}",
                 "/api/search?q=%E7%94%B5%E8%AF%9D", "/api/search?q=139",
                 "/api/search?q=4567"):
        status, text, _ = api.request("GET", path)
        assert status == 200, path
        seen.append((path, text))
    for path, text in seen:
        assert not leaks(text, numbers), path
    assert "139****4567" in dict(seen)[f"/calls/{CALL}"]
    # the digits cannot be searched for either: the index holds the masked text
    assert api.get("/api/search?q=90123")["total"] == 0
    status, _, _ = api.request("GET", f"/api/calls/{CALL}?original=1")
    assert status == 403


def test_reviewer_sees_the_original_on_request_and_it_is_audited(batch, server) -> None:
    out, numbers = batch
    qa = Client(server, ("qa", "qa-pw"))
    assert not leaks(str(qa.get(f"/api/calls/{WRITTEN}")), numbers)  # masked by default
    with ReviewStore.open(out / DB_NAME) as rs:
        before = [e for e in rs.events(WRITTEN) if e["action"] == "view_original"]
    original = qa.get(f"/api/calls/{WRITTEN}?original=1")
    assert leaks(str(original), numbers)  # the finding's evidence, unmasked
    pages, _ = _login(server, ("qa", "qa-pw"))
    status, page, _ = pages.request("GET", f"/calls/{CALL}?original=1")
    assert status == 200 and leaks(page, numbers) and 'id="privacy-original"' in page
    with ReviewStore.open(out / DB_NAME) as rs:
        after = [e for e in rs.events(WRITTEN) if e["action"] == "view_original"]
        page_views = [e for e in rs.events(CALL) if e["action"] == "view_original"]
    assert len(after) == len(before) + 1 and after[0]["user"] == "qa"
    assert page_views and page_views[0]["user"] == "qa"


def test_privacy_officer_reads_every_call_masked_opens_originals_and_records_nothing(
        batch, server) -> None:
    """The ``privacy`` role: every call, masked like a reviewer's pages; the original on request
    (audited); the log of who opened originals, which no other role may read; no verdicts."""
    out, numbers = batch
    dpo, qa = Client(server, ("dpo", "dpo-pw")), Client(server, ("qa", "qa-pw"))
    assert {c["call_id"] for c in dpo.get("/api/calls?per_page=200")["calls"]} == \
        {c["call_id"] for c in qa.get("/api/calls?per_page=200")["calls"]}
    assert not leaks(str(dpo.get(f"/api/calls/{WRITTEN}")), numbers)
    qa.get(f"/api/calls/{CALL}?original=1")
    assert leaks(str(dpo.get(f"/api/calls/{WRITTEN}?original=1")), numbers)
    views = dpo.get("/api/privacy/views")
    assert [(v["user"], v["call_id"]) for v in views[:2]] == [("dpo", WRITTEN), ("qa", CALL)]
    pages, _ = _login(server, ("dpo", "dpo-pw"))
    status, page, _ = pages.request("GET", "/privacy")
    assert status == 200 and 'href="/privacy"' in page and page.count("<tr><td>") >= 2
    status, page, _ = pages.request("GET", f"/calls/{WRITTEN}")
    assert status == 200 and not leaks(page, numbers) and "查看原文（个人信息）" in page  # the trail
    # others may not read the log; the officer records no verdict
    for who in (("qa", "qa-pw"), ("agent1", "a-pw")):
        assert Client(server, who).request("GET", "/api/privacy/views")[0] == 403
    finding = dpo.get(f"/api/calls/{WRITTEN}")["findings"][0]["finding"]
    status, _, _ = dpo.request("POST", f"/api/calls/{WRITTEN}/verdicts", body={
        "rule_id": finding["rule_id"], "start": finding["start"], "verdict": "confirmed"})
    assert status == 403
    with ReviewStore.open(out / DB_NAME) as rs:
        assert not [r for r in rs.reviews(WRITTEN) if r.reviewer == "dpo"]


def test_redact_audio_copy_replaces_the_spans_and_the_page_links_it(batch) -> None:
    """``--redact-audio``: the real recording of call_17 with the two spans where the number was
    said replaced by a 1 kHz tone on both channels, everything else sample for sample the
    recording as decoded; the review page plays the copy, not the original."""
    import numpy as np
    import soundfile as sf

    from callqa.asr.audio import SAMPLE_RATE, load_audio
    from callqa.privacy.audio import spans_of

    out, _ = batch
    res = CliRunner().invoke(app, ["report", "--out", str(out), "--format", "html",
                                   "--report-dir", str(out / "r3"), "--redact-audio"])
    assert res.exit_code == 0, res.output
    copy = out / "redacted" / f"{CALL}.wav"
    data, rate = sf.read(str(copy), always_2d=True)
    original = np.stack(load_audio(ROOT / "samples" / f"{CALL}.flac").channels, axis=1)
    assert rate == SAMPLE_RATE and data.shape == original.shape
    result = json.loads((out / "results" / f"{CALL}.json").read_text("utf-8"))
    spans = spans_of([Entity.from_dict(e) for e in result["entities"]], {"phone"})
    assert len(spans) == 2
    inside = np.zeros(len(data), bool)
    for a, b in spans:
        inside[int(a * rate):int(b * rate)] = True
        seg = data[int(a * rate) + 10:int(b * rate) - 10, 0]
        spectrum = np.abs(np.fft.rfft(seg))
        assert abs(np.argmax(spectrum) * rate / len(seg) - 1000) < 5  # the tone, not speech
    assert np.max(np.abs(data[~inside] - original[~inside])) < 1e-3  # 16-bit rounding only
    page = (out / "review" / f"{CALL}.html").read_text("utf-8")
    assert "redacted/" in page and f"{CALL}.flac" not in page


def test_workbench_refuses_a_malformed_policy(tmp_path) -> None:
    out = tmp_path / "out"
    build_batch(out)
    (out / "callqa.yaml").write_text("privacy:\n  mask:\n    search: phone\n", "utf-8")
    res = CliRunner().invoke(app, ["serve", "--out", str(out)])
    assert res.exit_code == 2
    assert f"{out / 'callqa.yaml'}:3: expected a list of entity types" in res.output


def _get_bytes(server: str, path: str, user: tuple[str, str]) -> tuple[bytes, str]:
    token = base64.b64encode(":".join(user).encode()).decode()
    req = urllib.request.Request(server + path, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read(), r.headers["content-type"]


def test_agents_hear_the_redacted_recording(batch, server) -> None:
    """The workbench's player: an agent gets the recording with the number's spans replaced by
    the tone (written once under OUT/redacted/), a reviewer the original."""
    import numpy as np
    import soundfile as sf

    from callqa.privacy.audio import spans_of

    out, _ = batch
    body, ctype = _get_bytes(server, f"/calls/{CALL}/audio", ("agent1", "a-pw"))
    assert ctype == "audio/wav"
    data, rate = sf.read(io.BytesIO(body), always_2d=True)
    result = json.loads((out / "results" / f"{CALL}.json").read_text("utf-8"))
    for a, b in spans_of([Entity.from_dict(e) for e in result["entities"]], {"phone"}):
        seg = data[int(a * rate) + 10:int(b * rate) - 10, 1]
        assert abs(np.argmax(np.abs(np.fft.rfft(seg))) * rate / len(seg) - 1000) < 5
    assert (out / "redacted" / f"{CALL}.agent_view.wav").is_file()
    body, ctype = _get_bytes(server, f"/calls/{CALL}/audio", ("qa", "qa-pw"))
    assert ctype != "audio/wav" and body == (ROOT / "samples" / f"{CALL}.flac").read_bytes()


def test_what_people_wrote_about_a_call_is_masked_too(batch, server) -> None:
    """A review keeps the finding's evidence (with the number) and reviewers and agents type
    numbers into reasons and appeals: the agent's call page and the report's review table show
    them masked."""
    out, numbers = batch
    qa, agent = Client(server, ("qa", "qa-pw")), Client(server, ("agent1", "a-pw"))
    finding = next(f["finding"] for f in agent.get(f"/api/calls/{WRITTEN}")["findings"]
                   if f["finding"]["rule_id"] == "FB01")
    qa.json("POST", f"/api/calls/{WRITTEN}/verdicts",
            {"rule_id": "FB01", "start": finding["start"], "verdict": "confirmed",
             "reason": "已打13801380000核实"})
    agent.json("POST", f"/api/calls/{WRITTEN}/appeals",
               {"rule_id": "FB01", "start": finding["start"],
                "comment": "客户要的就是手机13801380000"})
    with ReviewStore.open(out / DB_NAME) as rs:  # stored as written and copied
        assert leaks(str(rs.reviews(WRITTEN)), numbers)
    status, page, _ = _login(server, ("agent1", "a-pw"))[0].request("GET", f"/calls/{WRITTEN}")
    assert status == 200
    _, appeals_page, _ = _login(server, ("agent1", "a-pw"))[0].request("GET", "/appeals")
    _, qa_page, _ = _login(server, ("qa", "qa-pw"))[0].request("GET", f"/calls/{WRITTEN}")
    assert not leaks(qa_page, numbers)  # the reviewer's page, its 操作记录 included
    for text in (page, appeals_page, str(agent.get(f"/api/calls/{WRITTEN}")),
                 str(agent.get("/api/appeals")), str(qa.get(f"/api/calls/{WRITTEN}")),
                 str(qa.get("/api/appeals"))):
        assert not leaks(text, numbers)
    assert "客户要的就是手机138****0000" in appeals_page
    assert "138****0000" in page
    res = CliRunner().invoke(app, ["report", "--out", str(out), "--format", "csv",
                                   "--report-dir", str(out / "r4")])
    assert res.exit_code == 0, res.output
    reviews = (out / "r4" / "reviews.csv").read_text("utf-8")
    assert "FB01" in reviews and not leaks(reviews, numbers)
