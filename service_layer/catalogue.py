"""Chinese and English names of the configured departments and categories,
for lists people read. A code missing here is shown by its own words."""
from __future__ import annotations

DEPARTMENTS = {
    "urban_management": ("城管执法", "Urban management"),
    "fire": ("消防救援", "Fire and rescue"),
    "police": ("公安派出所", "Police"),
    "housing": ("房管", "Housing administration"),
    "environment": ("生态环境", "Environment"),
    "market_regulation": ("市场监管", "Market regulation"),
    "sanitation": ("环境卫生", "Sanitation"),
    "water": ("水务", "Water"),
    "elevator_safety": ("电梯安全", "Elevator safety"),
    "street_office": ("街道办事处", "Street office"),
}

# category -> (Chinese name, English name, group, keywords): the groups and
# keywords are Open311's (docs/open311.md).
CATEGORIES: dict[str, tuple[str, str, str, str]] = {
    "illegal_construction": ("违章搭建", "Illegal construction", "城市管理", "违建,私搭乱建"),
    "blocked_fire_lane": ("消防通道堵塞", "Blocked fire lane", "消防安全", "消防通道,占用,堵塞"),
    "flying_wire_charging": ("飞线充电", "Flying-wire e-bike charging", "消防安全",
                             "飞线充电,私拉电线,电动车"),
    "cooking_fume": ("油烟扰民", "Cooking-fume nuisance", "环境", "油烟,餐饮"),
    "leak": ("房屋渗水", "Roof or house leak", "房屋设施", "渗水,漏水,屋顶"),
    "elevator_fault": ("电梯故障", "Elevator fault", "房屋设施", "电梯,困人"),
    "water_supply": ("二次供水", "Water pump or secondary supply", "房屋设施", "水泵,停水,水压"),
    "noise": ("噪声扰民", "Noise", "环境", "噪声,噪音,扰民"),
    "parking_disorder": ("车辆乱停乱放", "Parking disorder", "秩序", "停车,乱停"),
    "corridor_clutter": ("楼道乱堆杂物", "Clutter in corridors", "消防安全", "楼道,杂物,堆放"),
    "green_space_misuse": ("毁绿种菜", "Vegetable plots or poultry on green space", "环境",
                           "绿地,种菜,养鸡"),
    "public_security": ("治安隐患", "Public security", "秩序", "治安,安全隐患"),
    "neighbour_dispute": ("邻里纠纷", "Neighbour dispute", "邻里", "纠纷,邻里"),
}


def named(code: str, catalogue: dict[str, tuple[str, str]]) -> dict[str, str]:
    zh, en = catalogue.get(code, (code, code.replace("_", " ").capitalize()))[:2]
    return dict(code=code, name_zh=zh, name_en=en)
