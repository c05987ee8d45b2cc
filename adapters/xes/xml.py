"""XML text helpers for streaming writers: attribute escaping and xs:dateTime timestamps."""

from __future__ import annotations

import re
from datetime import datetime

_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
_XS_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


def _replace(match: re.Match) -> str:
    # Characters XML 1.0 cannot carry at all become U+FFFD, so the file stays well-formed.
    return _ENTITIES.get(match.group(), "\ufffd")


def attr(value: object) -> str:
    """`value` as text safe inside a double-quoted XML attribute."""
    text = value if isinstance(value, str) else str(value)
    if _SPECIAL.search(text) is None:
        return text
    return _SPECIAL.sub(_replace, text)


def timestamp(value: str) -> str:
    """An ISO 8601 instant with offset as xs:dateTime; raises ValueError without an offset."""
    if len(value) == 25 and value[10] == "T" and value[19] in "+-" and value[22] == ":" and value[:4].isdigit():
        return value  # the common 'YYYY-MM-DDThh:mm:ss+07:00'
    if _XS_DATETIME.match(value):
        return value
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return moment.isoformat()
