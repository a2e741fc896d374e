"""Report tables as files: CSV and JSON for machines (one file per table, English column names,
codes as they are), XLSX for people (one sheet per table, Chinese headers and codes, widths set,
rates as percentages, auto-filters).

CSV is written with a UTF-8 BOM (``utf-8-sig``): Excel on a Chinese Windows reads a CSV without
it as GBK and shows mojibake; every CSV reader that knows UTF-8 skips the BOM."""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from callqa.report.tables import ReportTables, rule_matrix
from callqa import labels

__all__ = [
    "CODE_ZH",
    "HEADER_ZH",
    "SHEET_ZH",
    "MATRIX_SHEET",
    "write_csv",
    "write_json",
    "write_xlsx",
    "records",
]

#: Column → code → Chinese, for the XLSX (CSV/JSON keep the codes: they are the contract).
CODE_ZH: dict[str, dict[str, str]] = {
    "category": labels.CATEGORY,
    "severity": labels.SEVERITY,
    "speaker": labels.SPEAKER,
    "roles": labels.RECORDING_ROLES,
    "kind": labels.VERDICT,
    "verdict": labels.VERDICT,
    "appeal_status": {**labels.VERDICT, **labels.APPEAL},
}

HEADER_ZH = {
    "agent_id": "坐席",
    "calls": "通话数",
    "mean_score": "平均分",
    "min_score": "最低分",
    "max_score": "最高分",
    "passed": "合格数",
    "pass_rate": "合格率",
    "vetoed": "一票否决",
    "findings": "问题数",
    "deduction": "扣分合计",
    "agent_talk_s": "坐席说话时长(秒)",
    "first_day": "首日",
    "last_day": "末日",
    "rule_id": "规则",
    "title": "规则名称",
    "category": "类别",
    "severity": "严重程度",
    "calls_hit": "命中通话数",
    "hit_rate": "命中率",
    "agents_hit": "涉及坐席数",
    "rank": "排名",
    "call_id": "通话",
    "day": "日期",
    "score": "得分",
    "top_rules": "主要问题",
    "result_link": "结果文件",
    "review_link": "复核页面",
    "path": "录音文件",
    "started_at": "开始时间",
    "duration_s": "通话时长(秒)",
    "status": "状态",
    "speaker": "说话方",
    "start": "开始(秒)",
    "end": "结束(秒)",
    "message": "问题描述",
    "evidence": "原文",
    "error": "错误",
    "overall": "全部坐席",
    "total": "合计",
    "suggestion": "建议",
    "standard": "依据",
    "unscored": "未评分原因",
    "roles": "角色区分",
    **{k: label + ("(秒)" if kind == "s" else "") for k, (label, kind) in labels.METRIC.items()},
    "confirmed": "复核" + labels.VERDICT["confirmed"],
    "rejected": "复核" + labels.VERDICT["rejected"],
    "precision": "准确率",
    "missed": "漏检补充",
    "kind": "类型",
    "verdict": "复核结论",
    "reason": "理由",
    "reviewer": "复核人",
    "reviewed_at": "复核时间",
    "appeal_status": "申诉状态",
    "appeal_comment": "申诉内容",
    "appeal_by": "申诉人",
    "appeal_at": "申诉时间",
    "appeal_resolution": "申诉处理意见",
    "resolved_by": "处理人",
    "resolved_at": "处理时间",
    **labels.CATEGORY,
}
# Where one column name means different things in different tables.
TABLE_HEADER_ZH: dict[str, dict[str, str]] = {
    "agents": {"vetoed": "一票否决数", "unscored": "未评分通话数", "calls": "已评分通话数"},
    "calls": {"passed": "是否合格", "vetoed": "一票否决规则"},
    "worst_calls": {"passed": "是否合格", "vetoed": "一票否决规则"},
    "agent_rules": {"calls": "已评分通话数"},
    "rules": {"calls": "已评分通话数"},
}

