"""Personal-data detection: a table of how people say (and Whisper writes) each kind, things
that look alike but are not personal data, and exact results on recorded transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from callqa.privacy.detect import (ADDRESS, BANK_CARD, EMAIL, ID_NUMBER, NAME, PHONE, Entity,
                                   detect, detect_text, detect_utterances, digits_of)
from callqa.transcript import Utterance, Word, load_transcript

SAMPLES = Path(__file__).parent / "data" / "samples"

FOUND = [
    # phones, however they are written
    ("我的手机号是139-0123-4567", PHONE, "139-0123-4567"),
    ("电话13 90 12 3 45 67", PHONE, "13 90 12 3 45 67"),
    ("手机一三九 零一二三 四五六七", PHONE, "一三九 零一二三 四五六七"),
    ("电话幺三八零零幺三八零零零", PHONE, "幺三八零零幺三八零零零"),
    ("打这个13901234567就行", PHONE, "13901234567"),
    ("座机010-62345678", PHONE, "010-62345678"),
    ("电话是62345678", PHONE, "62345678"),
    ("电话13 90 12 3 45 6", PHONE, "13 90 12 3 45 6"),  # a digit lost by the ASR
    # ID and card numbers
    ("身份证号110105199003071234", ID_NUMBER, "110105199003071234"),
    ("身份证号是11010519900307123X", ID_NUMBER, "11010519900307123X"),
    ("证件号码一一零一零五一九九零零三零七一二三四", ID_NUMBER, "一一零一零五一九九零零三零七一二三四"),
    ("卡号6222 0212 3456 7890 123", BANK_CARD, "6222 0212 3456 7890 123"),
    ("银行卡号是6217000010012345678", BANK_CARD, "6217000010012345678"),
    ("退到这张卡6228480402564890", BANK_CARD, "6228480402564890"),
    # e-mail, typed or spoken
    ("邮箱是zhangsan@qq.com", EMAIL, "zhangsan@qq.com"),
    ("邮箱zhang.san艾特163点com", EMAIL, "zhang.san艾特163点com"),
    # addresses
    ("我住三栋二单元五零二", ADDRESS, "三栋二单元五零二"),
    ("地址是滨江小区六栋一单元八零二", ADDRESS, "滨江小区六栋一单元八零二"),
    ("楼上六零二漏水", ADDRESS, "六零二"),
    ("我家住十八楼", ADDRESS, "十八楼"),
    ("营业厅在建设路八十八号", ADDRESS, "建设路八十八号"),
    ("新家在江南区", ADDRESS, "江南区"),
    ("我姓李住在3-2单颜5-0-2", ADDRESS, "3-2单颜5-0-2"),  # 单元 misheard between the parts
    ("跟您确认一下,3.2单元5.0万", ADDRESS, "3.2单元"),
    ("住16-90 3。", ADDRESS, "16-90 3"),
    # as whisper-base wrote dictated particulars (bench/privacycalls): the cue by its sound
    # (身份正好 for 身份证号, 游乡 for 邮箱), groups broken by a misheard digit or a comma
    ("身份正好是30 10案19 8 50 6 12 30 16", ID_NUMBER, "30 10案19 8 50 6 12 30 16"),
    ("我的身份正好马是五一零一零七,一九七八零九二三,一五六叉。", ID_NUMBER,
     "五一零一零七,一九七八零九二三,一五六叉"),
    ("台号16号一起00 00 12 3分56 78 9 15建设银行的。", BANK_CARD, "16号一起00 00 12 3分56 78 9 15"),
    ("游乡是13 8 12 3 45 67 8 i可16 3.2母", EMAIL, "13 8 12 3 45 67 8 i可16 3.2母"),
    ("电话13 9-0 12-3 45 67,10分钟没给您回电", PHONE, "13 9-0 12-3 45 67"),
    ("幸福家严小其三动一旦严七零二语", ADDRESS, "三动一旦严七零二"),  # 单元 as 旦严
    # names
    ("我姓李，住在三栋", NAME, "李"),
    ("免贵姓张", NAME, "张"),
    ("我叫张明，电话", NAME, "张明"),
    ("登记的是我老公的名字，叫王建国，地址是", NAME, "王建国"),
    ("好的，钱女士，请您稍等", NAME, "钱"),
    ("五女是,请您稍等", NAME, "五"),  # 吴女士 as Whisper wrote it
    ("林育士,您的水费是68元", NAME, "林"),  # 女士 heard as 育士 (nü/yu shi)
]

NOT_FOUND = [
    "一共是八百四十元", "上个月12号交的", "工号三零八为您服务", "客服热线4008123456",
    "我是小王", "请问先生您贵姓", "住在哪一栋哪一单元", "车牌最后五位是五六七八九",
    "订单号是1234567890123", "我在马路上有点吵", "路由器的灯一直在闪", "这个小区的绿化",
    "二零二三年", "一点二米以下的小孩", "下午两点到四点", "公共区域的水电分摊费",
    "我先看一下", "叫什么名字", "我要找律师", "今天二十度", "这个态度不行", "狗叫了快两个小时", "这个不归我们管，你找你们小区物业去",
    "每年六月一号到九月三十号开放", "取件码123456打不开", "有想法的话13号来",
    "一共三笔，分别是120，350，480元", "订单12345678还没到", "一旦发生漏水",
]


@pytest.mark.parametrize("text,kind,surface", FOUND)
def test_found(text: str, kind: str, surface: str) -> None:
    got = [(k, s) for k, _, _, s in detect_text(text)]
    assert (kind, surface) in got, got


@pytest.mark.parametrize("text", NOT_FOUND)
def test_not_personal_data(text: str) -> None:
    assert detect_text(text) == []


def test_digits_of() -> None:
    assert digits_of("一三九 零-幺２X") == "139012X"


def test_surname_homophone_only_in_an_answer_to_the_name_question() -> None:
    asked = [Utterance("agent", 0, 2, "请问您贵姓?"), Utterance("customer", 2, 4, "我信张,住七栋。")]
    assert [(e.type, e.text) for e in detect_utterances(asked)][:1] == [(NAME, "张")]
    unasked = [Utterance("agent", 0, 2, "请问有什么可以帮您?"), Utterance("customer", 2, 4, "我信张,住七栋。")]
    assert NAME not in [e.type for e in detect_utterances(unasked)]


def test_building_homophone_only_after_the_address_question() -> None:
    asked = [Utterance("agent", 0, 2, "请问您住在哪一栋?"), Utterance("customer", 2, 4, "驻武动。")]
    assert [(e.type, e.text) for e in detect_utterances(asked)] == [(ADDRESS, "武动")]
    unasked = [Utterance("agent", 0, 2, "请问有什么可以帮您?"), Utterance("customer", 2, 4, "酒动不了。")]
    assert detect_utterances(unasked) == []
    # where the caller says where they live, the question is not needed
    told = [Utterance("customer", 0, 2, "我是酒动的,楼道灯坏了。")]
    assert [(e.type, e.text) for e in detect_utterances(told)] == [(ADDRESS, "酒动")]


def test_the_callers_answer_is_a_slot_whatever_the_building_sounds_like() -> None:
    """The caller's turn right after 贵姓 / 住哪一栋 fills that slot: the number before 栋's
    homophones (动 洞 冻, and 度 after a number) is taken whatever Whisper made of it (八栋 → 发动,
    七栋 → 黑洞); the agent's read-back (确认一下) after such a question too. Everyday words
    (移动, 态度), a demonstrative (这栋) and the same sounds outside the slot are not."""
    def found(agent: str, customer: str, readback: str = "") -> list[tuple[str, str, str]]:
        utts = [Utterance("agent", 0, 2, agent), Utterance("customer", 2, 4, customer)]
        if readback:
            utts.append(Utterance("agent", 4, 6, readback))
        return [(e.speaker, e.type, e.text) for e in detect_utterances(utts)]

    assert ("customer", ADDRESS, "黑洞") in found("请问您是哪一度的业主?", "黑洞")
    assert ("customer", ADDRESS, "发动六楼") in found("请问您贵姓?", "我姓王,主发动六楼。")
    assert ("customer", ADDRESS, "二十度") in found("请问住在哪一栋?", "住在二十度")
    assert ("agent", ADDRESS, "发动") in found("请问您贵姓?", "我姓郑。", "好的,跟您确认一下,发动郑先生。")
    assert ("agent", ADDRESS, "6度") in found("请问您贵姓?", "我姓周,住六栋。", "跟您确认一下,6度周先生。")
    for agent, customer in [("请问您贵姓?", "我们这栋的电梯坏了"), ("请问住哪一栋?", "手机移动不了"),
                            ("请问您贵姓?", "你这个态度不行"), ("请问有什么可以帮您?", "黑洞"),
                            ("请问有什么可以帮您?", "车子发动不了")]:
        assert ADDRESS not in [t for _, t, _ in found(agent, customer)], (agent, customer)
    # no question asked: a read-back's 度 is a temperature
    assert found("您好,请讲。", "空调坏了。", "跟您确认一下,二十度制冷不了。") == []


def test_time_span_from_the_words() -> None:
    u = Utterance("customer", 10.0, 14.0, "电话13 90 12 3 45 67", words=(
        Word("电话", 10.0, 10.5), Word("13", 10.6, 11.0), Word("90", 11.0, 11.4),
        Word("12", 11.4, 11.8), Word("3", 11.8, 12.0), Word("45", 12.0, 12.4),
        Word("67", 12.5, 13.0)))
    (e,) = detect_utterances([u])
    assert (e.type, e.start, e.end, e.char_start, e.char_end) == (PHONE, 10.6, 13.0, 2, 18)


def test_recorded_call_phone_given_and_restated() -> None:
    """call_17: the customer dictates the number, the agent reads it back — both found, with
    the same digits, at the times the words were said (the recorded ASR transcript)."""
    t = load_transcript(SAMPLES / "call_17_deposit_callback_promise.json")
    phones = [e for e in detect(t) if e.type == PHONE]
    assert [(e.speaker, digits_of(e.text)) for e in phones] == [
        ("customer", "13901234567"), ("agent", "13901234567")]
    # from the first digit's word (13) to the last (67)
    assert [(round(e.start, 3), round(e.end, 2)) for e in phones] == [(59.288, 61.37),
                                                                       (68.988, 71.26)]
    assert all(t.utterances[e.utterance].start <= e.start < e.end <= t.utterances[e.utterance].end
               for e in phones)


def test_recorded_call_name_and_address() -> None:
    t = load_transcript(SAMPLES / "call_01_repair_leak.json")
    got = [(e.type, e.speaker, e.text) for e in detect(t)]
    assert got == [(NAME, "customer", "李"), (ADDRESS, "customer", "3-2单颜5-0-2"),
                   (ADDRESS, "agent", "3.2单元")]


def test_entity_round_trip() -> None:
    e = Entity(PHONE, "agent", 3, 2, 13, 1.23456, 2.5, "13901234567")
    assert Entity.from_dict(e.to_dict()) == Entity(PHONE, "agent", 3, 2, 13, 1.235, 2.5,
                                                  "13901234567")
