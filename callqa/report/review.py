"""The trainer's review page: one self-contained HTML file per call.

An ``<audio>`` player (the recording embedded as a data URI, or linked relative to the page),
the transcript as a two-column agent/customer timeline with findings highlighted on their
utterances, a findings panel, and the score with what would have raised it. Clicking an
utterance or a finding seeks the audio to its start and plays. No network assets: CSS and JS
are inline, and all call text is escaped by jinja2's autoescape.

    render_review(result, Path("call_0012.flac"), Path("out/review/call_0012.html"))
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Sequence
from urllib.parse import quote

from callqa.errors import AudioError
from callqa.report.explain import improvements, recommended
from callqa.labels import SPEAKER, UNSCORED
from callqa.report.text import clock, roles_warning
from callqa.result import CallResult, Finding
from callqa.transcript import Utterance

if TYPE_CHECKING:
    from callqa.report.tables import StoredResultLike
    from callqa.scoring.rulebook import Rulebook

__all__ = ["AUDIO_MODES", "audio_data_uri", "audio_link", "render_review", "review_html",
           "write_review_pages"]

AUDIO_MODES = ("embed", "link")
TEMPLATE = "review.html.j2"
_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
         ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".webm": "audio/webm"}
# Findings a few milliseconds outside an utterance (rounding) still belong to it.
_TOLERANCE_S = 0.05


def audio_data_uri(path: Path) -> str:
    """The recording as a ``data:`` URI every browser plays.

    Anything libsndfile reads (wav/flac/ogg ...) is re-encoded as 16-bit PCM WAV at its own
    sample rate and channel count (agent left, customer right stays audible as such); other
    formats (mp3, m4a) are embedded as they are, since browsers play those natively.
    """
    import soundfile as sf

    path = Path(path)
    try:
        data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    except FileNotFoundError:
        raise AudioError(str(path), "no such file") from None
    except (sf.LibsndfileError, RuntimeError, TypeError):
        data = None
    if data is not None:
        buf = io.BytesIO()
        sf.write(buf, data, rate, format="WAV", subtype="PCM_16")
        raw, mime = buf.getvalue(), "audio/wav"
    else:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise AudioError(str(path), f"cannot read: {exc.strerror or exc}") from None
        mime = _MIME.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or \
            "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(raw).decode("ascii")


def audio_link(audio_path: Path, out: Path) -> str:
    """The recording's URL relative to the page at ``out`` (forward slashes, percent-encoded)."""
    rel = os.path.relpath(Path(audio_path).resolve(), Path(out).resolve().parent)
    return quote(Path(rel).as_posix())


# --------------------------------------------------------------------------- view model

@dataclass
class _Row:
    """One line of the timeline: an utterance, or a finding that falls between utterances."""

    kind: str                       # "utterance" | "gap" (a finding not inside one utterance)
    start: float
    end: float
    speaker: str
    dom_id: str
    utterance: Utterance | None = None
    findings: list[tuple[int, Finding]] = field(default_factory=list)
    segments: list[tuple[str, bool]] = field(default_factory=list)  # (text, marked)

    @property
    def severity(self) -> str:
        order = {"critical": 3, "major": 2, "minor": 1}
        return max((f.severity for _, f in self.findings), key=lambda s: order.get(s, 0),
                   default="")


def _home(f: Finding, utterances: list[Utterance]) -> int | None:
    """The utterance a finding is about: the speaker's utterance that contains it. None for
    findings in silence (dead air, latency) and for ones spanning several utterances (a phrase
    missing from the whole call); those get a row of their own at their start."""
    for i, u in enumerate(utterances):
        if (u.speaker == f.speaker and u.start - _TOLERANCE_S <= f.start
                and f.end <= u.end + _TOLERANCE_S and f.start < u.end):
            return i
    return None


def _segments(text: str, evidence: list[str]) -> list[tuple[str, bool]]:
    """Split ``text`` so that every occurrence of each evidence string is marked."""
    marks = [False] * len(text)
    for ev in evidence:
        ev = ev.strip()
        if not ev or ev == text.strip():
            continue
        at = text.find(ev)
        while at >= 0:
            for j in range(at, at + len(ev)):
                marks[j] = True
            at = text.find(ev, at + len(ev))
    out: list[tuple[str, bool]] = []
    for ch, m in zip(text, marks):
        if out and out[-1][1] == m:
            out[-1] = (out[-1][0] + ch, m)
        else:
            out.append((ch, m))
    return out


