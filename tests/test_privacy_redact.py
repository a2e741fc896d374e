"""Masking keeps the shape; a result and a transcript masked by type; rules still see which
kind of particulars were said on a redacted transcript (the ``gave`` condition)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callqa.privacy.detect import ADDRESS, BANK_CARD, EMAIL, ID_NUMBER, NAME, PHONE, detect
from callqa.privacy.redact import mask, redact_result, redact_text, redact_transcript
from callqa.scoring import load_rulebook
from callqa.scoring.engine import score_transcript
from callqa.scoring.rulebook import parse_rulebook
from callqa.transcript import Transcript, Utterance, load_transcript

SAMPLES = Path(__file__).parent / "data" / "samples"
CALL_17 = SAMPLES / "call_17_deposit_callback_promise.json"


@pytest.mark.parametrize("kind,text,style,masked", [
    (PHONE, "13 90 12 3 45 67", "partial", "139****4567"),
    (PHONE, "一三九零一二三四五六七", "partial", "139****4567"),
    (PHONE, "010-62345678", "partial", "010****5678"),
    (PHONE, "62345678", "partial", "****5678"),
    (PHONE, "13901234567", "label", "【手机号】"),
    (ID_NUMBER, "11010519900307123X", "partial", "1****************X"),
    (BANK_CARD, "6222 0212 3456 7890 123", "partial", "***************0123"),
    (EMAIL, "zhangsan@qq.com", "partial", "z***@qq.com"),
    (ADDRESS, "三栋二单元五零二", "partial", "【地址】"),
    (NAME, "李", "label", "【姓名】"),
])
def test_mask_keeps_the_shape(kind: str, text: str, style: str, masked: str) -> None:
    assert mask(kind, text, style) == masked


def test_redact_text_only_the_types_asked() -> None:
    text = "我姓李，电话一三九零一二三四五六七，住三栋二单元五零二"
    assert redact_text(text, {PHONE}) == "我姓李，电话139****4567，住三栋二单元五零二"
    assert redact_text(text, {PHONE, ADDRESS, NAME}) == "我姓【姓名】，电话139****4567，住【地址】"
    assert redact_text(text, set()) == text


def test_a_quote_cut_short_is_masked_by_the_utterances_entities() -> None:
    """A finding's evidence may stop mid-number; the number found in its utterance is still
    masked wherever it appears whole."""
    assert redact_text("…3 45 67,10分钟没给您回电", {PHONE}, also=[(PHONE, "3 45 67")]) == \
        "…*4567,10分钟没给您回电"


def test_redact_result_masks_text_words_findings_and_entities() -> None:
    t = load_transcript(CALL_17)
    result = score_transcript(t, load_rulebook())
    masked = redact_result(result, {PHONE})
    texts = [u.text for u in masked.utterances]
    assert "我的电话是139****4567" in texts
    assert any("电话139****4567,10分钟" in x for x in texts)
    assert not any(w.text in ("13", "90", "45", "67") for u in masked.utterances for w in u.words)
    assert [e.text for e in masked.entities if e.type == PHONE] == ["139****4567"] * 2
    # every entity, masked or not, points at its characters in the masked text
    assert all(masked.utterances[e.utterance].text[e.char_start:e.char_end] == e.text
               for e in masked.entities)
    # unchanged: what the call scored, where each finding is, what was not masked
    assert (masked.score, [(f.rule_id, f.start) for f in masked.findings]) == \
        (result.score, [(f.rule_id, f.start) for f in result.findings])
    assert [e.text for e in masked.entities if e.type == NAME] == \
        [e.text for e in result.entities if e.type == NAME]
    assert any(u.text == "我的电话是13 90 12 3 45 67" for u in result.utterances)  # untouched


RULEBOOK = """
name: readback
version: 1
conditions:
  phone_given: {gave: {types: [phone], speaker: customer}}
rules:
  - id: RB01
    name: closing.read_back_phone
    title: 复述电话
    category: closing
    type: required_phrase
    speaker: agent
    severity: minor
    points: 2
    phrases: [确认一下]
    scope: anywhere
    when: {all: [phone_given, {not: {gave: {types: [phone], speaker: agent}}}]}
    message: 客户留了电话，坐席未复述确认
    suggestion: 跟您确认一下，您的电话是……，对吗？
    standard: {file: seed.txt, text: 最后要将记录的重点内容告诉顾客}
"""


def _call(agent_says: str) -> Transcript:
    return Transcript("c", "A1", 20.0, [
        Utterance("agent", 0.5, 3.0, "您好，请问有什么可以帮您？"),
        Utterance("customer", 3.5, 8.0, "我的电话是一三九零一二三四五六七。"),
        Utterance("agent", 8.5, 14.0, agent_says)])


@pytest.mark.parametrize("agent_says,applies", [
    ("好的，我记下了。", True),                         # no read-back: the rule applies
    ("好的，电话13901234567，对吗？", False),            # the number restated, in digits
    ("好的，电话幺三九 零一二三 四五六七，对吗？", False),  # restated, read in groups
])
def test_gave_condition_on_entity_types(agent_says: str, applies: bool) -> None:
    rb = parse_rulebook(RULEBOOK, "readback.yaml")
    for t in (_call(agent_says), redact_transcript(_call(agent_says), {PHONE})):
        result = score_transcript(t, rb)
        assert ("RB01" not in result.not_applicable) is applies
    redacted = redact_transcript(_call("好的，电话13901234567，对吗？"), {PHONE})
    assert "13901234567" not in str(redacted.to_dict())
    again = Transcript.from_dict(redacted.to_dict())
    assert [e.to_dict() for e in again.entities] == [e.to_dict() for e in redacted.entities]
    assert [e.type for e in detect(redacted)] == [PHONE, PHONE]
    # each entity points at its mask in the redacted text
    assert all(redacted.utterances[e.utterance].text[e.char_start:e.char_end] == e.text
               == "139****4567" for e in redacted.entities)


def test_gave_condition_is_validated() -> None:
    bad = RULEBOOK.replace("types: [phone], speaker: customer", "types: [passport]")
    with pytest.raises(Exception, match="unknown entity type 'passport'"):
        parse_rulebook(bad, "readback.yaml")
