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

from service_layer.catalogue import CATEGORIES, DEPARTMENTS

FORMATS = ("json", "xml")

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
    zh, en, group, keywords = CATEGORIES.get(category, (category, category, "其他", category))
    return dict(service_code=category, service_name=zh, description=en, metadata=True,
                type="realtime", keywords=keywords, group=group)


def department_names(codes: list[str]) -> str:
    return "、".join(DEPARTMENTS.get(c, (c,))[0] for c in codes)


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
