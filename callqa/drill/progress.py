"""Progress from the attempts: per trainee and scenario (attempts, scores over time, best,
passed), the rules each trainee breaks most, and the cohort table a trainer exports.

Passed = some scored attempt at or above the scenario's pass mark with no veto finding (the
attempt's ``passed``); incomplete and unscored attempts count as attempts, never as passes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from callqa.drill.scenario import Scenario
from callqa.drill.store import Attempt

__all__ = ["COHORT_COLUMNS", "Cell", "Cohort", "cohort", "cohort_csv", "cohort_xlsx"]

COHORT_COLUMNS = ("学员", "练习", "练习次数", "已评分", "最高分", "最近得分", "是否通过",
                  "最近练习", "常犯规则")


@dataclass
class Cell:
    """One trainee on one scenario."""

    trainee: str
    scenario: Scenario
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def scored(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status == "scored" and a.score is not None]

    @property
    def scores(self) -> list[tuple[str, float]]:
        """(finished at, score) in order: the scores over time."""
        return [(a.finished_at or a.started_at, float(a.score)) for a in self.scored]

    @property
    def best(self) -> float | None:
        return max((s for _, s in self.scores), default=None)

    @property
    def last(self) -> float | None:
        return self.scores[-1][1] if self.scores else None

    @property
    def passed(self) -> bool:
        return any(a.passed for a in self.scored)

    @property
    def last_at(self) -> str | None:
        return self.attempts[-1].started_at if self.attempts else None


@dataclass
class Cohort:
    trainees: list[str]
    scenarios: list[Scenario]
    cells: dict[tuple[str, int], Cell]
    broken: dict[str, list[tuple[str, int]]]  # trainee → (rule id, times) most first

    def cell(self, trainee: str, scenario_id: int) -> Cell | None:
        return self.cells.get((trainee, scenario_id))


def cohort(scenarios: list[Scenario], attempts: list[Attempt],
           trainees: list[str] | None = None, top_rules: int = 5) -> Cohort:
    """The cohort table: everyone with an assignment or an attempt (or ``trainees``)."""
    by_id = {s.id: s for s in scenarios}
    names = set(trainees or [])
    for s in scenarios:
        names.update(s.assigned)
    names.update(a.trainee for a in attempts)
    cells: dict[tuple[str, int], Cell] = {}
    for s in scenarios:
        for t in s.assigned:
            cells[(t, s.id)] = Cell(t, s)
    counts: dict[str, Counter] = {t: Counter() for t in names}
    for a in attempts:
        if a.scenario_id not in by_id:
            continue
        cells.setdefault((a.trainee, a.scenario_id), Cell(a.trainee, by_id[a.scenario_id]))
        cells[(a.trainee, a.scenario_id)].attempts.append(a)
        if a.status == "scored":
            counts[a.trainee].update(a.rules)
    broken = {t: c.most_common(top_rules) for t, c in counts.items()}
    return Cohort(sorted(names), scenarios, cells, broken)


def _rows(c: Cohort) -> list[list]:
    rows = []
    for (trainee, _), cell in sorted(c.cells.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        rows.append([trainee, cell.scenario.title, len(cell.attempts), len(cell.scored),
                     cell.best, cell.last, "通过" if cell.passed else "未通过",
                     cell.last_at or "",
                     "、".join(f"{r}×{n}" for r, n in c.broken.get(trainee, []))])
    return rows


def cohort_csv(c: Cohort) -> str:
    """UTF-8 with BOM (Excel opens it as Chinese text)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COHORT_COLUMNS)
    w.writerows(["" if v is None else v for v in row] for row in _rows(c))
    return "\ufeff" + buf.getvalue()


def cohort_xlsx(c: Cohort) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "练习进度"
    ws.append(list(COHORT_COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in _rows(c):
        ws.append(row)
    for col, width in zip("ABCDEFGHI", (12, 28, 10, 8, 8, 8, 8, 22, 30)):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
