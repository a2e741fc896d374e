"""Plain-text views of a call result: a one-line summary and a trainer's timeline."""

from __future__ import annotations

from callqa.labels import RECORDING_ROLES, SPEAKER, UNSCORED
from callqa.result import CallResult, Finding

__all__ = ["clock", "roles_warning", "summary_line", "timeline", "verdict_text"]


def roles_warning(result: CallResult) -> str | None:
    """角色不确定 where a reader must be warned how the parties were told apart, else None."""
    return RECORDING_ROLES["uncertain"] if result.roles == "uncertain" else None


def clock(seconds: float) -> str:
    """``03:41.2`` for 221.2 s."""
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def verdict_text(result: CallResult) -> str:
    """``得分 85 通过`` / ``未评分（原因）``, with 角色不确定 when the roles are uncertain."""
    if result.unscored:
        text = f"{UNSCORED}（{result.unscored}）"
    else:
        veto = f"，一票否决: {', '.join(result.vetoed)}" if result.vetoed else ""
        text = f"得分 {result.score:g}  {'通过 PASS' if result.passed else '不通过 FAIL'}{veto}"
    roles = roles_warning(result)
    return f"{text}  [{roles}]" if roles else text


def summary_line(result: CallResult) -> str:
    return (f"{result.call_id} 坐席 {result.agent_id or '未知'}  {verdict_text(result)}  "
            f"({len(result.findings)} 项问题, 时长 {clock(result.duration)})")


def timeline(result: CallResult) -> str:
    """Utterances in time order with each finding printed where it happened."""
    lines = [summary_line(result)]
    lines += [f"注: {n}" for n in result.notes]
    pending = sorted(result.findings, key=lambda f: f.start)
    k = 0
    for u in result.utterances:
        while k < len(pending) and pending[k].start < u.start:
            lines += _finding_block(pending[k])
            k += 1
        lines.append(f"{clock(u.start)}–{clock(u.end)} {SPEAKER.get(u.speaker, u.speaker)}: "
                     f"{u.text}")
    for f in pending[k:]:
        lines += _finding_block(f)
    return "\n".join(lines)


def _finding_block(f: Finding) -> list[str]:
    return [
        f"    ⚠ {clock(f.start)} {f.rule_id} {f.title}: {f.message} (-{f.deduction:g})",
        f"      建议: {f.suggestion}",
        f"      依据: {f.standard}",
    ]