SHEET_ZH = {
    "agents": "坐席汇总",
    "agent_categories": "问题类别",
    "agent_rules": "坐席规则",
    "rules": "规则命中率",
    "worst_calls": "最差通话",
    "trend": "每日趋势",
    "calls": "通话明细",
    "findings": "问题明细",
    "failures": "处理失败",
    "reviews": "复核记录",
}
MATRIX_SHEET = "规则命中率(按坐席)"

RATE_COLUMNS = {"pass_rate", "hit_rate", "overall", "precision", "agent_talk_rate",
                "customer_talk_rate", "non_talk_rate", "overtalk_rate"}
LINK_COLUMNS = {"result_link", "review_link"}


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as plain Python values (None, never NaN)."""
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in rec.items()})
    return out


def _plain(v: Any) -> Any:
    """numpy/pandas scalars → JSON-able Python values; NaN/NA → None."""
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def write_csv(tables: ReportTables, out_dir: str | Path) -> list[Path]:
    """``<out_dir>/<table>.csv`` per table, UTF-8 with a BOM (for Excel), header row of English
    column names."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = out_dir / f"{name}.csv"
        df.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
        paths.append(path)
    return paths


def write_json(tables: ReportTables, out_dir: str | Path) -> list[Path]:
    """``<out_dir>/<table>.json`` per table: a JSON array of row objects (null for missing)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(records(df), ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")
        paths.append(path)
    return paths


def _width(value: Any) -> int:
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fill_sheet(ws, df: pd.DataFrame, link_base: str, headers: dict[str, str]) -> None:
    columns = list(df.columns)
    head_font = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDE6F0")
    for j, col in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=j, value=headers.get(col, col))
        cell.font, cell.fill = head_font, head_fill
        cell.alignment = Alignment(vertical="center")
    widths = [_width(headers.get(c, c)) for c in columns]
    for i, rec in enumerate(records(df), start=2):
        for j, col in enumerate(columns, start=1):
            value = rec[col]
            if col in ("score", "passed") and rec.get("unscored"):
                value = labels.UNSCORED  # not 否: an unscored call neither passed nor failed
            elif isinstance(value, bool):
                value = "是" if value else "否"
            elif col in CODE_ZH and isinstance(value, str):
                value = CODE_ZH[col].get(value, value)
            cell = ws.cell(row=i, column=j, value=value)
            if col in RATE_COLUMNS and isinstance(value, (int, float)):
                cell.number_format = "0.0%"
                shown = f"{value:.1%}"
            else:
                shown = value
            if col in LINK_COLUMNS and value:
                cell.hyperlink = link_base + value
                cell.style = "Hyperlink"
            widths[j - 1] = max(widths[j - 1], _width(shown))
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 6), 60)
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(ws.max_row, 1)}"


def build_workbook(tables: ReportTables, link_base: str = "") -> Workbook:
    """One sheet per table (sheet names in :data:`SHEET_ZH`) plus the rule × agent hit-rate
    matrix. ``link_base`` is prepended to the relative result/review links (the path from the
    workbook's folder to the store's output directory, e.g. ``../``)."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, df in tables.items():
        _fill_sheet(wb.create_sheet(SHEET_ZH[name]), df, link_base,
                    {**HEADER_ZH, **TABLE_HEADER_ZH.get(name, {})})
        if name == "rules":
            matrix = rule_matrix(tables)
            _fill_sheet(wb.create_sheet(MATRIX_SHEET), matrix, link_base,
                        {k: HEADER_ZH[k] for k in ("rule_id", "title", "overall")})
            ws = wb[MATRIX_SHEET]
            for row in ws.iter_rows(min_row=2, min_col=3):
                for cell in row:
                    if isinstance(cell.value, (int, float)):
                        cell.number_format = "0.0%"
    return wb


def write_xlsx(tables: ReportTables, path: str | Path, link_base: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    build_workbook(tables, link_base).save(tmp)
    tmp.replace(path)
    return path

