"""Every code's Chinese label, once: the report (text, HTML, XLSX), the review page and the
workbench all read them here, so one thing has one name everywhere.

>>> CATEGORY["forbidden_phrase"], VERDICT["rejected"], metric_label("overtalk_rate")
('禁用语', '误报', '双方重叠占比')
>>> metric_value("overtalk_rate", 0.042), metric_value("mean_response_s", 1.26)
('4.2%', '1.3 秒')
"""

from __future__ import annotations

from typing import Any

__all__ = ["APPEAL", "CATEGORY", "EVENT", "METRIC", "METRIC_KEYS", "RECORDING_ROLES",
           "REVIEW_STATE", "SEVERITY", "SPEAKER", "UNSCORED", "VERDICT", "metric_label",
           "metric_value"]

CATEGORY = {
    "greeting": "问候",
    "self_identification": "自报家门",
    "closing": "结束语",
    "polite_expression": "礼貌用语",
    "forbidden_phrase": "禁用语",
    "dead_air": "静音",
    "hold_etiquette": "等待礼仪",
    "interruption": "打断客户",
    "speech_rate": "语速",
    "refusal_without_apology": "拒绝未致歉",
    "response_latency": "应答延迟",
    "shirking": "推诿",
    "other": "其他",
}
SEVERITY = {"critical": "严重", "major": "一般", "minor": "轻微"}
SPEAKER = {"agent": "坐席", "customer": "客户"}
#: How the parties of a recording were told apart (``CallResult.roles``).
RECORDING_ROLES = {"channels": "双声道", "single": "单人录音", "separated": "单声道已分离",
                   "uncertain": "角色不确定"}
UNSCORED = "未评分"
#: A reviewer's verdict on a finding, and what became of an appeal or an added finding.
VERDICT = {"confirmed": "属实", "rejected": "误报", "withdrawn": "撤回", "missed": "补充问题",
           "verdict": "复核意见"}
APPEAL = {"open": "待处理", "upheld": "维持", "overturned": "撤销"}
REVIEW_STATE = {"unreviewed": "未复核", "in_progress": "复核中", "reviewed": "已复核",
                "appealed": "申诉中"}
#: The audit trail's actions.
EVENT = {"confirmed": "判定属实", "rejected": "判定误报", "missed": "补充问题",
         "call_reviewed": "标记复核完成", "appeal": "提交申诉", "appeal_upheld": "维持原判",
         "appeal_overturned": "撤销（申诉成立）"}
#: Conversation metrics (``CallResult.metrics``, callqa.scoring.metrics): label and kind (a rate
#: 0..1 shown as %, seconds, a count). A metric not listed shows under its key.
METRIC = {
    "agent_talk_rate": ("坐席说话占比", "rate"),
    "customer_talk_rate": ("客户说话占比", "rate"),
    "non_talk_rate": ("静默占比", "rate"),
    "overtalk_rate": ("双方重叠占比", "rate"),
    "longest_silence_s": ("最长静默", "s"),
    "mean_response_s": ("平均应答时间", "s"),
    "responses": ("坐席应答次数", "n"),
}
#: shown in tables and per agent; the number of responses only explains the mean
METRIC_KEYS = tuple(k for k in METRIC if k != "responses")


def metric_label(key: str) -> str:
    return METRIC.get(key, (key, ""))[0]


def metric_value(key: str, value: Any) -> str:
    """``0.42`` → ``42.0%`` for a rate, ``3.14`` → ``3.1 秒`` for seconds, "—" for None."""
    if value is None:
        return "—"
    kind = METRIC.get(key, ("", ""))[1]
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "s":
        return f"{value:.1f} 秒"
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)
