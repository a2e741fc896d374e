"""``callqa report --email-to`` against a real SMTP server (aiosmtpd) on loopback: plain SMTP,
STARTTLS with a self-signed certificate trusted through --smtp-cafile / CALLQA_SMTP_CAFILE,
AUTH with credentials from the environment, and failures (exit 3, report kept on disk)."""

from __future__ import annotations

import email
import io
import shutil
import socket
import ssl
import subprocess
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from openpyxl import load_workbook
from typer.testing import CliRunner

from callqa.cli import app
from test_report_data import make_store

runner = CliRunner()
USER, PASSWORD = "qa-bot", "s3cret-密码"


class Collector:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                              "content": envelope.original_content or envelope.content,
                              "tls": session.ssl is not None,
                              "login": getattr(session, "login_data", None)})
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp_server():
    """Start servers on loopback; yields a factory ``start(**smtp_kwargs) -> (port, handler)``."""
    started = []

    def start(**kwargs):
        handler = Collector()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port, handler

    yield start
    for c in started:
        c.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1/localhost (``openssl req``; the ``cryptography``
    package is not installed in the dev venv)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not found")
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


def server_tls_context(cert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*map(str, cert))
    return ctx


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)   # handled=False: the server replies 535


@pytest.fixture()
def out(tmp_path):
    return make_store(tmp_path / "out")


@pytest.fixture(autouse=True)
def no_smtp_env(monkeypatch):
    for name in ("CALLQA_SMTP_USER", "CALLQA_SMTP_PASSWORD", "CALLQA_SMTP_CAFILE"):
        monkeypatch.delenv(name, raising=False)


def report(out, port, *extra, to=("qa@example.com", "lead@example.com")):
    args = ["report", "--out", str(out), "--smtp-host", "127.0.0.1", "--smtp-port", str(port),
            "--email-from", "callqa@example.com"]
    for addr in to:
        args += ["--email-to", addr]
    return runner.invoke(app, args + list(extra))


def check_message(received, to=("qa@example.com", "lead@example.com")):
    assert received["mail_from"] == "callqa@example.com"
    assert received["rcpt_tos"] == list(to)
    msg = email.message_from_bytes(received["content"], policy=policy.default)
    assert msg["Subject"] == "callqa 质检日报 2026-11-20 至 2026-11-21"
    assert msg["To"] == ", ".join(to)
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "A1" in html and "B7" in html and "（未知坐席）/unknown" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "A1: 3 通, 平均分 81.7" in text
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "callqa-report-2026-11-21.xlsx"
    assert att.get_content_type() == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = load_workbook(io.BytesIO(att.get_content()))
    assert wb.sheetnames[:4] == ["坐席汇总", "问题类别", "坐席规则", "规则命中率"]
    assert wb["坐席汇总"]["A2"].value == "A1"
    return msg


def test_email_plain_smtp(out, smtp_server):
    port, handler = smtp_server()
    r = report(out, port, "--format", "csv")     # e-mail adds html + xlsx to the formats
    assert r.exit_code == 0, r.output
    [received] = handler.messages
    check_message(received)
    assert not received["tls"]
    assert (out / "report" / "report.html").is_file() and (out / "report" / "agents.csv").is_file()
    assert f"e-mailed to qa@example.com, lead@example.com via 127.0.0.1:{port}" in r.stderr


def test_email_comma_separated_recipients(out, smtp_server):
    port, handler = smtp_server()
    r = report(out, port, to=["a@example.com,b@example.com"])
    assert r.exit_code == 0, r.output
    assert handler.messages[0]["rcpt_tos"] == ["a@example.com", "b@example.com"]


def test_email_starttls_with_cafile_option(out, smtp_server, cert):
    port, handler = smtp_server(tls_context=server_tls_context(cert), require_starttls=True)
    r = report(out, port, "--starttls", "--smtp-cafile", str(cert[0]))
    assert r.exit_code == 0, r.output
    [received] = handler.messages
    assert received["tls"]
    check_message(received)


def test_email_starttls_and_auth_from_env(out, smtp_server, cert, monkeypatch):
    port, handler = smtp_server(tls_context=server_tls_context(cert), require_starttls=True,
                                authenticator=authenticator, auth_required=True)
    monkeypatch.setenv("CALLQA_SMTP_CAFILE", str(cert[0]))
    monkeypatch.setenv("CALLQA_SMTP_USER", USER)
    monkeypatch.setenv("CALLQA_SMTP_PASSWORD", PASSWORD)
    r = report(out, port, "--starttls")
    assert r.exit_code == 0, r.output
    [received] = handler.messages
    assert received["tls"]
    check_message(received)
    assert PASSWORD not in r.output


def test_email_wrong_password_exits_3(out, smtp_server, cert, monkeypatch):
    port, handler = smtp_server(tls_context=server_tls_context(cert), require_starttls=True,
                                authenticator=authenticator, auth_required=True)
    monkeypatch.setenv("CALLQA_SMTP_CAFILE", str(cert[0]))
    monkeypatch.setenv("CALLQA_SMTP_USER", USER)
    monkeypatch.setenv("CALLQA_SMTP_PASSWORD", "Xq-bad-pw-91")
    r = report(out, port, "--starttls")
    assert r.exit_code == 3
    assert f"127.0.0.1:{port}" in r.stderr and "authentication failed" in r.stderr
    assert "Xq-bad-pw-91" not in r.output
    assert handler.messages == []
    assert (out / "report" / "report.xlsx").is_file()


def test_email_untrusted_certificate_exits_3(out, smtp_server, cert):
    port, handler = smtp_server(tls_context=server_tls_context(cert), require_starttls=True)
    r = report(out, port, "--starttls")            # self-signed, no CA file: must not send
    assert r.exit_code == 3
    assert f"127.0.0.1:{port}" in r.stderr and "TLS failed" in r.stderr
    assert handler.messages == []


def test_email_required_starttls_not_used_exits_3(out, smtp_server, cert):
    port, handler = smtp_server(tls_context=server_tls_context(cert), require_starttls=True)
    r = report(out, port)
    assert r.exit_code == 3 and f"127.0.0.1:{port}" in r.stderr
    assert handler.messages == []


def test_email_connection_refused_exits_3_and_keeps_files(out):
    port = free_port()                              # nothing listens there
    r = report(out, port)
    assert r.exit_code == 3
    assert f"e-mail not sent: 127.0.0.1:{port}: cannot connect" in r.stderr
    report_dir = out / "report"
    for name in ("report.html", "report.xlsx", "agents.csv", "agents.json"):
        assert (report_dir / name).is_file(), name
    assert str(report_dir / "report.html") in r.stdout.split()


def test_email_bad_cafile_exits_3(out, tmp_path):
    r = report(out, free_port(), "--starttls", "--smtp-cafile", str(tmp_path / "missing.pem"))
    assert r.exit_code == 3 and "cannot load CA file" in r.stderr
    assert (out / "report" / "report.html").is_file()


def test_build_message_headers_are_utf8():
    from callqa.report.email import build_message
    msg = build_message(subject="callqa 质检日报 2026-11-21", sender="a@example.com",
                        to=["b@example.com"], html="<p>坐席 A1</p>", text="坐席 A1")
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw.lower()                       # encoded-word subject
    back = email.message_from_bytes(raw, policy=policy.default)
    assert back["Subject"] == "callqa 质检日报 2026-11-21"
