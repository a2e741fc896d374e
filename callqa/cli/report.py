"""``callqa report``: the per-agent report of a batch output directory, as CSV/JSON/XLSX/HTML
files, optionally e-mailed (HTML body, XLSX attached).

Exit codes: 0 report written (and e-mailed when asked), 2 usage or configuration error (bad
option, no batch store in ``--out``), 3 report written but the e-mail could not be sent.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import List, Optional

import typer

from callqa.batch.store import DB_NAME, DEFAULT_OUT_DIR, safe_name
from callqa.cli import app, fail
from callqa.errors import CallqaError
from callqa.privacy.policy import PrivacyPolicy, policy_for
from callqa.privacy.audio import redact_recording, spans_of
from callqa.privacy.redact import redact_for, redact_text
from callqa.privacy.retention import REDACTED_DIR
from callqa.report.email import ENV_CAFILE, ENV_PASSWORD, ENV_USER

__all__ = ["parse_since", "report"]

EXIT_EMAIL_FAILED = 3
#: Recordings named one per line on stderr when not found; the rest are counted.
MAX_MISSING_LISTED = 10


def parse_since(value: str | None, today: date | None = None) -> date | None:
    """``2026-11-21``, ``today``, ``yesterday`` or ``-N`` (N days ago) → a date."""
    if value is None:
        return None
    today = today or date.today()
    v = value.strip().lower()
    if v == "today":
        return today
    if v == "yesterday":
        return today - timedelta(days=1)
    if v.startswith("-") and v[1:].isdigit():
        return today - timedelta(days=int(v[1:]))
    return date.fromisoformat(v)  # ValueError for anything else


def _warn_missing(missing: list) -> None:
    """Say which review pages have no player because the recording is gone."""
    for s in missing[:MAX_MISSING_LISTED]:
        typer.echo(f"callqa report: warning: recording not found: {s.path} (call {s.call_id}); "
                   f"its review page has no player", err=True)
    if len(missing) > MAX_MISSING_LISTED:
        typer.echo(f"callqa report: warning: {len(missing) - MAX_MISSING_LISTED} more "
                   f"recordings not found", err=True)


def _split(values: Optional[List[str]]) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _masked(results: list, policy: PrivacyPolicy, place: str) -> list:
    """The stored results with the personal data ``policy`` masks at ``place``."""
    return [dataclasses.replace(s, result=redact_for(s.result, policy, place)) for s in results]


def _masked_rows(rows: list[dict], results: list, policy: PrivacyPolicy, place: str) -> list:
    """Review rows with the personal data masked in what they quote (the finding's evidence) and
    what reviewers typed."""
    types = policy.masked(place)
    if not types:
        return rows
    said = {s.call_id: [(e.type, e.text) for e in s.result.entities or ()] for s in results}
    return [{k: redact_text(v, types, policy.style, said.get(row.get("call_id"), ()))
             if isinstance(v, str) else v for k, v in row.items()} for row in rows]


def _redacted_audio(exports: list, results: list, policy: PrivacyPolicy, out: Path) -> list:
    """Point each call's review page at a redacted copy of its recording (written when the
    call has masked personal data); a recording that cannot be redacted is not linked."""
    types = policy.masked("exports")
    shown = []
    for masked, s in zip(exports, results):
        spans = spans_of(s.result.entities or (), types)
        if s.audio is not None and spans:
            dst = out / REDACTED_DIR / f"{safe_name(s.call_id)}.wav"
            try:
                masked = dataclasses.replace(masked, audio=redact_recording(
                    s.audio, spans, dst, policy.redact_audio).resolve())
            except CallqaError as exc:
                typer.echo(f"callqa report: warning: {exc}: no redacted copy, not linked",
                           err=True)
                masked = dataclasses.replace(masked, audio=None)
        shown.append(masked)
    return shown


def _usage(message: str) -> typer.Exit:
    typer.echo(f"callqa: error: {message}", err=True)
    return typer.Exit(2)


@app.command("report", epilog=(
    "Exit codes: 0 report written (and e-mailed when asked); 2 usage or configuration error "
    "(nothing written); 3 report written but the e-mail failed (the error names the SMTP "
    f"server). SMTP credentials only from the environment: {ENV_USER} / {ENV_PASSWORD}; "
    f"extra CA certificates for STARTTLS: --smtp-cafile or {ENV_CAFILE}."))
def report(
    out: Path = typer.Option(DEFAULT_OUT_DIR, "--out", "-o",
                             help="Batch output directory (the one given to callqa batch)."),
    since: Optional[str] = typer.Option(
        None, "--since", metavar="DATE",
        help="Only calls started on or after this day: YYYY-MM-DD, today, yesterday or -N "
             "(N days ago)."),
    fmt: str = typer.Option("csv,xlsx,html,json", "--format", "-f", metavar="FORMATS",
                            help="Comma-separated formats to write: csv, json, xlsx, html."),
    report_dir: Optional[Path] = typer.Option(
        None, "--report-dir", help="Where to write the report files (default: OUT/report)."),
    worst: int = typer.Option(3, "--worst", min=0, help="Lowest-scoring calls listed per agent."),
    email_to: Optional[List[str]] = typer.Option(
        None, "--email-to", metavar="ADDR",
        help="E-mail the report to ADDR (repeat, or comma-separated). The HTML report is the "
             "body, the XLSX is attached."),
    email_from: Optional[str] = typer.Option(None, "--email-from",
                                             help="Sender address (default: callqa@HOSTNAME)."),
    subject: Optional[str] = typer.Option(
        None, "--subject", help="Subject and report title (default: callqa 质检日报 DAY)."),
    smtp_host: str = typer.Option("localhost", "--smtp-host", help="SMTP server."),
    smtp_port: int = typer.Option(25, "--smtp-port", help="SMTP port."),
    starttls: bool = typer.Option(False, "--starttls", help="Upgrade the SMTP connection with "
                                                            "STARTTLS (certificate verified)."),
    smtp_cafile: Optional[Path] = typer.Option(
        None, "--smtp-cafile", help=f"PEM CA file to trust for STARTTLS (or env {ENV_CAFILE})."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="Configuration whose privacy: section says which personal data "
                               "is masked in the files and the e-mail (default: OUT/callqa.yaml, "
                               "else phone, ID and card numbers masked)."),
    redact_audio: bool = typer.Option(
        False, "--redact-audio", help="Write OUT/redacted/CALL.wav, the recording with the "
                                      "masked personal data replaced by a tone (or silence, "
                                      "per the policy), and link the review pages to it."),
) -> None:
    """Per-agent report of a batch: agents ranked by mean score, pass rate, violations per
    category and rule, rule hit rates and reviewer precision, conversation metrics (talk time,
    silence, overtalk, response time), worst calls, every call (unscored ones with their
    reason), trend by day, failed files, reviews.

    Writes OUT/report/ (one CSV/JSON per table, report.xlsx, report.html) and the review
    pages OUT/review/ (recordings found from any directory; a missing one is warned about),
    and prints the files written on stdout."""
    # imported here, not with the module: every other command would pay for pandas & co.
    from callqa.batch.store import Store
    from callqa.report.email import (EmailError, SmtpSettings, build_message, default_sender,
                                     send_message, text_summary)
    from callqa.report.write import FORMATS, write_report
    from callqa.verdicts import review_rows, rule_precision

    formats = [f.lower() for f in _split([fmt])]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise _usage(f"--format: unknown format {', '.join(unknown) or '(none)'} "
                     f"(choose from {', '.join(FORMATS)})")
    try:
        since_day = parse_since(since)
    except ValueError:
        raise _usage(f"--since: not a date: {since!r} (YYYY-MM-DD, today, yesterday, -N)") \
            from None
    recipients = _split(email_to)
    if recipients:
        formats += [f for f in ("html", "xlsx") if f not in formats]
    if not (out / DB_NAME).is_file():
        raise _usage(f"{out}: no batch store here ({DB_NAME} missing); run callqa batch first "
                     f"or give --out")
    try:
        policy = policy_for(out, config)
        with Store.open(out) as store:
            results = store.results(since=since_day)
            failures = store.failures()
        db = out / DB_NAME
        rows = [r.to_dict() for r in review_rows(db, since=since_day)]
        common = dict(out_dir=out, since=since_day, worst_n=worst, title=subject,
                      precision=rule_precision(db, since=since_day))
        exports = _masked(results, policy, "exports")
        if redact_audio and "html" in formats:
            exports = _redacted_audio(exports, results, policy, out)
        files = write_report(exports, failures, reviews=_masked_rows(rows, results, policy,
                                                                     "exports"),
                             report_dir=report_dir or out / "report", formats=formats, **common)
        mail, mail_dir = files, None
        if recipients and policy.masked("email") != policy.masked("exports"):
            mail_dir = Path(tempfile.mkdtemp(prefix="callqa-mail-"))
            mail = write_report(_masked(results, policy, "email"), failures, report_dir=mail_dir,
                                reviews=_masked_rows(rows, results, policy, "email"),
                                formats=["html", "xlsx"], review_pages=False, **common)
    except CallqaError as exc:
        raise fail(exc) from None
    except OSError as exc:
        where = exc.filename or report_dir or out / "report"
        typer.echo(f"callqa: error: {where}: cannot write report: {exc.strerror or exc}",
                   err=True)
        raise typer.Exit(2) from None

    _warn_missing(files.missing_audio)
    for path in files.paths:
        typer.echo(str(path))
    t = files.tables
    unscored = int((t.calls["unscored"].fillna("") != "").sum()) if len(t.calls) else 0
    typer.echo(f"callqa report: {len(t.calls)} calls"
               + (f" ({unscored} unscored)" if unscored else "")
               + f", {len(t.agents)} agents, {len(t.failures)} failed files → "
                 f"{files.html_path or files.paths[0].parent}", err=True)
    if len(t.calls) == unscored:
        typer.echo("callqa report: warning: no scored calls"
                   + (f" since {since_day}" if since_day else ""), err=True)

    if recipients:
        settings = SmtpSettings.from_env(
            host=smtp_host, port=smtp_port, starttls=starttls,
            cafile=str(smtp_cafile) if smtp_cafile else None)
        if settings.user and not settings.starttls:
            typer.echo(f"callqa report: warning: sending {ENV_USER} credentials without "
                       f"--starttls", err=True)
        sender = email_from or default_sender()
        day = t.days[-1] if t.days else date.today().isoformat()
        attachment = mail.xlsx_path
        msg = build_message(subject=mail.title, sender=sender, to=recipients,
                            html=mail.html or "", text=text_summary(mail),
                            attachment=attachment, attachment_name=f"callqa-report-{day}.xlsx")
        if mail_dir is not None:  # the e-mail's own rendering is in the message now
            shutil.rmtree(mail_dir, ignore_errors=True)
        try:
            send_message(msg, settings, sender=sender, to=recipients)
        except EmailError as exc:
            typer.echo(f"callqa: error: e-mail not sent: {exc} (the report files are in "
                       f"{files.html_path.parent})", err=True)
            raise typer.Exit(EXIT_EMAIL_FAILED) from None
        typer.echo(f"callqa report: e-mailed to {', '.join(recipients)} via {settings.where}",
                   err=True)
