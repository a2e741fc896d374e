"""deploy/callqa-nightly end to end: one day's folder (a short sample call and a broken file)
through the real model, the report e-mailed to a real SMTP server (aiosmtpd) on loopback with the
credentials from the secrets file; the exit codes cron and systemd see; the log file."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from serve_helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy" / "callqa-nightly"
SAMPLE = ROOT / "samples" / "call_08_manager_out_rude.flac"  # the shortest sample (40 s)
DAY = "2026-11-21"
USER, PASSWORD = "qa-bot", "夜间-s3cret"


class Collector:
    def __init__(self):
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"rcpt_tos": list(envelope.rcpt_tos),
                              "content": envelope.original_content or envelope.content,
                              "authenticated": session.authenticated,
                              "login": getattr(session.auth_data, "login", None)})
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture()
def smtp():
    handler = Collector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=authenticator, auth_required=True)
    controller.start()
    yield port, handler
    controller.stop()


def setup(tmp_path: Path, smtp_port: int) -> tuple[Path, Path]:
    """Recordings of one day, the settings file and the secrets file as the README says."""
    day = tmp_path / "recordings" / DAY
    day.mkdir(parents=True)
    shutil.copy(SAMPLE, day / "A001_0001.flac")
    (day / "A002_0002.wav").write_bytes(b"RIFF-but-not-audio" * 10)  # one call fails
    secrets = tmp_path / "smtp.secrets"
    secrets.write_text(f"CALLQA_SMTP_USER={USER}\nCALLQA_SMTP_PASSWORD='{PASSWORD}'\n",
                       encoding="utf-8")
    secrets.chmod(0o600)
    conf = tmp_path / "nightly.conf"
    conf.write_text("\n".join([
        f"RECORDINGS_ROOT={tmp_path / 'recordings'}",
        f"OUT={tmp_path / 'out'}",
        f"CALLQA={Path(sys.executable).parent / 'callqa'}",
        "WORKERS=1",
        "EMAIL_TO=qa@example.com",
        "SMTP_HOST=127.0.0.1",
        f"SMTP_PORT={smtp_port}",
        "STARTTLS=no",
        f"SMTP_SECRETS={secrets}",
        f"LOG_DIR={tmp_path / 'logs'}",
    ]) + "\n", encoding="utf-8")
    return conf, tmp_path / "logs" / f"nightly-{DAY}.log"


def run(conf: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLQA_SMTP")}
    return subprocess.run([str(SCRIPT), *args], env={**env, "CALLQA_NIGHTLY_CONF": str(conf)},
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_nightly_scores_the_day_and_mails_the_report_even_when_a_call_fails(tmp_path, smtp):
    port, handler = smtp
    conf, log = setup(tmp_path, port)

    res = run(conf, DAY)
    text = log.read_text(encoding="utf-8")
    # one call failed: exit 1, and the report still went out, authenticated from the secrets
    assert res.returncode == 1, text
    assert "batch exit 1" in text and "report exit 0" in text
    assert "A002_0002.wav" in text  # the failed file is named in the log
    assert len(handler.messages) == 1
    sent = handler.messages[0]
    assert sent["rcpt_tos"] == ["qa@example.com"]
    assert sent["authenticated"] and sent["login"] == USER.encode()
    msg = email.message_from_bytes(sent["content"], policy=policy.default)
    html = msg.get_body(("html",)).get_content()
    assert "A001" in html and "A002_0002" in html  # the scored call's agent; the failed file
    assert (tmp_path / "out" / "report" / "report.html").is_file()

    # the SMTP server refuses these credentials: exit 3, the report is on disk all the same
    (tmp_path / "smtp.secrets").write_text("CALLQA_SMTP_USER=qa-bot\n"
                                           "CALLQA_SMTP_PASSWORD=wrong\n", encoding="utf-8")
    res = run(conf, DAY)
    assert res.returncode == 3, log.read_text(encoding="utf-8")
    assert len(handler.messages) == 1
    assert "report exit 3" in log.read_text(encoding="utf-8")


def test_nightly_configuration_errors_exit_2(tmp_path, smtp):
    port, handler = smtp
    conf, log = setup(tmp_path, port)
    res = run(tmp_path / "missing.conf")
    assert res.returncode == 2 and "missing.conf" in res.stderr

    conf.write_text(conf.read_text("utf-8").replace(f"SMTP_SECRETS={tmp_path}/smtp.secrets",
                                                    f"SMTP_SECRETS={tmp_path}/nope"), "utf-8")
    res = run(conf, DAY)
    assert res.returncode == 2
    assert "nope: cannot read the SMTP secrets file" in log.read_text(encoding="utf-8")

    conf.write_text("OUT=/tmp/x\n", encoding="utf-8")
    res = run(conf, DAY)
    assert res.returncode == 2 and "RECORDINGS_ROOT" in res.stderr
    assert handler.messages == []


def test_nightly_a_day_without_recordings_still_reports(tmp_path, smtp):
    """A holiday: no folder for the day. The report (of nothing new) still goes out."""
    port, handler = smtp
    conf, log = setup(tmp_path, port)
    from serve_helpers import build_store

    build_store(tmp_path / "out")
    res = run(conf, "2026-11-23")
    day_log = tmp_path / "logs" / "nightly-2026-11-23.log"
    assert res.returncode == 0, day_log.read_text("utf-8")
    assert "no recordings for 2026-11-23" in day_log.read_text("utf-8")
    assert len(handler.messages) == 1
