"""Every code's Chinese label, once: the report (text, HTML, XLSX), the review page and the
workbench all read them here, so one thing has one name everywhere.

>>> CATEGORY["forbidden_phrase"], VERDICT["rejected"], metric_label("overtalk_rate")
('禁用语', '误报', '双方重叠占比')
>>> metric_value("overtalk_rate", 0.042), metric_value("mean_response_s", 1.26)
('4.2%', '1.3 秒')
"""

from __future__ import annotations

from typing import Any

__all__ = ["APPEAL", "BASIS", "CATEGORY", "EVENT", "PENDING", "METRIC", "METRIC_KEYS", "RECORDING_ROLES",
           "REVIEW_STATE", "SEVERITY", "SPEAKER", "UNSCORED", "USER_ROLE", "VERDICT", "basis_text",
           "metric_label", "metric_value"]

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
#: a finding under the rulebook's review threshold: listed, deducted once a reviewer confirms it
PENDING = "待复核"
#: what a finding's confidence rests on (``Finding.basis``, callqa.scoring.confidence)
BASIS = {"words": "识别清晰度", "match": "匹配接近度", "margin": "超出限度", "unheard": "附近无文字语音",
         "partial": "仅有相近说法", "roles": "角色判定", "after": "等待后话语清晰度",
         "loop": "识别结果循环重复", "timing": "字词时间堆叠", "thin": "转写字数过少",
         "stretch": "单字时长被拉长", "faint": "依赖难以辨认的字", "onset": "首句开头未检测到",
         "slot": "应有话语处难以辨认"}


def basis_text(basis: dict[str, float]) -> str:
    """The factors that lowered a confidence, weakest first (those at 1 say nothing).

    >>> basis_text({"words": 1.0, "margin": 0.65, "unheard": 0.4})
    '附近无文字语音 0.40、超出限度 0.65'
    """
    low = sorted((v, k) for k, v in basis.items() if v < 1.0)
    return "、".join(f"{BASIS.get(k, k)} {v:.2f}" for v, k in low)
SPEAKER = {"agent": "坐席", "customer": "客户"}
#: A workbench user's role (an agent is shown with their agent id instead).
USER_ROLE = {"reviewer": "质检员", "trainer": "培训师", "trainee": "学员", "privacy": "个人信息管理员"}
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
         "appeal_overturned": "撤销（申诉成立）", "view_original": "查看原文（个人信息）"}
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
