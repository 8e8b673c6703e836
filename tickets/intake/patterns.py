"""Intake patterns: what single phrases cannot say (用于受理的正则规则).

A :class:`Pattern` is a regular expression over the normalised message (simplified
characters, half-width ASCII, lower case, full-width punctuation folded to ASCII) and
the effects a match has, each weighted like a lexicon cue:

- ``category``: adds to a category's score (a fraud victim speaking is public order);
- ``request``: the category-free "something is wrong, please act" score;
- ``urgent``: the urgency score;
- ``negative``: evidence of a kind of non-ticket (notice, advert, lost_found ...);
- ``cancel``: removes the negative evidence of a kind (a victim's own story uses the
  words of a scam warning, but it is not one).

Each pattern counts once per message, however often it matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["DEFAULT_PATTERNS", "Effect", "EffectKind", "Pattern"]

EffectKind = Literal["category", "request", "urgent", "negative", "cancel"]


@dataclass(frozen=True, slots=True)
class Effect:
    kind: EffectKind
    label: str
    """A category code, ``request``, ``urgent``, or a negative kind."""
    weight: float = 0.0


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    regex: re.Pattern[str]
    effects: tuple[Effect, ...]


def _either(*names: str) -> str:
    return "(?:" + "|".join(names) + ")"


_CJK: Final = r"[\u4e00-\u9fff]"
_CLAUSE: Final = r"[^,.!?;。]"  # within one clause
_SENTENCE: Final = r"[^.!?。]"  # within one sentence
_PERSON: Final = _either(
    "老人", "老太太", "老头", "老大爷", "大爷", "阿公", "阿婆", "阿伯", "爷爷", "奶奶", "外婆",
    "外公", "我爸", "我妈", "父亲", "母亲", "老伴", "孩子", "小孩", "儿子", "女儿", "男孩",
    "女孩", "小朋友", "阿嬷", "阿妈", "外孙", "孙子", "孙女", "年轻人", "老婆", "老公",
)  # fmt: skip
_MISSING: Final = _either(
    "走丢", "走失", "跑丢", "失踪", "(?<![看听])不见了", "没回来", "没回去", "没到家", "没回家",
    "没到学校", "没下来", "找不到了", "到处找不到", "联系不上", "找了[^,.!?;。]{0,3}(?:小时|个钟|钟头)",
)  # fmt: skip
_HOME: Final = _either(
    "屋", "家", "厝", "房间", "室", "客厅", "厨房", "卧室", "一楼", "店", "门口", "床",
)  # fmt: skip
_WATER: Final = _either("水", "污水", "粪水", "臭水", "雨水", "洪水", "泥水", "泥浆", "泥沙")
_DAYS: Final = r"(?:几|好几|[一二两三四五六七八九十\d]{1,3}|两三|三四|四五)(?:天|日)"
_PET: Final = _either(
    "狗", "猫", "狗狗", "猫咪", "宠物", "鹦鹉", "鸟", "泰迪", "金毛", "柯基", "哈士奇", "比熊",
    "博美", "狗子",
)  # fmt: skip
_BELONGING: Final = _either(
    "钥匙", "钱包", "手机", "身份证", "银行卡", "卡", "书包", "包", "手镯", "戒指", "项链",
    "眼镜", "雨伞", "证件", "耳机",
)  # fmt: skip
_LOST: Final = _either("丢了", "丢失", "掉了", "遗失", "落在", "掉在", "不见了", "找不到")

DEFAULT_PATTERNS: Final[tuple[Pattern, ...]] = (
    # --- adverts: a phone number, a price
    Pattern(
        "phone_number",
        re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"),
        (Effect("negative", "advert", 3.0),),
    ),
    # A resident leaving a number to be called back (我电话139..., 联系电话: ...) is not
    # selling anything: complaints often end so.
    Pattern(
        "own_phone_number",
        re.compile(
            r"(?:我|本人|我的|联系|回电|打)[^,.!?;。]{0,4}(?:电话|手机|号码|手机号)[^\d]{0,4}"
            r"(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)"
        ),
        (Effect("cancel", "advert"), Effect("request", "request", 1.0)),
    ),
    # A letter to the government (尊敬的领导：您好, 望回复为盼, 第二次反映) asks for
    # something even when it is a suggestion or a question (建议, 请问政府有没有规划).
    Pattern(
        "letter_to_government",
        re.compile(
            r"尊敬的[^,.!?;:。]{0,16}(?:领导|书记|市长|镇长|局长|主任|同志)"
            r"|(?:领导|书记|市长|镇长)(?:您|你)好"
            r"|望(?:回复|答复|解决|采纳)|盼(?:复|回复)|恳请|恳求|请求(?:政府|有关|相关|领导)"
            r"|(?:第[二三四五六七八九十两]次|再次|多次|一再|反复)(?:反映|投诉|举报|提出)"
            r"|已经?(?:反映|投诉|举报)(?:过|了)"
            r"|(?:建议|请问|希望)[^。!?]{0,12}(?:政府|镇里|村里|区里|市里|部门|有关|相关|领导|能否|能不能|可否)"
            r"|(?:有没有|有无|是否有|什么时候|何时)[^。!?]{0,10}(?:规划|计划|解决|处理|答复|回复|落实|整改)"
        ),
        (Effect("request", "request", 2.0), Effect("cancel", "notice")),
    ),
    Pattern(
        "price",
        re.compile(
            r"\d+(?:\.\d+)?\s*(?:元|块钱?)(?:\s*[/每一]\s*(?:斤|个|盒|箱|份|只|件|位|人|月|年))?"
            r"|[¥￥]\s*\d|一(?:斤|盒|箱)\s*\d+|充\d+送\d+"
        ),
        (Effect("negative", "advert", 1.5),),
    ),
    # --- notices: a header, a dated signature, a formal enumeration, an address to all
    Pattern(
        "notice_header",
        re.compile(
            r"^\s*(?:【[^】]{0,10}(?:通知|公告|通告|提示|提醒|公示|预警|宣传|须知|倡议)[^】]{0,6}】"
            r"|(?:紧急|重要|停水|停电|放假)?(?:通知|公告|通告|公示|倡议书?)\s*[:：]"
            r"|(?:温馨)?(?:提示|提醒)\s*[:：]|关于.{2,30}的(?:通知|通告|公告))"
        ),
        (Effect("negative", "notice", 4.0),),
    ),
    Pattern(
        "dated", re.compile(r"\d{4}年\d{1,2}月\d{1,2}日"), (Effect("negative", "notice", 2.0),)
    ),
    Pattern(
        "enumeration",
        re.compile(r"[一二三四五六]、.{2,60}[一二三四五六]、"),
        (Effect("negative", "notice", 3.0),),
    ),
    Pattern(
        "address_to_all",
        re.compile(r"(?:^|\s)各位\w{0,6}(?:村民|居民|群众|家长|业主)"),
        (Effect("negative", "notice", 2.0),),
    ),
    Pattern(
        "scam_header",
        re.compile(r"^\s*【[^】]*(?:反诈|防骗|诈骗)[^】]*】"),
        (Effect("negative", "scam_alert", 4.0),),
    ),
    # --- a fraud victim speaking is public order, not a warning
    Pattern(
        "fraud_victim",
        re.compile(
            r"(?:我|我妈|我爸|我家|我老婆|我老公|我奶奶|我爷爷|家里老人|我们家)"
            rf"{_SENTENCE}{{0,12}}"
            r"(?:被骗|被人骗|上当了|被诈骗|骗了|骗走|发现是假的|才知道是骗子|才发现被骗)"
        ),
        (Effect("category", "public_order", 4.0), Effect("cancel", "scam_alert")),
    ),
    # --- someone did something to us or our things (被人拆走, 被人划了)
    Pattern(
        "done_by_someone",
        re.compile(rf"被人(?!家){_CJK}"),
        (Effect("category", "public_order", 3.0),),
    ),
    # --- sounds written out: 咣咣, 嗡嗡嗡, 咚咚咚
    Pattern(
        "onomatopoeia",
        re.compile(r"([咣哐咚砰嗡叮吱嘭噔隆])\1"),
        (Effect("category", "noise", 2.5),),
    ),
    # --- a dog barking (狗从早叫到晚, 狗一晚上都在叫)
    Pattern(
        "dog_barking",
        re.compile(rf"狗{_CLAUSE}{{0,6}}(?:叫|吠)"),
        (Effect("category", "noise", 3.0),),
    ),
    # --- a factory named (砖厂, 印染厂) is most often the polluter
    Pattern(
        "factory",
        re.compile(rf"{_CJK}{{1,3}}厂(?![家商长房区])"),
        (Effect("category", "pollution", 1.5),),
    ),
    # --- a smell in the air
    Pattern(
        "smell",
        re.compile(rf"一股{_CLAUSE}{{0,6}}(?:味|气)"),
        (Effect("category", "pollution", 2.0),),
    ),
    # --- complaint grammar: 睁不开, 下不去, 买不到 (cannot); 太吓人了 (too much)
    Pattern(
        "cannot",
        re.compile(rf"{_CJK}不[了到去来开着动起住完下上进出成]"),
        (Effect("request", "request", 1.0),),
    ),
    Pattern("too_much", re.compile(rf"太{_CJK}{{1,3}}了"), (Effect("request", "request", 1.0),)),
    # --- asking for a new facility: 能不能在村口加个..., 建议装个...
    Pattern(
        "new_facility",
        re.compile(
            rf"(?:能不能|可不可以|建议|希望){_CLAUSE}{{0,8}}"
            r"(?:加个|装个|建个|设个|开个|修个|增加)"
        ),
        (Effect("category", "other", 2.0),),
    ),
    # --- replacing a lost card or certificate is a question for the office, not a lost item
    Pattern(
        "replace_document",
        re.compile(r"(?:怎么|如何|去哪里?|在哪里?|能不能)补办"),
        (Effect("category", "consult", 3.0), Effect("cancel", "lost_found")),
    ),
    # --- lost and found: a pet or a belonging, not a person
    Pattern(
        "lost_pet",
        re.compile(
            rf"{_PET}(?!主人|主){_CLAUSE}{{0,5}}"
            r"(?:走丢|丢了|跑丢|不见了|跑出去|跑了|没回来)"
            rf"|(?:看到|看见)(?:一只|一条|我家的?){_CLAUSE}{{0,6}}{_PET}"
        ),
        (Effect("negative", "lost_found", 5.0),),
    ),
    Pattern(
        "lost_belonging",
        re.compile(rf"{_LOST}{_CLAUSE}{{0,8}}{_BELONGING}|{_BELONGING}{_CLAUSE}{{0,8}}{_LOST}"),
        (Effect("negative", "lost_found", 4.0),),
    ),
    # --- people who cannot help themselves
    Pattern(
        "missing_person",
        re.compile(
            rf"{_PERSON}{_SENTENCE}{{0,40}}{_MISSING}"
            rf"|(?:走丢|走失)了?{_CLAUSE}{{0,4}}(?:老人|小孩|孩子|男孩|女孩)"
        ),
        (Effect("category", "assistance", 3.0), Effect("urgent", "urgent", 3.0)),
    ),
    Pattern(
        "collapsed",
        re.compile(rf"(?:{_PERSON}|有人|一个人|阿姨){_CLAUSE}{{0,6}}(?:倒在|躺在|摔在)"),
        (Effect("category", "assistance", 3.0), Effect("urgent", "urgent", 3.0)),
    ),
    Pattern(
        "not_seen_for_days",
        re.compile(
            rf"{_DAYS}(?:了|都|也)?(?:没|不)(?:见|看到|看见|出|下|露|开|动|人应|应门|接电话)"
            r"|(?:一个?(?:礼拜|星期|周))(?:了|都)?没(?:见|看到|看见|出|下楼|露面|开门)"
        ),
        (Effect("category", "assistance", 2.0), Effect("urgent", "urgent", 3.0)),
    ),
    Pattern(
        "confused_person",
        re.compile(
            r"(?:说不清|说不出|不知道|不记得|想不起)(?:自己)?(?:的)?(?:家|住)"
            rf"|(?:家在哪|住哪|住在哪){_CLAUSE}{{0,6}}(?:说不|不知道|不记得)"
        ),
        (Effect("category", "assistance", 3.0), Effect("urgent", "urgent", 3.0)),
    ),
    Pattern(
        "child_alone",
        re.compile(rf"(?:小孩|孩子|小男孩|小女孩|小朋友){_CLAUSE}{{0,4}}一个人(?:在|坐|哭|站)"),
        (Effect("category", "assistance", 3.0), Effect("urgent", "urgent", 3.0)),
    ),
    # --- danger now: a weapon in hand, a gas smell
    Pattern(
        "weapon",
        re.compile(r"拿着?[^,.!?;。]{0,2}(?:刀|棍|棒|斧|砖)"),
        (Effect("urgent", "urgent", 3.0),),
    ),
    Pattern(
        "gas_smell",
        re.compile(
            rf"(?:煤气|燃气|天然气|液化气){_CLAUSE}{{0,8}}(?:味|泄漏|漏|断了|破了|嘶嘶|在喷|往外喷)"
        ),
        (Effect("category", "safety", 3.0), Effect("urgent", "urgent", 3.0)),
    ),
    # --- water in people's homes: a burst pipe, a blocked sewer, a flood
    Pattern(
        "water_in_home",
        re.compile(
            rf"{_WATER}{_CLAUSE}{{0,10}}(?:进|灌|涌|漫|冒|倒灌|流)(?:进|到|入)?{_CLAUSE}{{0,3}}{_HOME}"
            rf"|{_HOME}[里内]?(?:已经|都|全)?(?:进水|进了水|全是水|都是水|淹了|入水)"
            rf"|(?:水|淹)(?:已经)?(?:到|过|没过)了?(?:膝盖|腰|大腿|床|脚头窝|小腿肚)"
            r"|入厝"
        ),
        (Effect("urgent", "urgent", 3.0),),
    ),
    # --- fire that spreads
    Pattern(
        "fire_spreading",
        re.compile(
            rf"火(?:舌|苗|势|星)?{_CLAUSE}{{0,6}}(?:窜|蔓延|烧到|烧过来|扑不灭|灭不了|往上烧)"
        ),
        (Effect("category", "safety", 3.0), Effect("urgent", "urgent", 3.0)),
    ),
    # --- a structure about to fall, with people below or inside
    Pattern(
        "about_to_fall",
        re.compile(
            r"(?:随时|马上|眼看|就要|快要)(?:会|要)?(?:倒|塌|垮|掉下|砸下|断)"
            r"|(?:晃|摇|歪|松|鼓|挂|掀)[^.!?。]{0,24}(?:下面|底下|下边)(?:就|还)?(?:是|有)"
            r"|在(?:往下)?掉(?:砖|瓦|石|渣|东西|水泥)"
        ),
        (Effect("category", "safety", 2.0), Effect("urgent", "urgent", 3.0)),
    ),
    # --- fumes that make people ill now
    Pattern(
        "poisoned_air",
        re.compile(
            r"(?:味|烟|气体|气味)[^.!?。]{0,20}"
            r"(?:吐了|呕吐|想吐|喘不过气|喘不上气|呼吸困难|中毒|晕倒|昏倒|送医院)"
        ),
        (Effect("urgent", "urgent", 3.0),),
    ),
    # --- an intruder still there
    Pattern(
        "intruder_inside",
        re.compile(r"(?:撬|小偷|贼|进了人)[^.!?。]{0,16}(?:还在|还没走|没出来|正在)"),
        (Effect("category", "public_order", 3.0), Effect("urgent", "urgent", 3.0)),
    ),
    # --- asking neighbours for a recommendation
    Pattern(
        "recommendation",
        re.compile(
            rf"谁有{_CLAUSE}{{0,8}}(?:电话|联系方式|微信)"
            rf"|(?:哪里|哪家|哪儿)(?:有|可以|能)?{_CLAUSE}{{0,6}}(?:修|卖|买|好吃|便宜|靠谱|好)"
            rf"|有没有{_CLAUSE}{{0,6}}(?:靠谱|推荐|好的|便宜)"
        ),
        (Effect("negative", "recommendation", 3.0),),
    ),
)
"""The patterns of the default lexicon."""
