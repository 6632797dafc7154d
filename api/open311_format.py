"""Open311 GeoReport v2 on the wire: the service catalogue in the district's
words, and rendering in the spec's two formats. The XML element names are the
spec's examples' (`services/service`, `service_definition/attributes/attribute/
values/value`, `service_requests/request`, `errors/error`); JSON is the same
data as lists and objects. docs/open311.md maps every field."""
from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

from fastapi.responses import Response
from pydantic_core import to_json

FORMATS = ("json", "xml")

# category -> (Chinese name, English name, group, keywords). A configured
# category missing here is served under its code.
SERVICES: dict[str, tuple[str, str, str, str]] = {
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

DEPARTMENT_NAMES = {
    "urban_management": "城管", "fire": "消防", "police": "公安派出所", "housing": "房管",
    "environment": "环保", "market_regulation": "市场监管", "sanitation": "环卫",
    "water": "二次供水", "elevator_safety": "特种设备(电梯)安全", "street_office": "街道办事处",
}

# The service definition's attributes: what a whistle carries beyond the
# category and description. `source` counts only for hotline tokens.
ATTRIBUTES: list[dict[str, Any]] = [
    dict(variable=True, code="building", datatype="string", required=False,
         datatype_description="楼号 building number", order=1, description="楼号 Building"),
    dict(variable=True, code="unit", datatype="string", required=False,
         datatype_description="单元 unit", order=2, description="单元 Unit"),
    dict(variable=True, code="grid", datatype="string", required=False,
         datatype_description="网格编号 a grid of the compound", order=3,
         description="网格 Grid"),
    dict(variable=True, code="urgency", datatype="singlevaluelist", required=False,
         datatype_description="默认 normal", order=4, description="紧急程度 Urgency",
         values=[dict(key="normal", name="一般 normal"), dict(key="urgent", name="紧急 urgent")]),
    dict(variable=True, code="source", datatype="singlevaluelist", required=False,
         datatype_description="仅热线令牌 hotline tokens only; 默认 hotline_12345", order=5,
         description="来源 Channel",
         values=[dict(key="hotline_12345", name="12345热线 12345 hotline"),
                 dict(key="resident", name="居民 resident app")]),
]


def service(category: str) -> dict[str, Any]:
    zh, en, group, keywords = SERVICES.get(category, (category, category, "其他", category))
    return dict(service_code=category, service_name=zh, description=en, metadata=True,
                type="realtime", keywords=keywords, group=group)


def department_names(codes: list[str]) -> str:
    return "、".join(DEPARTMENT_NAMES.get(c, c) for c in codes)


# -- rendering ---------------------------------------------------------------
# Element names of a list's items in XML, by the list's own element name.
# Characters XML 1.0 cannot carry at all; text from our own API may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_ITEMS = {"services": "service", "attributes": "attribute", "values": "value",
          "service_requests": "request", "errors": "error"}


def _xml(name: str, value: Any) -> str:
    if value is None:
        return f"<{name}/>"
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    if isinstance(value, dict):
        return f"<{name}>{''.join(_xml(k, v) for k, v in value.items())}</{name}>"
    if isinstance(value, list):
        item = _ITEMS[name]
        return f"<{name}>{''.join(_xml(item, v) for v in value)}</{name}>"
    return f"<{name}>{escape(_NOT_XML.sub(chr(0xFFFD), str(value)))}</{name}>"


def render(fmt: str, root: str, body: Any, status_code: int = 200) -> Response:
    """`body` under the XML root element `root` (a list, or a dict for a
    service definition), or as it is in JSON."""
    if fmt == "xml":
        text = '<?xml version="1.0" encoding="utf-8"?>' + _xml(root, body)
        return Response(text.encode(), status_code=status_code,
                        media_type="text/xml; charset=utf-8")
    return Response(to_json(body), status_code=status_code,
                    media_type="application/json; charset=utf-8")


class Open311Error(Exception):
    """An error answered in the spec's shape with its HTTP status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def error(fmt: str, code: int, description: str) -> Response:
    return render(fmt if fmt in FORMATS else "json", "errors",
                  [dict(code=code, description=description)], code)