def _rows(result: CallResult, findings: list[Finding]) -> list[_Row]:
    utts = list(result.utterances)
    rows = [_Row("utterance", u.start, u.end, u.speaker, f"u{i}", utterance=u)
             for i, u in enumerate(utts)]
    gaps: list[_Row] = []
    for n, f in enumerate(findings):
        i = _home(f, utts)
        if i is None:
            gaps.append(_Row("gap", f.start, f.end, f.speaker, f"g{n}", findings=[(n, f)]))
        else:
            rows[i].findings.append((n, f))
    for row in rows:
        row.segments = _segments(row.utterance.text, [f.evidence for _, f in row.findings])
    # A finding row goes before the first utterance that starts after it (as in the text
    # timeline), so a call-level finding at the first utterance's start follows that utterance.
    return sorted(rows + gaps, key=lambda r: (r.start, r.kind != "utterance"))


def review_html(result: CallResult, audio_src: str | None,
                rulebook: "Rulebook | None" = None, missing_audio: str | None = None) -> str:
    """The review page as a string; ``audio_src`` is a data URI, a relative URL, or None;
    ``missing_audio`` the recording that should be there but cannot be found (said on the
    page). Pass mark and recommended phrasings come from ``rulebook`` when given, else from
    what the result recorded."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["clock"] = clock
    findings = sorted(result.findings, key=lambda f: (f.start, f.rule_id))
    rows = _rows(result, findings)
    home = {n: row.dom_id for row in rows for n, _ in row.findings}
    examples = {f.rule_id: [e for e in recommended(result, f.rule_id, rulebook)
                            if e != f.suggestion] for f in findings}
    return env.get_template(TEMPLATE).render(
        r=result, rows=rows, findings=list(enumerate(findings)), home=home,
        examples=examples, imp=improvements(result, rulebook), audio_src=audio_src,
        missing_audio=missing_audio, labels=SPEAKER,
        speakers=[s for s in ("agent", "customer")], roles_label=roles_warning(result),
        unscored_label=UNSCORED,
    )


def render_review(result: CallResult, audio_path: Path | None, out: Path,
                  audio_mode: Literal["embed", "link"] = "embed",
                  rulebook: "Rulebook | None" = None, missing_audio: str | None = None) -> Path:
    """Write the review page for one call to ``out`` (e.g. ``OUT/review/<call_id>.html``).

    Args:
        result: the scored call.
        audio_path: its recording, or None for a page without a player.
        out: the page to write; parent directories are created.
        audio_mode: ``embed`` (a self-contained file; WAV data URI) or ``link`` (a URL relative
            to ``out``, so keep the page and the recordings together when moving them).
        rulebook: for the pass mark and the standards' recommended phrasings; by default what
            the result recorded when it was scored.
        missing_audio: with ``audio_path`` None, the recording that cannot be found: the page
            says so instead of showing a player.

    Raises:
        AudioError: the recording does not exist or cannot be read.
    """
    if audio_mode not in AUDIO_MODES:
        raise ValueError(f"audio_mode must be one of {AUDIO_MODES}, not {audio_mode!r}")
    out = Path(out)
    src = None
    if audio_path is not None:
        audio_path = Path(audio_path)
        if not audio_path.is_file():
            raise AudioError(str(audio_path), "no such file")
        src = audio_data_uri(audio_path) if audio_mode == "embed" else audio_link(audio_path, out)
    html = review_html(result, src, rulebook, missing_audio)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def write_review_pages(results: Sequence["StoredResultLike"], out_dir: Path
                       ) -> tuple[list[Path], list["StoredResultLike"]]:
    """One review page per call of a batch, ``OUT/review/<call>.html``, with the recording
    linked relative to the page (not embedded: a day's pages would weigh as much as its audio).

    The recording is the one the store resolved (``StoredResult.audio``: the absolute path the
    batch recorded), so the pages are the same whichever directory the report runs from. A call
    whose recording cannot be found still gets its page, saying so.

    Returns:
        the pages written, and the calls whose recording was not found.
    """
    from callqa.report.tables import review_file

    pages, missing = [], []
    for s in results:
        audio = getattr(s, "audio", None)
        if audio is None:
            missing.append(s)
        pages.append(render_review(s.result, audio, out_dir / review_file(s.call_id), "link",
                                   missing_audio=None if audio else s.path))
    return pages, missing
