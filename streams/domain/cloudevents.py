"""CloudEvents Kafka protocol binding: turn one Kafka message into a CloudEvent dict.

Structured mode: the value is the whole event as JSON (content type application/cloudevents+json).
Binary mode: attributes travel as ce_* headers and the value is the JSON `data`.
"""

from __future__ import annotations

from typing import Any, Iterable

import orjson

from streams.domain.rejections import Reason, Rejected

CE_PREFIX = "ce_"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


def json_of(value: bytes, what: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as utf:
            raise Rejected(Reason.INVALID_UTF8, f"{what} is not valid UTF-8 (byte {utf.start})") from exc
        raise Rejected(Reason.INVALID_JSON, f"{what} is not valid JSON: {exc}") from exc


def _header_text(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(Reason.INVALID_UTF8, f"header {name} is not valid UTF-8") from exc


def is_binary_mode(headers: Iterable[tuple[str, bytes]]) -> bool:
    return any(name == "ce_specversion" for name, _ in headers)


def decode(value: bytes, headers: list[tuple[str, bytes]] | None) -> tuple[dict[str, Any], str]:
    """Return (event, mode); raise Rejected when the bytes are not a CloudEvent-shaped object."""
    headers = headers or []
    if is_binary_mode(headers):
        event: dict[str, Any] = {}
        for name, raw in headers:
            if name.startswith(CE_PREFIX):
                event[name[len(CE_PREFIX):]] = _header_text(name, raw or b"")
            elif name.lower() == "content-type":
                event["datacontenttype"] = _header_text(name, raw or b"")
        data = json_of(value, "data")
        if not isinstance(data, dict):
            raise Rejected(Reason.NOT_AN_OBJECT, f"binary-mode data must be a JSON object, got {type(data).__name__}")
        event["data"] = data
        return event, "binary"
    event = json_of(value, "event")
    if not isinstance(event, dict):
        raise Rejected(Reason.NOT_AN_OBJECT, f"structured-mode event must be a JSON object, got {type(event).__name__}")
    return event, "structured"
