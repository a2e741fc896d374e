"""E-mail the report: the HTML report as the body, the XLSX attached, sent over SMTP.

Credentials come only from the environment (``CALLQA_SMTP_USER`` / ``CALLQA_SMTP_PASSWORD``),
never from the command line, so they do not end up in shell history, ``ps`` or crontabs.
``CALLQA_SMTP_CAFILE`` (or ``SmtpSettings.cafile``) names extra CA certificates to trust for
STARTTLS, e.g. an internal mail relay's own CA.
"""

from __future__ import annotations

import base64
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from callqa.errors import CallqaError

if TYPE_CHECKING:
    from callqa.report.write import ReportFiles

__all__ = ["EmailError", "SmtpSettings", "build_message", "send_message", "text_summary",
           "ENV_USER", "ENV_PASSWORD", "ENV_CAFILE", "XLSX_MIME"]

ENV_USER = "CALLQA_SMTP_USER"
ENV_PASSWORD = "CALLQA_SMTP_PASSWORD"
ENV_CAFILE = "CALLQA_SMTP_CAFILE"
XLSX_MIME = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


class EmailError(CallqaError):
    """The report was written but could not be e-mailed (``source`` is ``host:port``)."""

    exit_code = 3


@dataclass
class SmtpSettings:
    """Where and how to send.

    Attributes:
        host, port: the SMTP server (default ``localhost:25``).
        starttls: upgrade the connection with STARTTLS before authenticating and sending.
        cafile: CA certificates (PEM) to trust in addition to the system ones.
        user, password: SMTP AUTH credentials; filled from the environment by
            :meth:`from_env`, never from options.
        timeout_s: connect / command timeout.
    """

    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    cafile: str | None = None
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs) -> "SmtpSettings":
        env = os.environ if env is None else env
        settings = cls(**kwargs)
        settings.user = env.get(ENV_USER) or None
        settings.password = env.get(ENV_PASSWORD)
        if settings.cafile is None:
            settings.cafile = env.get(ENV_CAFILE) or None
        return settings

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def text_summary(files: "ReportFiles") -> str:
    """The plain-text part of the e-mail (for clients that do not show HTML): one line per
    agent in rank order; unscored calls counted with the agent, never averaged in."""
    from callqa.report.files import records  # pandas: imported only when a report is sent

    t = files.tables
    lines = [files.title, ""]
    if not len(t.calls):
        lines.append("所选范围内没有通话。")
    for a in records(t.agents):
        rank = f"{a['rank']}. " if a["rank"] is not None else ""
        if a["calls"]:
            line = (f"{rank}{a['agent_id']}: {a['calls']} 通, 平均分 {a['mean_score']:.1f}, "
                    f"最低分 {a['min_score']:g}, 合格率 {a['pass_rate']:.1%}")
        else:
            line = f"{a['agent_id']}: 无已评分通话"
        if a["unscored"]:
            line += f", 未评分 {int(a['unscored'])} 通"
        lines.append(line)
    unscored = t.calls[t.calls["unscored"].fillna("") != ""] if len(t.calls) else t.calls
    for c in unscored.to_dict(orient="records"):
        lines.append(f"  未评分 {c['call_id']}（{c['agent_id']}）：{c['unscored']}")
    if len(t.failures):
        lines.append(f"处理失败: {len(t.failures)} 个文件")
    lines += ["", "完整报告见 HTML 正文与所附 XLSX。"]
    return "\n".join(lines)


def default_sender() -> str:
    return f"callqa@{socket.getfqdn() or 'localhost'}"


def build_message(*, subject: str, sender: str, to: Sequence[str], html: str, text: str,
                  attachment: Path | None = None,
                  attachment_name: str | None = None) -> EmailMessage:
    """A multipart message: plain-text summary and the HTML report as alternatives, the XLSX
    attached. Non-ASCII subject and body are encoded by the standard library (UTF-8)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    if attachment is not None:
        msg.add_attachment(Path(attachment).read_bytes(), maintype=XLSX_MIME[0],
                           subtype=XLSX_MIME[1],
                           filename=attachment_name or Path(attachment).name)
    return msg


def send_message(msg: EmailMessage, settings: SmtpSettings, *, sender: str,
                 to: Sequence[str]) -> None:
    """Deliver ``msg``; any failure is raised as :class:`EmailError` naming the server."""
    where = settings.where
    if settings.user and settings.password is None:
        raise EmailError(where, f"{ENV_USER} is set but {ENV_PASSWORD} is not")
    context = None
    if settings.starttls:
        try:
            context = ssl.create_default_context(cafile=settings.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise EmailError(where, f"cannot load CA file {settings.cafile}: "
                                    f"{getattr(exc, 'strerror', None) or exc}") from exc
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
            smtp.ehlo()
            if settings.starttls:
                if not smtp.has_extn("starttls"):
                    raise EmailError(where, "server does not offer STARTTLS")
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.user:
                _login(smtp, settings.user, settings.password or "")
            refused = smtp.send_message(msg, from_addr=sender, to_addrs=list(to))
        if refused:
            bad = ", ".join(f"{addr} ({code} {reply.decode(errors='replace')})"
                            for addr, (code, reply) in refused.items())
            raise EmailError(where, f"some recipients were refused: {bad}")
    except EmailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailError(where, f"SMTP authentication failed for user {settings.user!r}: "
                                f"{exc.smtp_code} {_reply(exc.smtp_error)}") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise EmailError(where, f"not supported by the server: {exc}") from exc
    except smtplib.SMTPResponseException as exc:
        raise EmailError(where, f"SMTP error {exc.smtp_code} {_reply(exc.smtp_error)}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise EmailError(where, f"all recipients were refused: {', '.join(exc.recipients)}") \
            from exc
    except smtplib.SMTPException as exc:
        raise EmailError(where, f"SMTP error: {exc}") from exc
    except ssl.SSLError as exc:
        raise EmailError(where, f"TLS failed: {exc.reason or exc}") from exc
    except (OSError, ValueError) as exc:  # refused, unreachable, DNS, timeout, bad cafile
        raise EmailError(where, f"cannot connect or send: {exc.strerror or exc}"
                         if isinstance(exc, OSError) else str(exc)) from exc


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """SMTP AUTH. smtplib encodes credentials as ASCII; for non-ASCII ones use AUTH PLAIN with
    UTF-8 (RFC 4616) ourselves."""
    if (user + password).isascii():
        smtp.login(user, password)
        return
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise EmailError(f"{smtp._host}:{smtp.sock.getpeername()[1] if smtp.sock else '?'}",
                         "non-ASCII credentials need AUTH PLAIN, which the server does not offer")
    token = base64.b64encode(f"\0{user}\0{password}".encode("utf-8")).decode("ascii")
    code, reply = smtp.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _reply(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
