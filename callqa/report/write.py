"""Writing a batch's report: the review pages, the tables, and one writer per format.

:func:`write_report` is what ``callqa report`` runs: it writes the per-call review pages (for
the HTML format), computes the tables once (:func:`callqa.report.tables.build_tables`) and hands
them to each requested format's writer in :data:`WRITERS`. Everything it needs is in the
results — the pass mark and recommended phrasings were recorded when the calls were scored — so
no rulebook file is read again. It prints nothing: what went wrong on the way (recordings not
found) comes back in :class:`ReportFiles` for the caller to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

from callqa.report.files import write_csv, write_json, write_xlsx
from callqa.report.html import relative_base, render_html
from callqa.report.review import write_review_pages
from callqa.report.tables import ReportTables, StoredResultLike, build_tables, review_file

__all__ = ["FORMATS", "HTML_NAME", "XLSX_NAME", "WRITERS", "ReportFiles", "rulebook_labels",
           "subject_for", "write_report"]

HTML_NAME = "report.html"
XLSX_NAME = "report.xlsx"


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes:
        tables: the tables every format was made from.
        title: the report's title (also the e-mail subject).
        paths: every file written, in order.
        html, html_path: the HTML report (when written).
        xlsx_path: the workbook (when written).
        missing_audio: calls whose recording could not be found for their review page.
    """

    tables: ReportTables
    title: str
    paths: list[Path] = field(default_factory=list)
    html: str | None = None
    html_path: Path | None = None
    xlsx_path: Path | None = None
    missing_audio: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    """What a format writer gets: the tables, where to write, and the report's context."""

    tables: ReportTables
    report_dir: Path
    link_base: str
    title: str
    rulebooks: list[str]
    pass_mark: float | None


def _csv(job: _Job, out: ReportFiles) -> None:
    out.paths += write_csv(job.tables, job.report_dir)


def _json(job: _Job, out: ReportFiles) -> None:
    out.paths += write_json(job.tables, job.report_dir)


def _xlsx(job: _Job, out: ReportFiles) -> None:
    out.xlsx_path = write_xlsx(job.tables, job.report_dir / XLSX_NAME, link_base=job.link_base)
    out.paths.append(out.xlsx_path)


def _html(job: _Job, out: ReportFiles) -> None:
    out.html = render_html(job.tables, title=job.title, link_base=job.link_base,
                           rulebooks=job.rulebooks, pass_mark=job.pass_mark)
    out.html_path = job.report_dir / HTML_NAME
    tmp = out.html_path.with_name(HTML_NAME + ".tmp")
    tmp.write_text(out.html, encoding="utf-8")
    tmp.replace(out.html_path)
    out.paths.append(out.html_path)


#: Format → writer. Formats are written in this order.
WRITERS: dict[str, Callable[[_Job, ReportFiles], None]] = {
    "csv": _csv, "json": _json, "xlsx": _xlsx, "html": _html,
}
FORMATS = tuple(WRITERS)


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


def rulebook_labels(results: Sequence[StoredResultLike]) -> tuple[list[str], float | None]:
    """``name vVERSION (sha)`` of each rulebook the results were scored with, and the pass mark
    to draw on the chart: only when every call was scored with one rulebook that recorded it."""
    seen: dict[str, dict[str, Any]] = {}
    for s in results:
        rb = s.result.rulebook or {}
        seen.setdefault(rb.get("sha256") or rb.get("name") or "", rb)
    seen.pop("", None)
    labels = [f"{rb.get('name', '?')} v{rb.get('version', '?')} ({str(rb.get('sha256', ''))[:8]})"
              for rb in seen.values()]
    marks = {rb.get("pass_mark") for rb in seen.values()}
    mark = marks.pop() if len(seen) == 1 and len(marks) == 1 else None
    return labels, None if mark is None else float(mark)


def write_report(results: Sequence[StoredResultLike], failures: Sequence[dict], *,
                 out_dir: Path, report_dir: Path, formats: Sequence[str],
                 since: date | None = None, worst_n: int = 3, title: str | None = None,
                 precision: Sequence[Any] = (), reviews: Sequence[dict] = (),
                 review_pages: bool = True) -> ReportFiles:
    """Compute the tables and write the requested formats into ``report_dir``.

    With ``html``, the per-call review pages are written first (``OUT/review/``). Links to
    ``results/…json`` and ``review/…html`` in the HTML and XLSX are relative to ``report_dir``
    and point into ``out_dir``; review links only for pages that exist. ``precision`` and
    ``reviews`` are :func:`callqa.verdicts.rule_precision` / ``review_rows`` of the period.
    ``review_pages=False`` leaves the review pages as they are (a second rendering of the same
    report, such as the e-mail's under its own privacy mask).
    """
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}")
    missing: list[Any] = []
    if "html" in formats and review_pages:
        _, missing = write_review_pages(results, out_dir)
    pages = {s.call_id for s in results if (out_dir / review_file(s.call_id)).is_file()}
    tables = build_tables(results, failures, worst_n=worst_n, review_ids=pages, since=since,
                          precision=precision, reviews=reviews)
    labels, pass_mark = rulebook_labels(results)
    out = ReportFiles(tables=tables, title=title or subject_for(tables), missing_audio=missing)
    job = _Job(tables, report_dir, relative_base(report_dir, out_dir), out.title, labels,
               pass_mark)
    report_dir.mkdir(parents=True, exist_ok=True)
    for name, writer in WRITERS.items():
        if name in formats:
            writer(job, out)
    return out
