"""Personal data in a call's words: phone, ID and bank-card numbers, e-mail, addresses, names.

A pipeline stage over the transcript (pure, no I/O): :func:`detect` reads every utterance of both
parties and returns :class:`Entity` records — type, speaker, the characters of the utterance's
text and the time span from the word timing — so redaction (:mod:`callqa.privacy.redact`) can
mask them wherever text leaves the store, and rules can reason on *what kind* of particulars were
said (a phone number restated) without the digits.

Numbers are found however Whisper writes them: Arabic or Chinese digits (一三九…, 幺 for 1), in
groups split by spaces or dashes (``13 90 12 3 45 67``, ``139-0123-4567``); a run is classified
by its length and what was said just before it (电话, 身份证, 卡号). Addresses are chains of
building / unit / floor / room (三栋二单元五零二, ``16-90 3``), room numbers read digit by digit
(六零二), streets with a house number and districts. Names are the surname after 姓 (also the
homophones Whisper writes for 姓 when the caller answers a 贵姓 question), the name after 叫 /
名字是 / 我是, and a surname before 先生 / 女士 / 小姐 / 阿姨.

>>> said = "我姓李，电话一三九零一二三四五六七，住三栋二单元五零二。"
>>> [(kind, text) for kind, _, _, text in detect_text(said)]
[('name', '李'), ('phone', '一三九零一二三四五六七'), ('address', '三栋二单元五零二')]
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from callqa.transcript import AGENT, CUSTOMER, Entity, Transcript, Utterance

__all__ = ["PHONE", "ID_NUMBER", "BANK_CARD", "EMAIL", "ADDRESS", "NAME", "ENTITY_TYPES",
           "digit_runs", "Entity", "detect", "detect_utterances", "detect_text", "digits_of"]

PHONE = "phone"
ID_NUMBER = "id_number"
BANK_CARD = "bank_card"
EMAIL = "email"
ADDRESS = "address"
NAME = "name"
ENTITY_TYPES = (PHONE, ID_NUMBER, BANK_CARD, EMAIL, ADDRESS, NAME)


# ------------------------------------------------------------------ digits
_CN_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "三": "3", "四": "4",
              "五": "5", "六": "6", "七": "7", "拐": "7", "八": "8", "九": "9", "勾": "9"}
_DIGIT = "0-9０-９" + "".join(_CN_DIGITS)
# A run of digits, in groups joined by a space or a dash (how Whisper writes numbers read in
# groups); an ID number may end in X. Commas and full stops are the ASR's punctuation, not part
# of a number (3.2单元, 一共,).
_RUN = re.compile(rf"[{_DIGIT}]+(?:[ \-–—]{{1,2}}[{_DIGIT}]+)*(?:[ \-]?[Xx叉](?![a-zA-Z]))?")


def digits_of(text: str) -> str:
    """The digits a stretch of text spells, as ASCII (``一三九 0`` → ``1390``; X kept)."""
    out = []
    for ch in text:
        if ch in _CN_DIGITS:
            out.append(_CN_DIGITS[ch])
        elif ch.isdigit():
            out.append(str(int(ch)))  # full-width digits too
        elif ch in "Xx叉":
            out.append("X")
    return "".join(out)


def digit_runs(text: str) -> list[str]:
    """Every run of digits ``text`` spells, as ASCII (``三洞二零一`` → ``["3", "201"]``; a
    number Whisper wrote in groups, ``2-10 5``, is one run)."""
    return [d for d in (digits_of(m.group()) for m in _RUN.finditer(text)) if d]


_PHONE_CUE = re.compile(r"(电话|手机|号码|手机号|联系方式|座机|致电|拨打|打给|打这个|回电)[是为:：,， ]*(号码)?[是为:：,， ]*$")
_ID_CUE = re.compile(r"(身份证|证件)(号|号码)?[是为:：,， ]*(号码)?[是为:：,， ]*$")
_CARD_CUE = re.compile(r"(卡号|银行卡|信用卡|储蓄卡|借记卡|账号|帐号|卡)(号|号码)?[是为:：,， ]*(号码)?[是为:：,， ]*$")
_NOT_PERSONAL = re.compile(r"(工号|公号|编号|单号|订单号|快递单号|验证码|取件码|尾号|车牌|热线)[是为:：,， ]*$")
# what follows a number that is an amount, a date or a measure, never personal data
_AMOUNT_AFTER = re.compile(r"^\s*(元|块|万|亿|千|百|米|平|年|月|日|天|号|分|秒|点|个|次|岁|度|%|折|公斤|斤|层|楼|栋|单元)")


# The same cues as Whisper writes them by sound (身份正好 for 身份证号, 游乡 for 邮箱): matched on
# the toneless pinyin of the words just before a number
_SOUNDED_CUES = {
    "id": re.compile(r"shen fen zh[e]ng( hao)?( ma)?( shi| wei)?$"),
    "card": re.compile(r"(ka|yin hang ka)( hao)?( ma)?( shi| wei)?$"),
    "phone": re.compile(r"dian hua( hao ma| hao)?( shi| wei| jiu shi)?$"),
}


def _sounded_cue(before: str, kind: str) -> bool:
    from pypinyin import lazy_pinyin  # a dependency of callqa's phrase matching

    tail = re.sub(r"[^\u4e00-\u9fff]+$", "", before)[-7:]
    return bool(tail) and _SOUNDED_CUES[kind].search(" ".join(lazy_pinyin(tail))) is not None


def _luhn(d: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _id_checksum(d: str) -> bool:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    if len(d) != 18 or not d[:17].isdigit():
        return False
    s = sum(int(c) * w for c, w in zip(d[:17], weights))
    return "10X98765432"[s % 11] == d[17]


def _number_type(d: str, before: str, after: str) -> str | None:
    """What a run of ``d`` digits is, from its length and the words around it."""
    n = len(d)
    if n < 7 or _NOT_PERSONAL.search(before):  # no kind of personal number is shorter
        return None
    id_cue, card_cue, phone_cue = (bool(c.search(before)) or _sounded_cue(before, k) for c, k in
                                   ((_ID_CUE, "id"), (_CARD_CUE, "card"), (_PHONE_CUE, "phone")))
    if d.endswith("X") or (n in (15, 18) and (id_cue or (n == 18 and not card_cue
                                                          and (_id_checksum(d) or not _luhn(d))))):
        return ID_NUMBER if n in (15, 18) or id_cue else None
    if "X" in d:
        return None
    if id_cue and 14 <= n <= 18:  # an ID number with a digit lost or added by the ASR
        return ID_NUMBER
    if 16 <= n <= 19 or (card_cue and 12 <= n <= 19):
        return BANK_CARD
    if d.startswith(("400", "800")) and n == 10:  # company hotlines
        return None
    if n == 11 and d[0] == "1" and d[1] in "3456789":
        return PHONE
    if d[0] == "0" and 10 <= n <= 12:  # area code + landline, or 0 + mobile
        return PHONE
    if phone_cue and 7 <= n <= 13:  # a mobile with a digit lost by the ASR, or a local line
        return PHONE
    if n >= 9 and d[0] == "1" and d[1] in "3456789" and not _AMOUNT_AFTER.match(after):
        return PHONE
    return None


# ------------------------------------------------------------------ e-mail
_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._+\-]*\s?(?:@|＠|艾特|at|圈a)\s?[A-Za-z0-9\-]+"
    r"(?:\s?(?:\.|点|dot)\s?[A-Za-z]{2,6}){1,3}", re.IGNORECASE)


# after 邮箱 (or how Whisper writes it: 游乡, 由相), what the caller spells up to the next pause is
# the address however the ASR wrote @ and .com (13 8 12 3 45 67 8 i可16 3.2母)
_EMAIL_SLOT = re.compile(r"[邮游由油][箱乡相厢湘香](?:地址)?[是为:：]?\s?"
                         r"([^,，。！？!?;；、]{0,40}?[0-9A-Za-z][^,，。！？!?;；、]{0,40})")
# a number dictated in groups that the ASR broke with a misheard digit or a comma (30 10案19 8 50,
# 五一零一零七，一九七八): runs at most this far apart are read as one number
_GAP = re.compile(r"[\s,，、\-]?[\u4e00-\u9fff]{0,2}[\s,，、\-]?")


# ------------------------------------------------------------------ addresses
_NUM = rf"(?:[0-9]+[.\-])?[{_DIGIT}十百两]+"  # 3.2单元: how Whisper writes 三栋二单元
_BUILDING = r"(?:栋|幢|号楼|座|动(?!不)|洞|冻)"
# 单元 as Whisper also writes it (单原, 单园, 单颜: the same sound)
_UNIT = r"[单旦](?:元|原|园|颜|员|严|言|延)"
_PART = rf"{_NUM}\s?(?:{_BUILDING}|{_UNIT}|楼|层|室|户|号(?!车位|线|码))"
# a room read digit by digit, with a 0 inside (五零二, 一二零一, 801, 80 1) — quantities are read
# with 十/百 instead
_D1, _D0, _SEP = "[1-9一二三四五六七八九幺]", "[0-9零〇一二三四五六七八九幺]", r"[\s\-]?"
_ROOM = rf"(?:{_D1}{_SEP}{_D0}?{_SEP}[0零〇]{_SEP}{_D1}(?![{_DIGIT}十百]))"
_CHAIN = re.compile(
    rf"(?:(?:[\u4e00-\u9fff]{{2}}(?:小区|花园|家园|公寓|大厦|新村|苑))\s?)?"
    rf"(?<![哪几那这每某各])(?:{_PART}\s?)+(?:{_ROOM}(?:室|号|户)?)?")
_LIVE_CUE = re.compile(r"(住|住在|家在|家住|住的是)$")
_ROOM_ALONE = re.compile(_ROOM + r"(?:室|号|户)?")
# Whisper writes 三栋二单元五零二 as 3-2单元5-0-2 and 十六栋九零三 as 16-90 3: short digit groups
# joined by dashes, without a phone/card cue
_DASHED = re.compile(r"[0-9]{1,3}(?:\s?-\s?[0-9]{1,3}){1,3}(?:\s[0-9]{1,2})?")
_STREET = re.compile(rf"([\u4e00-\u9fff]{{2}})(路|街|大道|大街|巷|胡同)({_NUM}号)?")
_DISTRICT = re.compile(r"([\u4e00-\u9fff]{2})(区|县)(?!域|别|分|间)")
_FUNCTION = set("哪在的了是这那条上下去到走从往个和跟与给对把被也都就还很太里外前后马公道一")
_NOT_STREET = {"线路", "马路", "道路", "公路", "电路", "思路", "走路", "一路", "上路", "出路", "门路",
               "网路", "水路", "带路", "迷路", "让路", "修路", "铁路", "同路", "半路", "回路", "套路",
               "短路", "逛街", "上街", "满街", "沿街", "临街", "隔街", "老街", "小巷", "后街"}
_NOT_DISTRICT_BEFORE = set("个小社园地景市郊校片城厂务共禁灾盲误辖山矿军林牧库试专新老")


# ------------------------------------------------------------------ names
# Common surnames (百家姓, the ~200 most frequent): a name must start with one.
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘"
    "祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟"
    "艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞"
    "姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_HONORIFIC = re.compile(r"([\u4e00-\u9fff])(?=(先生|[女育玉雨语][士是事世市]|小姐|阿姨|太太|大爷|大姐|大哥|奶奶|爷爷))")
# (女是, 育士: how Whisper writes 女士, nü/yu + shi)
# what stands before 先生/女士 without being a surname (请问先生, 好的女士, 这位先生 …); the ASR
# writes surnames as homophones (吴 as 五, 陈 as 前), so any other character is taken as one
_NOT_SURNAME = set("问的了是位个您你我他她们和跟给对向这那好就谢请各两几某老小男女贵令尊请呢吗吧啊呀哦嗯")
_SURNAME_AFTER = re.compile(r"(?:姓|免贵姓)([\u4e00-\u9fff])")
_CALLED = re.compile(r"(?:叫|名字是|名字叫|姓名是|我是)([\u4e00-\u9fff]{2,3})(?=[,.!?;:，。！？、 ]|$|[电住地家是的])")
# Whisper hears 我姓 as 我信/我幸/我兴/我心/我先/我现 … when the caller answers 贵姓
_XING_SOUNDS = "姓性信幸兴心星行新型先现鑫馨"
_ASKED_NAME = re.compile(r"贵(姓|性|信|幸|兴|心|星)|怎么称呼|叫什么名字|您的姓名|姓什么")
_ANSWER = re.compile(rf"^(?:(?:你好|您好|哦|噢|嗯|啊|呃|对|好的?)[,.!，。 ]*)?"
                     rf"(?:我|免贵)[{_XING_SOUNDS}]([\u4e00-\u9fff])")
_ASKED_ADDRESS = re.compile(r"(哪|几)(一)?(栋|动|洞|冻|号楼|单元|户)|哪一?度|房号|门牌|住(在)?哪|地址")
# the agent reading the particulars back (跟您确认一下：九栋周先生…)
_READ_BACK = re.compile(r"确认一下|核对一下|复述|重复一下|我再说一遍|附数")
# In an answer to 住在哪一栋, Whisper writes the building's number as a homophone (九栋 → 酒动,
# 五栋 → 武动): a character that sounds like a digit before 栋 or one of its homophones.
_DIGIT_SOUNDS = {"ling", "yi", "er", "san", "si", "wu", "liu", "qi", "ba", "jiu", "shi", "yao",
                 "liang"}
_NOT_BUILDING = {"移动", "启动", "起动", "一动", "流动", "舞动", "其动", "义动", "异动", "二动"}
_WHERE_CUE = re.compile(r"(我是|住在|住|驻在|驻)$")
_SOUNDED_BUILDING = re.compile(r"([\u4e00-\u9fff]{1,2})(栋|动|洞|冻)")
# In the caller's answer to 贵姓 / 住哪一栋 (a slot the caller fills) the building's number may come
# out as any sound (八栋 → 发动, 七栋 → 黑洞), and 栋 as 度 (二十度): a character before 栋's
# homophones is taken there, unless the two make an everyday word.
_SLOT_BUILDING = re.compile(rf"(?![哪几那这每某各])([{_DIGIT}十]{{1,3}}|[\u4e00-\u9fff])(栋|动|洞|冻|度)")
_NOT_SLOT_BUILDING = {"移动", "运动", "活动", "感动", "劳动", "行动", "主动", "自动", "被动", "不动",
                      "变动", "互动", "激动", "冲动", "波动", "推动", "带动", "调动", "震动", "振动",
                      "心动", "走动", "联动", "开动", "一动", "态度", "程度", "温度", "速度", "进度",
                      "角度", "制度", "额度", "力度", "幅度", "适度", "过度", "高度", "一度", "再度"}
_STAFF_BEFORE = re.compile(r"(客服|工号|坐席|话务员)$")


def _names(text: str, answers_name: bool) -> Iterable[tuple[int, int]]:
    for m in _SURNAME_AFTER.finditer(text):
        if m.group(1) in _SURNAMES:
            yield m.span(1)
    for m in _CALLED.finditer(text):
        name = m.group(1)
        if name[0] in _SURNAMES and not _STAFF_BEFORE.search(text[:m.start()]):
            # a given name is one or two characters: stop before a word that follows unpunctuated
            end = m.start(1) + min(len(name), 3)
            yield m.start(1), end
    for m in _HONORIFIC.finditer(text):
        if m.group(1) not in _NOT_SURNAME and not m.group(1).isdigit():
            yield m.span(1)
    if answers_name:
        m = _ANSWER.match(text)
        if m and m.group(1) not in "是在们的要想住":
            yield m.span(1)


def _sounds_like_digits(chars: str) -> bool:
    from pypinyin import lazy_pinyin  # a dependency of callqa's phrase matching

    return all(p in _DIGIT_SOUNDS for p in lazy_pinyin(chars))


def _addresses(text: str, numbers: list[tuple[int, int]], answers_address: bool = False,
               slot: bool = False) -> Iterable[tuple[int, int]]:
    taken: list[tuple[int, int]] = list(numbers)

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    def building(a: int, end: int) -> Iterable[tuple[int, int]]:
        """A building from ``a`` to ``end``, with the unit, floor and room said after it."""
        ext = re.match(rf"\s?(?:{_PART}\s?)*(?:{_ROOM}(?:室|号|户)?)?", text[end:])
        b = end + len(ext.group(0).rstrip())
        if free(a, b):
            taken.append((a, b))
            yield a, b

    for m in _CHAIN.finditer(text):
        a, b = m.span()
        body = m.group(0)
        has_building = re.search(_BUILDING + "|" + _UNIT, body) is not None
        lived = bool(_LIVE_CUE.search(text[:a]))
        # a floor or a number alone (十八楼, 12号) is an address only where someone lives there
        if (has_building or (lived and re.search(r"(楼|层|室|户)", body))) and free(a, b):
            b = a + len(body.rstrip())
            taken.append((a, b))
            yield a, b
    for m in _SOUNDED_BUILDING.finditer(text):
        # the longest head that sounds like digits, said after 住在哪一栋 was asked or where the
        # caller says where they live (我是…, 住…)
        heads = [h for h in (m.group(1), m.group(1)[1:])
                 if h and _sounds_like_digits(h) and h + m.group(2) not in _NOT_BUILDING]
        a = next((m.end() - len(h) - len(m.group(2)) for h in heads
                  if answers_address or _WHERE_CUE.search(text[:m.end() - len(h) - 1])), None)
        if a is None:
            continue
        yield from building(a, m.end())
    if slot:
        for m in _SLOT_BUILDING.finditer(text):
            a = m.start()
            if m.group(0) in _NOT_SLOT_BUILDING or (m.group(2) == "度" and not (
                    digits_of(m.group(1)) or _sounds_like_digits(m.group(1)))):
                continue
            yield from building(a, m.end())
    for m in _DASHED.finditer(text):
        a, b = m.span()
        if free(a, b) and not _AMOUNT_AFTER.match(text[b:]) and \
                not _PHONE_CUE.search(text[:a]) and not _NOT_PERSONAL.search(text[:a]):
            taken.append((a, b))
            yield a, b
    for m in _ROOM_ALONE.finditer(text):
        a, b = m.span()
        if free(a, b) and not _NOT_PERSONAL.search(text[:a]) and not _AMOUNT_AFTER.match(text[b:]) \
                and not re.search(rf"[{_DIGIT}十百]$", text[:a]):
            taken.append((a, b))
            yield a, b
    for m in _STREET.finditer(text):
        a, b = m.span()
        word = text[m.start(2) - 1] + m.group(2)
        if m.group(1)[0] in _FUNCTION or word in _NOT_STREET or text[m.start(2) - 1] in _FUNCTION:
            continue
        if free(a, b):
            taken.append((a, b))
            yield a, b
    for m in _DISTRICT.finditer(text):
        a, b = m.span()
        if m.group(1)[0] in _FUNCTION or m.group(1)[1] in _NOT_DISTRICT_BEFORE:
            continue
        if free(a, b):
            taken.append((a, b))
            yield a, b


def _merge(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Address parts one or two characters apart, with no punctuation between, are one address
    (3-2单颜5-0-2: 单元 misheard between two recognised parts)."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        gap = text[out[-1][1]:a] if out else ""
        if out and 1 <= len(gap) <= 2 and not re.search(r"[,.!?;:，。！？、]|还是|或|和|跟|到", gap):
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _dictated(text: str, runs: list[re.Match]) -> list[list[re.Match]]:
    """Digit runs grouped where at most :data:`_GAP` lies between them (a comma, a space, one
    or two characters) and no full stop: candidates for one number read in groups. A run said
    as a quantity after a comma (…45 67,10分钟) starts a clause of its own."""
    groups: list[list[re.Match]] = []
    for m in runs:
        gap = text[groups[-1][-1].end():m.start()] if groups else ""
        if groups and _GAP.fullmatch(gap) and not (
                re.search("[,，、]", gap) and _AMOUNT_AFTER.match(text[m.end():])):
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def detect_text(text: str, answers_name: bool = False, answers_address: bool = False,
                slot: bool = False) -> list[tuple[str, int, int, str]]:
    """``(type, char_start, char_end, text)`` of the personal data in one utterance's text.

    ``answers_name``: the utterance answers a question for the caller's name (贵姓), so 我 + a
    homophone of 姓 + one character is taken as the surname; ``answers_address``: the agent has asked
    住在哪一栋 earlier in the call, so a building whose number the ASR wrote as a homophone (酒动,
    武动) is taken, in the answer and in the read-back; ``slot``: the utterance is the caller's
    answer to that question or to 贵姓, or the agent's read-back after it, where any sound before
    栋's homophones is the building's number (:data:`_SLOT_BUILDING`).
    """
    found: list[tuple[str, int, int]] = []
    numbers: list[tuple[int, int]] = []
    for m in _EMAIL.finditer(text):
        found.append((EMAIL, *m.span()))
        numbers.append(m.span())
    for m in _EMAIL_SLOT.finditer(text):
        a, b = m.span(1)
        b = a + len(m.group(1).rstrip())
        if all(b <= s or a >= e for s, e in numbers):
            found.append((EMAIL, a, b))
            numbers.append((a, b))
    runs = [m for m in _RUN.finditer(text)
            if all(m.end() <= s or m.start() >= e for s, e in numbers)]
    for group in _dictated(text, runs):
        a, b = group[0].start(), group[-1].end()
        before, after = text[max(0, a - 12):a], text[b:b + 4]
        kind = _number_type(digits_of("".join(m.group(0) for m in group)), before, after)
        # groups read as one number: an ID or card number, or a phone after its cue
        if len(group) > 1 and (kind in (ID_NUMBER, BANK_CARD) or (
                kind == PHONE and len(digits_of("".join(m.group(0) for m in group))) == 11
                and (_PHONE_CUE.search(before) or _sounded_cue(before, "phone")))):
            found.append((kind, a, a + len(text[a:b].rstrip(" -"))))
            numbers.append((a, b))
            continue
        for m in group:
            a, b = m.span()
            kind = _number_type(digits_of(m.group(0)), text[max(0, a - 12):a], text[b:b + 4])
            if kind:
                b = a + len(m.group(0).rstrip(" -"))
                found.append((kind, a, b))
                numbers.append((a, b))
    found += [(ADDRESS, a, b) for a, b in _merge(text, sorted(_addresses(text, numbers, answers_address,
                                                                          slot)))]
    taken = [(a, b) for _, a, b in found]
    for a, b in sorted(set(_names(text, answers_name))):
        if all(b <= s or a >= e for s, e in taken):
            found.append((NAME, a, b))
            taken.append((a, b))
    found.sort(key=lambda f: (f[1], f[2]))
    return [(kind, a, b, text[a:b]) for kind, a, b in found]


# ------------------------------------------------------------------ timing
def _char_times(u: Utterance) -> list[tuple[float, float]]:
    """Start and end of every character of ``u.text``, from its words (spaces and punctuation
    the words do not carry take their neighbours' times)."""
    times: list[tuple[float, float] | None] = [None] * len(u.text)
    pos = 0
    for w in u.words:
        token = w.text.strip()
        if not token:
            continue
        at = u.text.find(token, pos)
        if at < 0:
            continue
        n = len(token)
        for i in range(n):  # characters share the word's span evenly
            times[at + i] = (w.start + (w.end - w.start) * i / n,
                             w.start + (w.end - w.start) * (i + 1) / n)
        pos = at + n
    if all(t is None for t in times):  # no word timing: spread the utterance evenly
        n = max(1, len(u.text))
        step = (u.end - u.start) / n
        return [(u.start + i * step, u.start + (i + 1) * step) for i in range(len(u.text))]
    last = (u.start, u.start)
    for i, t in enumerate(times):
        if t is None:
            times[i] = (last[1], last[1])
        else:
            last = t
    return times  # type: ignore[return-value]


def detect_utterances(utterances: Sequence[Utterance]) -> list[Entity]:
    """The personal data in a call's utterances (ordered by start), both parties."""
    entities: list[Entity] = []
    asked = asked_where = asked_any = slot_open = False
    for k, u in enumerate(utterances):
        customer = u.speaker == CUSTOMER
        slot = (customer and slot_open) or (
            not customer and asked_any and bool(_READ_BACK.search(u.text)))
        spans = detect_text(u.text, answers_name=customer and asked,
                            answers_address=asked_where, slot=slot)
        if spans:
            times = _char_times(u)
        for kind, a, b, text in spans:
            entities.append(Entity(kind, u.speaker, k, a, b, times[a][0], times[b - 1][1], text))
        if u.speaker == AGENT:
            asked = bool(_ASKED_NAME.search(u.text))
            where = bool(_ASKED_ADDRESS.search(u.text))
            asked_where = asked_where or where
            slot_open = asked or where
            asked_any = asked_any or slot_open
        elif u.text.strip():
            asked = slot_open = False
    return entities


def detect(transcript: Transcript) -> list[Entity]:
    """The pipeline stage: the personal data said in a transcript, with time spans (those it
    already carries — a redacted transcript's — when a stage before has detected them)."""
    if transcript.entities is not None:
        return list(transcript.entities)
    return detect_utterances(transcript.utterances)
