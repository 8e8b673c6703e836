"""The intake lexicon (词库): weighted cue phrases that the intake parser looks for.

Everything the parser knows about words lives here as data, so that it can be read,
reviewed and extended (``config.yaml`` may add categories or keywords with
:meth:`Lexicon.with_keywords`, place names with :meth:`Lexicon.with_places`) without
touching the matching code in :mod:`tickets.intake`. Rules that need a regular
expression (phone numbers, lost pets, missing people) are in :mod:`tickets.intake.patterns`.

Cues are written as ``{weight: "phrase phrase ..."}`` tiers. Weights mean:

- ``4``: decides the category even against other topic words (着火; a follow-up such as
  上次反映 is a question about a ticket whatever the ticket was about).
- ``3`` (:data:`STRONG`): on its own says what the message is about (化粪池, 噪音).
- ``2`` (:data:`MEDIUM`): a clear topic or problem word that usually needs company.
- ``1`` (:data:`WEAK`): context that tips a close call.

A message becomes a ticket when its best category and the category-free *request* cues
(投诉, 没人管, 好几天了, 坏了 ...) together outweigh the *negative* cues (notices, adverts,
greetings ...). Phrases are matched as substrings of the normalised text (simplified
characters, half-width ASCII, lower case). Three rules keep substrings honest:

- a one-character category cue (吵, 臭, 偷, 火) counts only where jieba segments it as a
  word of its own: 火 in 着了火, not in 火锅;
- a *blocker* hides the cues inside it (臭豆腐 is no smell), and a category phrase inside
  a longer phrase of another category belongs to the longer one (油漆味 is pollution,
  not the 油漆 of a fire hazard);
- within one table overlapping phrases count once, the longest (被偷了 is not both 被偷
  and 偷了), and a phrase repeated in a rant counts once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from tickets.intake.patterns import DEFAULT_PATTERNS, Pattern

__all__ = [
    "CATEGORY_CODES",
    "DEFAULT_LEXICON",
    "MEDIUM",
    "NEGATIVE_KINDS",
    "STRONG",
    "WEAK",
    "CueWeights",
    "Lexicon",
    "LexiconError",
    "cues",
    "split_words",
]

STRONG: Final = 3.0
MEDIUM: Final = 2.0
WEAK: Final = 1.0

CueWeights = Mapping[str, float]
"""Phrase -> weight."""


class LexiconError(ValueError):
    """A lexicon that cannot be used: the message names the table and the phrase."""


def split_words(text: str) -> tuple[str, ...]:
    """Split a space-separated word list (how the tables below are written)."""
    return tuple(text.split())


def cues(tiers: Mapping[float, str]) -> dict[str, float]:
    """Expand ``{weight: "phrase phrase ..."}`` into ``{phrase: weight}``.

    A phrase listed in two tiers keeps the higher weight.
    """
    table: dict[str, float] = {}
    for weight, phrases in tiers.items():
        for phrase in phrases.split():
            table[phrase] = max(weight, table.get(phrase, weight))
    return table


# --- categories (codes from TAXONOMY.md; the order breaks ties) -------------------------

_CATEGORIES: Final[dict[str, dict[float, str]]] = {
    "safety": {
        4.0: "着火 起火 失火 火灾 烧起来 烧着了 起火了",
        3.0: "冒烟 浓烟 在冒烟 冒黑烟 火情 烟很大 烟好大 焦味 烧焦 冒火花 火花 火星 火星子 火光 火苗 电箱 配电箱 "
        "电表箱 电闸箱 变压器 私拉电线 私拉乱接 乱拉电线 乱接电线 飞线充电 飞线 楼道充电 "
        "楼道里充电 推到楼道 推进楼道 推进电梯 入户充电 电瓶车充电 电动车充电 消防通道 "
        "生命通道 安全出口 逃生通道 消防门 消防车 灭火器 消防栓 消火栓 煤气味 燃气味 "
        "天然气 天然气味 液化气 煤气罐 液化气罐 煤气泄漏 燃气泄漏 漏气 泄漏 易燃 易爆 "
        "易燃物 爆炸 危房 墙裂 要塌 快塌 摇摇欲坠 高空抛物 往下扔 往楼下扔 山火 烧山 "
        "野火 烧荒 漏电 触电 电线垂 电线掉 电线老化 线路老化 栏杆断 护栏断 栏杆松 扶手松 "
        "安全隐患 隐患 消防隐患 逃不出来 跑不出来 逃不出去 塌方 滑坡 落石 电线裸露 "
        "被电到 烂尾楼 稀料 高压线 往下掉 外墙瓷砖 瓷砖脱落 漏煤气 煤气漏 燃气漏 漏燃气 电线压断 电线断 卖烟花",
        2.0: "电线杆 电线 充电 消防 烧纸 上坟 煤气 燃气 广告牌 外机 花盆 砸到 砸伤 掉下来 "
        "栏杆 护栏 烟味 着了 锈断 倒塌 防火 危险品 鞭炮 烟花爆竹 出事 会出事 要出事 "
        "砸下来 掉落 脱落 松动 老化 裸露 封死 锁死 楼板 油漆 汽油 柴油 掉下去 容易掉 "
        "开裂 裂缝 防盗窗 围栏 楼梯口 滋滋 火",
        1.5: "电动车 电瓶车 纸箱 杂物 堆满杂物 楼梯间",
        1.0: "危险 太危险 很危险 万一",
    },
    "epidemic": {
        3.0: "核酸 检测点 采样点 采样 阳了 阳性 确诊 抗原 隔离 居家隔离 隔离点 健康码 "
        "行程码 黄码 红码 报备 中高风险 高风险 风险地区 疫情 新冠 疫苗 接种 密接 次密接 "
        "封控 管控区 封控区 发烧咳嗽 退烧药 布洛芬 一米线 外地回来 返乡人员 测温点 测温 "
        "血氧 防疫 疫区",
        2.0: "发烧 咳嗽 检测 口罩 消毒 测体温 刚回来 值守 卡点 扫码 感染 病毒 传染 买不到药 药店 报到",
        1.0: "外地 串门 到处串门 到处跑",
    },
    "assistance": {
        3.0: "独居 独居老人 孤寡 孤寡老人 孤老 五保户 瘫痪 卧床 行动不便 腿脚不方便 "
        "腿脚不便 残疾人 智力障碍 精神障碍 失能 老年痴呆 痴呆 走失 走丢 失踪 联系不上 "
        "晕倒 昏倒 倒在地上 倒地 摔了一跤 叫不醒 不省人事 不答应 喊救命 救命 救助 "
        "困难户 生活困难 没人照顾 无人照顾 上门护理 护理 护工 居家养老 助餐 送餐 流浪 "
        "没地方住 无家可归 辅助器具 几天没见 好几天没见 没见出门 没出门 没人应 打120 "
        "留守儿童 留守老人 空巢老人 断粮 没饭吃 吃不上饭 挨饿 没钱看病 看不起病 工伤 "
        "救济 帮扶 轮椅 低保户 孤儿 单亲 大病 重病 癌症 脑梗 半身不遂 偏瘫 迷路 救护车 "
        "脸色很差 手术",
        2.0: "老太太 老大爷 大爷 阿婆 阿公 阿伯 奶奶 爷爷 摔倒 帮忙找 找找 中风 出院 高血压 "
        "生病 住院 残疾 困难 帮帮她 帮帮他 帮帮我 可怜 一个人住 不见了 看到吗 有人看到 "
        "120 送医院 一个人在家 老两口 照看 物资 慰问 说不出 不说话 没反应 饿了 拐杖",
        1.0: "照顾 一个人 孩子 小孩 老人 哭 医院 帮助",
    },
    "dispute": {
        3.0: "纠纷 调解 调委会 宅基地 地界 边界 界址 打起来 打架 吵架 吵起来 骂人 打人 "
        "被打 打伤 打我 赡养 分家 遗产 继承 侵占 占我家 漏到我家 渗到我家 滴到我家 "
        "滴我家 漏水到我家 不肯赔 不赔 不认账 扯皮 欠钱不还 欠债 家暴 动手 侵犯隐私 "
        "堵我家 挡我家 我家门口停 争地 抢地 闹翻 闹矛盾 祖屋 祖宅 不让我们进 "
        "妇联 离婚 吵闹不休 打骂 占了我家 占用我家 我家田 我家地 我家的地 我家田里 "
        "我家地里 挡光 采光 滴水檐 砍我家 泡坏 泡烂 赔我 要我赔 索赔 抚养费 前夫 前妻 "
        "谈不拢 谈不妥 分红 少分 借钱不还 不还钱 不可开交 堂兄弟",
        2.0: "对门 围墙 砌墙 争议 矛盾 协商 沟通无果 不听 不理 不承认 推卸 兄弟 婆婆 儿媳 "
        "妯娌 叔叔 伯伯 亲戚 赔偿 损失 山地 林地 承包 滴水 占着 不让 不让进 认账 赔钱 "
        "气死 不肯 他不肯 说法 压死 租房 房子的事 菜刀 两家 弄坏 排水管 房租 租客 房东 "
        "欠租 押金 天花板 防水 借给 不还 找他们赔 找他赔 对着我家 那块地 这块地",
        1.0: "邻居 隔壁 楼上 楼下那户 他家 那户 那家 老房子 房子 漏水 跟他说 跟他讲 找他 "
        "说了他 我家 树根",
    },
    "noise": {
        3.0: "噪音 噪声 燥音 扰民 太吵 好吵 很吵 吵死 吵得 吵醒 吵到 吵着 声音太大 "
        "声音很大 声音好大 巨大声 打桩 广场舞 唱k 卡拉ok ktv 电钻 电锤 电锯 切割机 "
        "狗叫 叫个不停 一直叫 鸣笛 按喇叭 敲敲打打 咚咚 砰砰 突突 大吵大闹 夜间施工 "
        "吵闹 喧哗 循环播放 大喊大叫 没法睡 睡不着觉 神经衰弱 震耳 刺耳 噪杂 嘈杂 音箱 "
        "高音喇叭 扩音器 吹吹打打 唱戏 戏班 连唱 到天亮 轰隆 麻将馆 搓麻将 震得 跺脚 脚步声 像打雷 低音炮",
        2.5: "嗡嗡",
        2.0: "装修 施工 音响 喇叭 唢呐 声音 睡不着 休息不了 不让人睡 半夜 凌晨 深夜 鼓风机 "
        "划拳 拖椅子 摔门 跳绳 拍球 音乐 放鞭炮 鞭炮 大声 机器 吵 听得见 哐当 大喊 喊叫 "
        "叫卖 放音乐 烟花爆竹 轰轰 拖拉机 从早到晚 一整晚 整晚 唱歌 整夜 叫到 哗啦 泵车 "
        "冷却塔 拖东西 放烟花",
        1.5: "声 响 震 工地",
        1.0: "晚上 十点 十一点 十二点 中午 休息 午休 早上 货车 加班",
    },
    "sanitation": {
        3.0: "垃圾没人收 没人收 没收垃圾 没来收 没人清 没清理 没人清理 没人打扫 化粪池 粪水 "
        "粪池 垃圾中转站 中转站 垃圾站 垃圾桶 垃圾箱 垃圾池 垃圾堆 垃圾房 垃圾点 建筑垃圾 "
        "装修垃圾 生活垃圾 乱倒 乱扔 乱丢 乱堆 清运 溢出来 公厕 公共厕所 厕所 环卫 保洁 "
        "狗屎 鸟屎 鸽子屎 粪便 死老鼠 死猫 死狗 死猪 死鸡 苍蝇 蚊子 老鼠 蟑螂 蛆 臭气熏天 "
        "发臭 臭死 恶臭 脏乱差 卫生太差 卫生差 拉圾 垃极 剩菜剩饭 污水横流 臭水 垃圾车 "
        "倒垃圾 倾倒 堆成山 堆成小山 排污井 抽粪 扔垃圾 丢垃圾 环卫车 臭水沟 阴沟 清扫 "
        "卫生死角 砖瓦 碎砖 渣土 泔水 馊味 爆满 泡沫饭盒 猫砂 臭烘烘 纸屑 狗粪 鸡屎 鸭屎 垃圾场",
        2.0: "垃圾 打扫 清理 清走 卫生 脏 很脏 好脏 太脏 臭味 臭 堆着 堆满 堆放 落叶 塑料袋 "
        "塑料瓶 泡沫盒 死了一只 尸体 没倒 乱放 屎 馊 饭盒 树叶 碎片 瓷砖碎片 水泥袋 还不清 不清理 不清走",
        1.5: "满地 到处都是 一地 扔到 扔在",
        1.0: "烂了",
    },
    "pollution": {
        # a named polluter's smoke is pollution, not a fire (outweighs safety's 冒烟, 浓烟)
        4.0: "烟囱 烧秸秆 焚烧 烧垃圾 烧塑料 烧橡胶 烧轮胎 烧废料 烧电线 油烟",
        3.0: "排污 偷排 直排 废水 黑水 排放 黄烟 秸秆 废料 刺鼻 呛人 呛鼻 养猪场 养殖场 养鸡场 鸭场 猪场 "
        "牛场 养牛场 鸡场 鸭棚 猪粪 鸡粪 鸭粪 牛粪 油烟 电鱼 毒鱼 炸鱼 死鱼 鱼都死了 鱼漂 "
        "水变黑 发黑 变绿 变红 染成 变色 粉尘 扬尘 灰尘 锯末 木屑 一层灰 全是灰 搅拌站 "
        "挖沙 采砂 盗采 破坏生态 生态 滥砍 乱砍 砍树 污染 环保 化工 废气 排气 偷着排 "
        "往河里 倒进河 印染 电镀 酸味 不明液体 槽罐车 臭气 污水 排进 水体 硫磺 化工厂 "
        "塑料厂 水源地 水源 喷漆 油漆味 味太冲 刺眼 辣眼睛 熏眼睛 废油 机油 排风口 排风 抽油烟机",
        2.0: "工厂 厂里 厂子 作坊 鞋厂 石材厂 加工厂 河里 溪里 河水 溪水 小溪 池塘 山沟 "
        "水渠 烟 烟雾 熏 头晕 难闻 烧烤 熔 泡沫 异味 黑烟 臭味 味道 闻到 直接排 直接往 "
        "橡胶 轮胎 呛 化学 枯死 死了一片",
        1.5: "厂 灰",
        1.0: "臭 河 溪 塑料 海边 打鱼 河道 水库",
    },
    "property": {
        3.0: "物业 物业费 物业公司 业委会 维修基金 公共维修 门禁 电梯坏 电梯又坏 电梯故障 "
        "电梯停 困电梯 电梯困人 电梯卡 保安 门卫 道闸 停车费 公摊 业主 改成停车位 "
        "楼道灯 物管 开发商 物业经理 公共部位 二次供水",
        2.0: "电梯 小区 车位 绿化 绿地 健身器材 水池 地下车库 车库 管理费 报修 水箱 公共区域",
        1.5: "地下室 渗水 楼顶 天台 外墙 单元门 防盗门",
        1.0: "监控",
    },
    "infrastructure": {
        3.0: "路灯 路等 路灯杆 灯杆 井盖 窨井盖 窨井 雨水井 下水道 排水沟 积水 内涝 路面 "
        "塌陷 陷下去 下陷 坑洼 坑坑洼洼 大坑 红绿灯 信号灯 斑马线 人行道 减速带 自来水 "
        "水管爆 水管破 爆管 水压 水质 水发黄 路牌 站牌 公交站 倒灌 树倒 刮倒 横在路 "
        "路中间 路不平 修路 水泥路 道路 村道 拓宽 地砖 桥梁 排水 泥泞 水管 管道破裂 "
        "淹进 水淹 被淹 漂白粉 水浑 黄泥水 没水喝 断水 路基 护坡 涵洞 桥面 路烂 路破 "
        "烂路 破路 排水不畅 排不出去 排不掉 沟渠 盖板 灯罩 主干道 干道 浑浊 压在路上 倒在路上 挡在路上",
        2.0: "马路 路上 这条路 那段路 路口 坑 沙子 怪味 一下雨 下雨天 淹 不亮 一闪一闪 "
        "黑灯瞎火 黑乎乎 黑漆漆 漆黑 线路 过马路 桥 车过不去 会车 太窄 水龙头 白垢 大树 "
        "树枝 淹到 没水 颠 开不过去 过不去 低洼 裂开 电线杆 堵塞 塌了 进水 翻起来 踩空 水沟 没修完",
        1.0: "路 下雨 盖子 洞",
    },
    "public_order": {
        3.0: "小偷 被偷 偷走 偷了 失窃 盗窃 被盗 撬门 撬锁 被撬 撬 被骗 骗了 上当受骗 刷单 "
        "飙车 炸街 改装车 轰油门 狗咬 咬人 被咬 咬伤 咬了 疯狗 恶狗 没拴绳 不拴绳 不牵绳 "
        "没牵绳 流浪狗 野狗 恶犬 大狼狗 摆摊 占道 占道经营 乱摆 摊贩 小贩 菜摊 流动摊 "
        "赌博 聚众 可疑 醉汉 耍酒疯 闹事 被砸 砸了 抢劫 抢了 报案 治安 偷拍 偷东西 "
        "丢东西 翻墙 入室 溜进 闯进 混混 小混混 保护费 敲诈 勒索 黑社会 假药 骗老人 "
        "传销 非法集资 偷电 偷水 被人拿走 被人搬走 划破 扎破 偷窥 猥亵 跟踪 斗殴 持刀 "
        "打砸 神药 治百病 威胁 恐吓 顺走 被人顺 肇事 逃逸 乱撞 女厕所 偷看 变态 见人就扑 扑人 鬼火 狂飙 卖假 假冒伪劣 扒手 赌钱",
        2.0: "偷 骗 咬 拉黑 转账 狗 流氓 乱停 乱停车 偷偷摸摸 报警 派出所 警察 自行车 摩托车 "
        "三轮车 卖东西 交警 城管 上当 陌生人 搬走了 拿走了 冲人 吓哭 大狗 保健品 骚扰 巡逻 转悠 挨家挨户 划了",
        1.5: "占了",
        1.0: "没关好",
    },
    "consult": {
        4.0: "上次反映 之前反映 上个月反映 上周反映 之前报 上次报 上个月报 报的那个 进度 没消息 "
        "有没有结果 处理得怎么样 修了没有 处理了吗 有人处理吗 没回音 没有回音 没动静 "
        "有下文吗 有回复吗 有进展 进展如何 有进展吗",
        3.0: "医保 社保 新农合 农保 合作医疗 养老保险 医疗保险 养老金 补贴 补助 补偿 补偿款 "
        "津贴 低保 特困 居住证 居住证明 户口 上户口 落户 残疾证 优待证 独生子女证 开证明 "
        "办证 审批 手续 缴费 补交 补办 电费 水费 燃气费 停电 停水 来电 来水 政策 拆迁 "
        "征地 征收 青苗 评估 复核 报销 跟进 工单 年审 生育 阶梯 打电话反映 流程 "
        "上牌 驾驶证 营业执照 社保卡 医保卡 身份证办理 办理身份证 准生证 出生证明 结婚证 "
        "退休 新生儿 入学 学位 学区 谁在负责 谁负责 归谁管 哪个部门管 危房改造 水表 读数 "
        "抄表 抄错 是不是免费 免费吗 失业金 确权 确权证 不动产证 "
        "房产证 产权证 公租房 廉租房 恢复供电 什么时候恢复 供电 减免 能不能减免",
        2.0: "请问 想问 问一下 咨询 怎么申请 怎么办理 怎么交 怎么领 在哪里办 哪里办 在哪办 "
        "去哪 哪个部门 需要哪些 要带什么 带什么材料 材料 证明 什么时候发 发了没有 到账 "
        "几点上班 上班时间 能办吗 申请 办理 多少钱 交多少 怎么收 身份证 怎么样了 为什么 "
        "能报 报多少 要多久 多久 是不是要 养老 回复 证件 范围内 批准 充电桩 办卡 电表 "
        "负责人 找谁 反映的 有结果 需不需要 预防针",
        1.0: "什么时候 怎么 吗 哪里",
    },
    "other": {
        3.0: "拖欠工资 欠薪 讨薪 工资不给 农民工工资 欠工资 拖欠 工钱 质量问题 不给退 "
        "消费纠纷 信号差 信号特别差 没信号 网络差 老年食堂 托管班 活动中心 办事不公开 "
        "村务公开 不公开 校车 门牌 门牌号 路名 银行网点 活动室 老年人活动室 养老院 "
        "收费太贵 服务差 服务又差 通天然气 通燃气 通宽带 取不出来 快递点 快递站 健身路径 锻炼没地方 经费 没到位 老年协会 老年大学",
        2.0: "建议 食堂 工资 幼儿园 银行 建一个 装一个 增设 开一趟 公交车 网点 取钱 广播 协会",
        1.5: "不方便",
        1.0: "快递 外卖 上学 考虑 开放",
    },
}

# --- category-free cues ---------------------------------------------------------------

_REQUEST: Final = cues(
    {
        2.0: "投诉 举报 反映 反应一下 没人管 有没有人管 有人管吗 谁来管 谁管 管一管 管管 "
        "管一下 处理一下 处理下 来处理 派人 解决一下 帮忙 帮帮 求助 受不了 忍无可忍 "
        "怎么办 能不能 能否 可不可以 麻烦 坏了 坏掉 损坏 破了 断了 堵了 堵住 堵死 "
        "漏了 不通 满了 没人来 没人修 不修 不管 推三阻四 太差 尽快 赶紧 严重 快打 快叫 "
        "快报警 救命 受不了了 快疯了 要命 过分 太过分 给个说法 讨个说法 要个说法 "
        "不给个说法 怎么回事 不像话 太不像话 没素质 缺德 气人 烦死 一拖再拖 不闻不问 "
        "没下文 不了了之 破损 帮帮我 快来 快下楼 太不方便 没人来拉 离谱 太离谱",
        1.0: "好几天 几天了 一个多月 好久 一直 天天 每天 每次 经常 老是 总是 又 到现在 "
        "至今 还没 没人 没有人 到底 快派 请 希望 ? 不了 谁 拖了 多次 几次 说了 "
        "领导 网格员 网格长 书记 村委 村里 有关部门 相关部门 危险 太危险 很危险 偷偷 太大 "
        "太多 太臭 太脏 太乱 太响 疯了 难受 恶心 不敢 害怕 越来越 乱七八糟 根本 "
        "什么情况 拖着 烦 头疼 无人 不方便 合法吗 合规吗 违法 违规 不合理 凭什么 "
        "出事 迟早 一晚上 整天 公平吗 不公平 太贵 吓人 太吓人 没了 真是服了 服了 没响 不响",
    }
)

_URGENT: Final = cues(
    {
        3.0: "着火 起火 失火 火灾 烧起来 冒烟 冒黑烟 浓烟 烟很大 烟好大 火很大 火往 火光 "
        "煤气味 燃气味 天然气味 漏气 燃气泄漏 煤气泄漏 被困 困在 困人 电梯卡 卡住了 "
        "晕倒 昏倒 倒地 倒在地上 叫不醒 不省人事 起不来 不答应 喊救命 救命 "
        "走失 走丢 失踪 帮忙找 几天没见 好几天没见 没见出门 好几天没出门 没人应 打起来 "
        "在打架 动刀 拿刀 拿着刀 持刀 见血 流血 流了好多血 抓破 咬伤 井盖不见 "
        "井盖没了 井盖被偷 井盖丢 没有井盖 塌陷 陷下去 坍塌 掉进去 淹进屋 "
        "淹到家里 进水了 水淹 被淹 洪水 冒火花 火星子 电线垂 电线掉 触电 山火 横在路 "
        "快报警 快来人 快叫人 打119 打120 110 119 120 正在撬 在撬 爆炸 要爆炸 快下楼 "
        "有人落水 落水 溺水 跳楼 轻生 自杀 菜刀 砍人 追着砍 追人 救护车 叫救护车 迷路 漏煤气 煤气漏 燃气漏 电线压断 压断了 高压线断 高压线掉 电线断 电线断了 压住了 砸中了 打架了 打起来了 "
        # the collapse words of the safety table are emergencies too
        "塌方 滑坡 落石",
        2.0: "卡在 大洞 塌了 没反应 打架",
        1.0: "紧急 赶紧 快来 马上 急 刚才 刚刚 正在",
    }
)

# Words in the same clause before an urgent cue that put it in the past, in a warning or
# in a condition: 去年着过火, 容易引起山火, 差点掉进去, 真着火了消防车都进不来. A worry
# about now (会不会着火了, 怕漏电) stays urgent: the danger may be real.
_HYPOTHETICAL: Final = split_words(
    "去年 上次 以前 之前 上个月 曾经 差点 防止 预防 注意 小心 万一 如果 容易 迟早 "
    "要是 不要 别 又要 快要 一旦 真"
)

# --- not a ticket ---------------------------------------------------------------------

_NEGATIVES: Final[dict[str, dict[float, str]]] = {
    "greeting": {
        3.0: "早上好 中午好 下午好 晚上好 早安 晚安 大家好 新年快乐 新年好 节日快乐 "
        "中秋快乐 国庆快乐 春节快乐 元旦快乐 端午快乐 元宵节快乐 元宵快乐 生日快乐 "
        "周末愉快 欢迎 请多关照 多多关照 大吉",
        2.0: "谢谢 感谢 辛苦了 辛苦 点赞 多谢 太感谢 祝大家 身体健康 万事如意 快乐",
    },
    "resolved": {
        3.0: "修好了 已经好了 已解决 解决了 处理好了 清走了 已经通了 通了 恢复了 盖上了 "
        "修复了 搞定了 已经修 已经处理 已经清 已经来了 已经道歉 来修了 换好了 好多了 "
        "效率真高 效率高 效率很高 点赞 已经亮了 亮了 来水了 来电了 有水了 有电了 清理干净 "
        "已经派人 不用再派人 问题已经 已经有人来 来换了 已经换了 换了新的 拉走了 很及时 "
        "已经找到 找到了",
    },
    "notice": {
        4.0: "紧急通知 重要通知 特此通知 停水通知 停电通知 通告 公告 公示 望周知 "
        "敬请谅解 不便之处 相互转告 互相转告 请相互转告 接上级通知 接镇政府通知 人民政府 "
        "现将有关事项 通知如下 经研究决定 高度重视 认真组织",
        3.0: "温馨提示 温馨提醒 各位村民 各位居民 各位业主 各位家长 各位群众 广大群众 "
        "广大村民 广大居民 请广大 谢谢配合 感谢配合 感谢您的配合 请配合 配合工作 届时 "
        "即日起 请于 提前储水 提前做好准备 做好准备 村民代表大会 宣传 不得 违者 "
        "依法处理 专项整治 各网格长 各单元长 各网格 每户派 每户出 高发期 请拨打 宣传月 "
        "安全知识 查收 请注意查收 已经发放 已发放 准时参加 全体党员 党员大会 适龄 名单报 "
        "报给 各村 义诊 符合条件 申报工作 开始啦 讲座 培训 欢迎大家参加 请勿",
        2.0: "请各位 截止 开会 集合 严禁 禁止 停课 自觉 遵守 相互监督 互相监督 携带 "
        "前完成 及时上报 请大家 积极参与 必要时 注意安全 有需要的 报名",
        1.5: "开展 参加 登记 领取 防范",
        1.0: "注意 提醒 各位 请 通知 不要在 常备 免费",
    },
    "scam_alert": {
        4.0: "反诈 防骗 反诈中心 都是骗子 都是诈骗 是诈骗 别上当 不要上当 千万别信 不要相信 "
        "千万不要相信 别点 不要点 不要点击 转发扩散 谨防 警惕 骗人的 冒充 骗局 "
        "钓鱼网站 不要轻信 一律挂断 骗钱的 都是骗钱 都是假的 是假的 新骗术",
        2.0: "扩散 一定要小心 大家注意 大家小心 注意防范 提高警惕 安全账户 诈骗 "
        "骗子 不要转账 核实 屏幕共享 中奖 链接 别信 陌生来电 打着 凡是",
        1.0: "听说 千万 假冒",
    },
    "advert": {
        4.0: "微信同号 有意者 出售 招租 招聘 包邮 团购 接龙 酬宾 欢迎选购 以旧换新 价格实惠 "
        "砍一刀 投一票 拼多多 上门服务 加微信 私聊我 现摘 新鲜上市 上市啦 大优惠 "
        "高价回收 回收 收购 招生 包过 面议 质保 点个赞 有奖 量大从优 价格可谈 有意私聊 招工 日结 有意联系",
        3.0: "转让 出租 优惠 特价 开业 打折 八折 8折 五折 包吃住 月薪 联系电话 vx v信 需要的 "
        "了解一下 有需要 要的 批发 零售 代购 促销 全场 自提 送到家 九成新 便宜卖 "
        "详情咨询 报名送 礼品 要的提前说 欢迎报名 名额有限",
        2.0: "专业 24小时 链接 下单 价格 便宜 元一斤 块一斤 一斤 月租 宽带 保险",
    },
    "lost_found": {
        4.0: "捡到 拾到 失物招领 寻物启事 失主 认领 必有重谢 重谢 有人捡到 谁捡到 必谢 找到必谢",
        2.0: "丢失 遗失 不知道丢哪 送错",
        1.0: "掉在 掉了 丢了 落在 没回家 快递",
    },
    "recommendation": {
        4.0: "求推荐 推荐一下 有推荐 有没有推荐 推荐一个 哪里有卖 有人用过 有没有熟人 "
        "熟人介绍 哪家好 哪家便宜 哪家店 有人知道哪里 有谁知道 谁知道哪里 借一下 借用一下",
        3.0: "推荐 靠谱 好吃 介绍一下 师傅的电话 借用 多余的 比较好 哪个医生",
        2.0: "有没有人知道 谁知道 谁有 有谁 哪里有 想找个 找个师傅 有没有做 谁家有",
        1.0: "哪家",
    },
    "social": {
        3.0: "哈哈 笑死 真可爱 好可爱 好美 真美 真漂亮 真开心 好开心 恭喜 红包 喝喜酒 "
        "吃饭了没 吃了吗 吃饭没 搞笑 好香 好喝 多亏 比以前好多了 真舒服 很舒服 "
        "收成不错 太好了 真好 真棒 真厉害 在吗 变化真大 变化很大 好玩 顺风车 "
        "吃的什么 喝茶去 好热闹 还不错",
        2.0: "打球 赶集 野餐 比赛 热闹 降温 好热 开心 漂亮 舒服 你们看看 视频 新闻 "
        "打麻将 喝茶 天气 晒不干 添了 照片 天气预报 收好衣服 被子",
        1.0: "听说 钓鱼",
    },
}

NEGATIVE_KINDS: Final = tuple(_NEGATIVES)

# A message made only of these (and emoji, punctuation, a unit or person name before
# them) is a receipt for a notice (回执), never a ticket.
_ACKNOWLEDGEMENTS: Final = frozenset(
    split_words(
        "收到 收到了 已收到 收到收到 已阅 阅 已读 已看 看到了 好的 好 好滴 好嘞 嗯 嗯嗯 ok "
        "okay 明白 明白了 知道 知道了 了解 了解了 没问题 遵命 已转发 转发了 已转 已通知 "
        "已通知到位 通知到位 已传达 传达 已落实 落实 已完成 已办 已知悉 知悉 已签收 "
        "保证完成任务 坚决完成任务 马上转发 马上落实 马上通知 转发到单元群 "
        "收到谢谢 1 +1 好的收到 收到好的"
    )
)

# Words containing a cue that must not count as that cue (火锅 is not a fire).
_BLOCKERS: Final = frozenset(
    split_words(
        "火锅 火车 火腿 火龙果 上火 发火 火爆 红火 火柴 烟花 烟酒 香烟 抽烟 烟草 烟台 "
        "广场舞蹈 门卫室 臭豆腐 狗狗币 路由器 马路边 一路顺风 一路平安 思路 出路 "
        "打电话 电话费 充电宝 手机充电 核实 卫生纸 卫生巾 保洁员工资 老鼠药 生态园 "
        "小区群 业主群 垃圾短信 垃圾广告 流浪狗 流浪猫 狗主人 打不着火 打着火 点不着 "
        "着火点 冒烟囱 声明 名声 心声 口罩 厂家 厂商 咬牙 骗人 哭笑不得 充电器 倒车 "
        "响应 影响 反响 灰色 快递点 快递站 快递柜"
    )
)

# Place names that the location patterns would not find on their own.
_PLACES: Final = ("国欢大道", "国湄•领涵", "国湄·领涵", "国湄领涵", "木兰溪", "涵江大道", "国欢镇")

# Public places that locate a problem (村口, 菜市场旁边). Generic parts of a home
# (楼道, 楼顶) and objects of a complaint (公厕, 垃圾站) are deliberately absent.
_LANDMARKS: Final = split_words(
    "村口 村头 村尾 巷口 十字路口 路口 桥头 桥下面 桥下 桥底下 桥底 桥上 河边 溪边 河堤 江边 "
    "池塘 水库 菜市场 农贸市场 市场 超市 学校 小学 中学 幼儿园 卫生院 医院 祠堂 宫庙 "
    "公园 广场 篮球场 球场 停车场 地下车库 村委会 村部 居委会 老人活动中心 "
    "文化活动中心 活动中心 加油站 公交站 车站 站台 工业区 工地 后山 老街 新街 "
    "安置房 派出所 镇政府 卫生所 菜场 码头 渡口"
)

# Added to jieba's dictionary so that segmentation keeps these together.
_WORDS: Final = split_words(
    "化粪池 窨井盖 窨井 垃圾中转站 中转站 网格员 网格长 单元长 物业费 维修基金 飞线充电 "
    "消防通道 电动车 电瓶车 液化气罐 煤气罐 配电箱 电表箱 秸秆 养猪场 养殖场 宅基地 调委会 "
    "新农合 居住证 健康码 核酸 抗原 退烧药 布洛芬 广场舞 唢呐 鼓风机 减速带 斑马线 国欢大道 "
    "黄霞村 木兰溪 国湄领涵"
)


@dataclass(frozen=True)
class Lexicon:
    """All the words the intake parser weighs, by table.

    ``categories`` maps a category code to its cues; the order of the codes breaks ties
    between equal scores. ``negatives`` maps a kind of non-ticket (notice, advert, ...)
    to its cues; their weights count against a message being a ticket.
    """

    categories: Mapping[str, CueWeights]
    request: CueWeights
    urgent: CueWeights
    negatives: Mapping[str, CueWeights]
    acknowledgements: frozenset[str]
    hypothetical: tuple[str, ...]
    blockers: frozenset[str]
    places: tuple[str, ...]
    landmarks: tuple[str, ...]
    words: tuple[str, ...]
    """Added to jieba's dictionary (化粪池, 窨井盖) so segmentation keeps them whole."""
    patterns: tuple[Pattern, ...] = DEFAULT_PATTERNS
    """Regular-expression rules (phone numbers, lost pets, missing people ...)."""

    def __post_init__(self) -> None:
        if not self.categories:
            raise LexiconError("categories: at least one category is needed")
        tables: list[tuple[str, CueWeights]] = [
            *((f"categories.{code}", table) for code, table in self.categories.items()),
            ("request", self.request),
            ("urgent", self.urgent),
            *((f"negatives.{kind}", table) for kind, table in self.negatives.items()),
        ]
        for name, table in tables:
            for phrase, weight in table.items():
                if not phrase.strip():
                    raise LexiconError(f"{name}: empty phrase")
                if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
                    raise LexiconError(f"{name}: {phrase!r} has weight {weight!r}, need > 0")
        for code in self.categories:
            if not code or not code.isidentifier():
                raise LexiconError(f"categories: {code!r} is not a valid category code")
        # Freeze what callers passed in, so a parser built from us cannot drift.
        object.__setattr__(
            self,
            "categories",
            MappingProxyType({code: _frozen(t) for code, t in self.categories.items()}),
        )
        object.__setattr__(self, "request", _frozen(self.request))
        object.__setattr__(self, "urgent", _frozen(self.urgent))
        object.__setattr__(
            self,
            "negatives",
            MappingProxyType({kind: _frozen(t) for kind, t in self.negatives.items()}),
        )

    @property
    def category_codes(self) -> tuple[str, ...]:
        """The category codes, in tie-breaking order."""
        return tuple(self.categories)

    def with_keywords(
        self,
        category: str,
        keywords: Iterable[str] | Mapping[str, float],
        *,
        weight: float = STRONG,
    ) -> Lexicon:
        """A copy with extra cues for ``category``; an unknown code becomes a new category.

        ``keywords`` is a list of phrases (each gets ``weight``) or a phrase -> weight
        mapping, as ``config.yaml`` may give them. Existing cues keep the higher weight.
        """
        extra = dict(keywords) if isinstance(keywords, Mapping) else dict.fromkeys(keywords, weight)
        merged = dict(self.categories.get(category, {}))
        for phrase, w in extra.items():
            merged[phrase] = max(w, merged.get(phrase, w))
        categories = dict(self.categories)
        categories[category] = merged
        return replace(self, categories=categories)

    def with_places(self, places: Iterable[str]) -> Lexicon:
        """A copy that also recognises these place names (villages, compounds, roads)."""
        known = dict.fromkeys(self.places)
        known.update(dict.fromkeys(p for p in places if p.strip()))
        return replace(self, places=tuple(known))


def _frozen(table: CueWeights) -> CueWeights:
    return MappingProxyType({phrase: float(weight) for phrase, weight in table.items()})


DEFAULT_LEXICON: Final = Lexicon(
    categories={code: cues(tiers) for code, tiers in _CATEGORIES.items()},
    request=_REQUEST,
    urgent=_URGENT,
    negatives={kind: cues(tiers) for kind, tiers in _NEGATIVES.items()},
    acknowledgements=_ACKNOWLEDGEMENTS,
    hypothetical=_HYPOTHETICAL,
    blockers=_BLOCKERS,
    places=_PLACES,
    landmarks=_LANDMARKS,
    words=_WORDS,
)
"""The twelve categories of TAXONOMY.md with their cues."""

CATEGORY_CODES: Final = DEFAULT_LEXICON.category_codes
