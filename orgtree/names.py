"""Word lists for the generated Guohuan data set (国欢镇, 涵江区, 莆田市).

Pure data: the generator in :mod:`orgtree.guohuan` picks from these tuples with a seeded
``random.Random``, so their order is part of the data set's identity. Append, do not
reorder, or the generated town changes.
"""

from __future__ import annotations

from typing import Final

TOWN: Final = "国欢镇"
DISTRICT: Final = "涵江区"
CITY: Final = "莆田市"

# Surnames with rough weights for Putian (林 and 陈 dominate the coast of Xinghua).
SURNAMES: Final[tuple[tuple[str, int], ...]] = (
    ("林", 22),
    ("陈", 15),
    ("黄", 9),
    ("郑", 7),
    ("吴", 5),
    ("王", 4),
    ("李", 4),
    ("张", 3),
    ("刘", 3),
    ("蔡", 3),
    ("许", 2),
    ("方", 2),
    ("郭", 2),
    ("翁", 2),
    ("朱", 2),
    ("杨", 1),
    ("徐", 1),
    ("余", 1),
    ("卓", 1),
    ("宋", 1),
    ("游", 1),
    ("柯", 1),
    ("姚", 1),
    ("戴", 1),
    ("詹", 1),
    ("肖", 1),
    ("魏", 1),
    ("彭", 1),
)

# Two-character given names: one character from the first list, one from the second.
GIVEN_MALE_FIRST: Final = "志建文国永金明伟俊德振清海荣春家宏天玉庆锦福耀绍开立向秋元"
GIVEN_MALE_SECOND: Final = "明华强峰辉杰荣生平忠林斌军龙坤雄彬涛鑫源祥煌钦贵顺发标勇阳"
GIVEN_FEMALE_FIRST: Final = "秀丽美淑玉雅晓慧金燕月碧素雪佳婷思梦惠春桂凤小丹"
GIVEN_FEMALE_SECOND: Final = "英芳娟华珍霞琴兰萍红梅玲莹静敏丹凤娥琳燕清妹云洁"


# The fifteen villages: (name, number of grids, share of shop units, share of grids that
# are apartment compounds). 黄霞村 is real (the 国湄•领涵 compound is its grid 16); the
# other names are invented in the style of the area. Grid counts sum to 172.
VILLAGES: Final[tuple[tuple[str, int, float, float], ...]] = (
    ("国欢村", 20, 0.30, 0.45),
    ("黄霞村", 22, 0.28, 0.40),
    ("东楼村", 14, 0.18, 0.20),
    ("沁后村", 9, 0.08, 0.00),
    ("凤岭村", 5, 0.05, 0.00),
    ("锦东村", 12, 0.22, 0.25),
    ("大吴村", 7, 0.06, 0.00),
    ("新前村", 16, 0.25, 0.35),
    ("塘北村", 6, 0.10, 0.00),
    ("后郭村", 11, 0.12, 0.10),
    ("镇前村", 13, 0.35, 0.30),
    ("坝头村", 8, 0.07, 0.00),
    ("洋尾村", 5, 0.05, 0.00),
    ("西埔村", 10, 0.15, 0.10),
    ("霞楼村", 14, 0.20, 0.15),
)

# Corners of a natural village (角落) that residential units are named after.
HAMLETS: Final = (
    "下厝",
    "顶厝",
    "后厝",
    "新厝",
    "前埔",
    "后埔",
    "东头",
    "西头",
    "溪边",
    "宫前",
    "塘边",
    "岭下",
    "港尾",
    "林墩",
    "后洋",
    "田中",
    "埕头",
    "井边",
    "桥头",
    "庵前",
    "坂头",
    "洋中",
    "山边",
    "沟尾",
    "园内",
    "亭下",
)

# Apartment compounds (小区) other than 国湄领涵, which is reserved for 黄霞村 grid 16.
COMPOUNDS: Final = (
    "国欢花园",
    "欢悦府",
    "霞林苑",
    "东楼新村",
    "锦江华府",
    "凤岭嘉园",
    "沁园小区",
    "延福家园",
    "涵翠华庭",
    "荔城名苑",
    "壶山雅居",
    "木兰春晓",
    "新前花园",
    "镇前商住楼",
    "溪畔人家",
    "国欢安置小区",
    "霞楼佳苑",
    "西埔雅苑",
    "后郭新城",
    "锦东公寓",
)

GUOMEI_LINGHAN: Final = "国湄领涵"

COMPOUND_FACILITIES: Final = (
    "小区党群服务中心",
    "幼儿园",
    "地下车库",
    "物业服务中心",
    "业主会所",
    "地面停车场",
    "垃圾分类亭",
)

VILLAGE_FACILITIES: Final = (
    "村部",
    "老年协会活动中心",
    "卫生所",
    "文化礼堂",
    "妈祖宫",
    "祠堂",
    "小学",
    "幼儿园",
    "农贸市场",
    "垃圾中转站",
    "健身广场",
    "党群服务中心",
    "公厕",
    "文化活动中心",
)

SHOP_TYPES: Final = (
    "美发店",
    "便利店",
    "五金店",
    "小吃店",
    "药店",
    "水果店",
    "早餐店",
    "干洗店",
    "快递驿站",
    "茶叶店",
    "电动车行",
    "手机店",
    "兴化米粉店",
    "卤面馆",
    "建材店",
    "母婴店",
    "眼镜店",
    "诊所",
    "面包店",
    "超市",
    "烟酒店",
    "汽修店",
    "装修公司",
    "培训机构",
    "花店",
    "海鲜排档",
    "鞋服店",
    "家电维修",
)

# District departments that take whistle calls: the department column of
# /work/shared/TAXONOMY.md ("生态环境局" there is 涵江生态环境局, "消防" is spelled as
# config.yaml names it), one liaison (部门联络员) each.
DEPARTMENTS: Final = (
    "区司法局",
    "区信访局",
    "涵江生态环境局",
    "镇环卫所",
    "住建局",
    "应急管理局",
    "消防救援大队",
    "派出所",
    "民政局",
    "卫健局",
    "镇综治中心",
    "自来水公司",
)

# Where sunk cadres (下沉人员) come down from: district offices paired with the town.
SUNK_CADRE_SOURCES: Final = (
    "涵江区府办",
    "区委宣传部",
    "区委组织部",
    "区人社局",
    "区农业农村局",
    "区市场监管局",
    "区自然资源局",
    "区城管局",
    "区司法局",
    "区信访局",
)

TOWN_OFFICIAL_TITLES: Final = (
    "镇党委书记",
    "镇长",
    "镇党委副书记",
    "镇人大主席",
    "镇党委组织委员",
    "镇政法委员",
    "镇综治办主任",
    "镇征迁队队长",
)

PARTY_BUILDING_LEADER: Final = "党员楼栋长"
PARTY_BUILDING_LEADER_COUNT: Final = 32

# 党员联系户: households that have a party member as their contact (the article: 2,313).
PARTY_CONTACT_HOUSEHOLDS: Final = 2313
