"""``callqa report``: the per-agent report of a batch output directory, as CSV/JSON/XLSX/HTML
files, optionally e-mailed (HTML body, XLSX attached).

Exit codes: 0 report written (and e-mailed when asked), 2 usage or configuration error (bad
option, no batch store in ``--out``), 3 report written but the e-mail could not be sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer

from callqa.batch.store import DB_NAME, DEFAULT_OUT_DIR, Store
from callqa.cli import app, fail
from callqa.errors import CallqaError
from callqa.report.email import (ENV_CAFILE, ENV_PASSWORD, ENV_USER, EmailError, SmtpSettings,
                                 build_message, default_sender, send_message)
from callqa.report.files import write_csv, write_json, write_xlsx
from callqa.report.html import relative_base, render_html
from callqa.report.tables import ReportTables, build_tables, review_file

__all__ = ["FORMATS", "ReportFiles", "parse_since", "report", "subject_for", "write_report"]

FORMATS = ("csv", "json", "xlsx", "html")
HTML_NAME = "report.html"
XLSX_NAME = "report.xlsx"

EXIT_EMAIL_FAILED = 3


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote."""

    tables: ReportTables
    title: str
    paths: list[Path] = field(default_factory=list)
    html: str | None = None
    html_path: Path | None = None
    xlsx_path: Path | None = None


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


def subject_for(tables: ReportTables, today: date | None = None) -> str:
    """``callqa 质检日报 2026-11-21``: the day of the calls (a range when several)."""
    days = tables.days
    if not days:
        span = (today or date.today()).isoformat()
    elif len(days) == 1:
        span = days[0]
    else:
        span = f"{days[0]} 至 {days[-1]}"
    return f"callqa 质检日报 {span}"


def recorded_rulebooks(results: Sequence[Any]) -> dict[str, Any]:
    """Each rulebook the results were scored with, parsed once, by its sha256: the
    :class:`~callqa.scoring.rulebook.Rulebook`, or None when its file is gone or has changed
    since (``callqa.report.explain.rulebook_for``)."""
    from callqa.report.explain import rulebook_for

    loaded: dict[str, Any] = {}
    for s in results:
        key = (s.result.rulebook or {}).get("sha256", "")
        if key not in loaded:
            loaded[key] = rulebook_for(s.result)
    return loaded


def rulebook_labels(results: Sequence[Any],
                    loaded: dict[str, Any]) -> tuple[list[str], float | None]:
    """``name vVERSION (sha)`` of each rulebook the results were scored with, and the pass
    mark to draw on the chart: only when all calls used one rulebook, still unchanged."""
    seen: dict[str, dict[str, Any]] = {}
    for s in results:
        rb = s.result.rulebook or {}
        key = rb.get("sha256") or rb.get("name") or ""
        if key and key not in seen:
            seen[key] = rb
    labels = [f"{rb.get('name', '?')} v{rb.get('version', '?')} ({str(rb.get('sha256', ''))[:8]})"
              for rb in seen.values()]
    only = next(iter(loaded.values())) if len(seen) == 1 and len(loaded) == 1 else None
    return labels, (float(only.pass_mark) if only is not None else None)


def write_review_pages(results: Sequence[Any], out_dir: Path,
                       rulebooks: dict[str, Any] | None = None) -> int:
    """One review page per call, ``OUT/review/<call>.html``, with the recording linked (not
    embedded: a day's pages would weigh as much as its audio). A call whose recording is gone
    still gets its page, without a player. ``rulebooks``: :func:`recorded_rulebooks` of
    ``results``, if the caller has it. Returns the number of pages written."""
    from callqa.errors import CallqaError
    from callqa.report.review import render_review

    rulebooks = recorded_rulebooks(results) if rulebooks is None else rulebooks
    for s in results:
        audio = Path(s.path) if s.path and Path(s.path).is_file() else None
        try:
            render_review(s.result, audio, out_dir / review_file(s.call_id), "link",
                          rulebooks.get((s.result.rulebook or {}).get("sha256", "")))
        except CallqaError as exc:
            typer.echo(f"callqa: warning: no review page for {s.call_id}: {exc}", err=True)
    return len(results)


