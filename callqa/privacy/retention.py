"""Retention: what ``callqa purge`` removes from a batch's output, and what it keeps.

For every call older than the retention (by the call's start time, else when it was scored):

- removed: the transcript (``OUT/transcripts/``), its entry in the transcript cache (keyed by
  audio hash and ASR options), the review page showing the transcript (``OUT/review/``)
  and redacted recordings (``OUT/redacted/``);
- kept: the result — score, pass, every finding with its rule, time and deduction, metrics —
  with the utterances dropped and every kind of personal data masked in the findings' evidence,
  so agents' history and reports survive; the reviews and appeals in ``callqa.db`` are not
  touched. The recording itself belongs to the telephony system and is not deleted.

A purge takes the output directory's batch lock, so it never races a running batch.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from callqa.batch.store import Store, safe_name
from callqa.privacy.detect import ENTITY_TYPES
from callqa.privacy.redact import redact_result
from callqa.result import CallResult, read_result

__all__ = ["PURGED_NOTE", "REDACTED_DIR", "Purge", "purge"]

PURGED_NOTE = "转写已按保留期清除"
REDACTED_DIR = "redacted"


@dataclass
class Purge:
    """What a purge did (or, with ``dry_run``, would do).

    Attributes:
        cutoff: calls that started before this were purged.
        calls: the call ids purged.
        removed: every file removed.
        results_kept: results rewritten without their transcript (scores and findings kept).
    """

    cutoff: datetime
    calls: list[str] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    results_kept: int = 0

    @property
    def nothing_to_do(self) -> bool:
        return not self.calls


def _when(row: dict) -> datetime | None:
    for key in ("started_at", "updated_at"):
        text = row.get(key)
        if not text:
            continue
        try:
            t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            continue
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return None


def _is_purged(result: CallResult | None) -> bool:
    return result is not None and not result.utterances and PURGED_NOTE in " ".join(result.notes)


def purge(out_dir: str | Path, older_than: timedelta, *, now: datetime | None = None,
          cache_dir: str | Path | None = None, dry_run: bool = False) -> Purge:
    """Remove what retention no longer allows from ``out_dir`` (the caller holds the lock)."""
    from callqa.asr.cache import cache_path  # only the path: no model is loaded

    out_dir = Path(out_dir)
    now = now or datetime.now(timezone.utc)
    done = Purge(cutoff=now - older_than)
    with Store.open(out_dir) as store:
        for row in store.rows():
            when = _when(row)
            if when is None or when >= done.cutoff:
                continue
            call_id = row["call_id"]
            result_path = store.resolve(row["result_path"])
            result = read_result(result_path)
            files = [store.resolve(row["transcript_path"]), store.transcript_file(call_id),
                     out_dir / "review" / f"{safe_name(call_id)}.html",
                     *sorted((out_dir / REDACTED_DIR).glob(f"{safe_name(call_id)}.*"))]
            if row.get("asr_key"):
                files.append(cache_path(cache_dir, row["asr_key"]))
            files = list(dict.fromkeys(p for p in files if p is not None and p.is_file()))
            if not files and (result is None or _is_purged(result)):
                continue  # purged before
            done.calls.append(call_id)
            if result is not None and not _is_purged(result):
                done.results_kept += 1
                if not dry_run:
                    _keep_result(store, result_path, result, now)
            for p in files:
                done.removed.append(p)
                if not dry_run:
                    p.unlink(missing_ok=True)
            if not dry_run and row.get("transcript_path"):
                store.update(call_id, path=row["path"], abs_path=row["abs_path"],
                             transcript_path=None)
    return done


def _keep_result(store: Store, path: Path, result: CallResult, now: datetime) -> None:
    """Rewrite the result without its transcript, personal data masked in the findings."""
    kept = redact_result(result, ENTITY_TYPES)
    kept = dataclasses.replace(
        kept, utterances=[],
        entities=[dataclasses.replace(e, text="") for e in kept.entities or []],
        notes=[*kept.notes, f"{PURGED_NOTE}（{now.date().isoformat()}）"])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(kept.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
