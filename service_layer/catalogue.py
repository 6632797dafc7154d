"""Chinese and English names of the configured departments and categories,
for lists people read. A code missing here is shown by its own words."""
from __future__ import annotations

DEPARTMENTS = {
    "urban_management": ("城管执法", "Urban management"),
    "fire": ("消防救援", "Fire and rescue"),
    "police": ("公安派出所", "Police"),
    "housing": ("住房和城乡建设", "Housing and construction"),
    "environment": ("生态环境", "Environment"),
    "market_regulation": ("市场监管", "Market regulation"),
    "sanitation": ("环境卫生", "Sanitation"),
    "water": ("水务", "Water"),
    "elevator_safety": ("电梯安全", "Elevator safety"),
    "street_office": ("街道办事处", "Street office"),
}

CATEGORIES = {
    "illegal_construction": ("违法建设", "Illegal construction"),
    "blocked_fire_lane": ("消防通道堵塞", "Blocked fire lane"),
    "flying_wire_charging": ("飞线充电", "Flying-wire charging"),
    "cooking_fume": ("油烟扰民", "Cooking fumes"),
    "leak": ("漏水", "Leak"),
    "elevator_fault": ("电梯故障", "Elevator fault"),
    "water_supply": ("供水", "Water supply"),
    "noise": ("噪音扰民", "Noise"),
    "parking_disorder": ("停车乱象", "Parking disorder"),
    "corridor_clutter": ("楼道堆物", "Corridor clutter"),
    "green_space_misuse": ("毁绿占绿", "Green space misuse"),
    "public_security": ("治安", "Public security"),
    "neighbour_dispute": ("邻里纠纷", "Neighbour dispute"),
}


def named(code: str, catalogue: dict[str, tuple[str, str]]) -> dict[str, str]:
    zh, en = catalogue.get(code, (code, code.replace("_", " ").capitalize()))
    return dict(code=code, name_zh=zh, name_en=en)