def write_report(results: Sequence[Any], failures: Sequence[dict], *, out_dir: Path,
                 report_dir: Path, formats: Sequence[str], since: date | None = None,
                 worst_n: int = 3, title: str | None = None) -> ReportFiles:
    """Compute the tables and write the requested formats into ``report_dir``.

    Links to ``results/…json`` and ``review/…html`` in the HTML and XLSX are relative to
    ``report_dir`` and point into ``out_dir``; review links only for pages that exist.
    """
    loaded: dict[str, Any] = {}
    if "html" in formats:
        loaded = recorded_rulebooks(results)
        write_review_pages(results, out_dir, loaded)
    reviews = {s.call_id for s in results if (out_dir / review_file(s.call_id)).is_file()}
    tables = build_tables(results, failures, worst_n=worst_n, review_ids=reviews, since=since)
    title = title or subject_for(tables)
    out = ReportFiles(tables=tables, title=title)
    link_base = relative_base(report_dir, out_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    if "csv" in formats:
        out.paths += write_csv(tables, report_dir)
    if "json" in formats:
        out.paths += write_json(tables, report_dir)
    if "xlsx" in formats:
        out.xlsx_path = write_xlsx(tables, report_dir / XLSX_NAME, link_base=link_base)
        out.paths.append(out.xlsx_path)
    if "html" in formats:
        rulebooks, pass_mark = rulebook_labels(results, loaded)
        out.html = render_html(tables, title=title, link_base=link_base, rulebooks=rulebooks,
                               pass_mark=pass_mark)
        out.html_path = report_dir / HTML_NAME
        tmp = out.html_path.with_name(HTML_NAME + ".tmp")
        tmp.write_text(out.html, encoding="utf-8")
        tmp.replace(out.html_path)
        out.paths.append(out.html_path)
    return out


def text_summary(files: ReportFiles) -> str:
    """The plain-text part of the e-mail (for clients that do not show HTML)."""
    t = files.tables
    lines = [files.title, ""]
    if not len(t.calls):
        lines.append("所选范围内没有已评分的通话。")
    for a in t.agents.to_dict(orient="records"):
        lines.append(f"{a['agent_id']}: {a['calls']} 通, 平均分 {a['mean_score']:.1f}, "
                     f"最低分 {a['min_score']:g}, 合格率 {a['pass_rate']:.1%}")
    if len(t.failures):
        lines.append(f"处理失败: {len(t.failures)} 个文件")
    lines += ["", "完整报告见 HTML 正文与所附 XLSX。"]
    return "\n".join(lines)


def _split(values: Optional[List[str]]) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


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
) -> None:
    """Per-agent report of a batch: calls, mean/min score, pass rate, violations per category
    and rule, talk time, worst calls, rule hit rates, trend by day, failed files.

    Writes OUT/report/ (one CSV/JSON per table, report.xlsx, report.html) and prints the
    files written on stdout."""
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
        with Store.open(out) as store:
            results = store.results(since=since_day)
            failures = store.failures()
        files = write_report(results, failures, out_dir=out,
                             report_dir=report_dir or out / "report", formats=formats,
                             since=since_day, worst_n=worst, title=subject)
    except CallqaError as exc:
        raise fail(exc) from None
    except OSError as exc:
        where = exc.filename or report_dir or out / "report"
        typer.echo(f"callqa: error: {where}: cannot write report: {exc.strerror or exc}",
                   err=True)
        raise typer.Exit(2) from None

    for path in files.paths:
        typer.echo(str(path))
    t = files.tables
    typer.echo(f"callqa report: {len(t.calls)} calls, {len(t.agents)} agents, "
               f"{len(t.failures)} failed files → {files.html_path or files.paths[0].parent}",
               err=True)
    if not len(t.calls):
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
        attachment = files.xlsx_path
        msg = build_message(subject=files.title, sender=sender, to=recipients,
                            html=files.html or "", text=text_summary(files),
                            attachment=attachment, attachment_name=f"callqa-report-{day}.xlsx")
        try:
            send_message(msg, settings, sender=sender, to=recipients)
        except EmailError as exc:
            typer.echo(f"callqa: error: e-mail not sent: {exc} (the report files are in "
                       f"{files.html_path.parent})", err=True)
            raise typer.Exit(EXIT_EMAIL_FAILED) from None
        typer.echo(f"callqa report: e-mailed to {', '.join(recipients)} via {settings.where}",
                   err=True)
