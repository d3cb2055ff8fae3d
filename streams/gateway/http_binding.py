"""CloudEvents HTTP binding → Kafka binding: what the gateway forwards for one request.

Binary mode (ce-* headers, the body is `data`) stays binary on Kafka (ce_* headers); structured
mode (application/cloudevents+json) and each event of a batch (application/cloudevents-batch+json)
become structured Kafka messages. Ingest then reads them exactly as if the channel system had
written them to Kafka itself. Pure; the gateway validates each message with `ingest.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping
from urllib.parse import quote, unquote

import orjson

from streams.domain.cloudevents import STRUCTURED_CONTENT_TYPE
from streams.domain.rejections import Reason, Rejected

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
HTTP_PREFIX = "ce-"
# The HTTP binding percent-encodes header values outside printable ASCII, and space, '"' and '%'.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


class UnsupportedMediaType(Exception):
    """Neither ce-* headers nor a CloudEvents content type: HTTP 415."""


@dataclass(frozen=True)
class KafkaMessage:
    value: bytes
    headers: list[tuple[str, bytes]]


def from_kafka(value: bytes, headers: list[tuple[str, bytes]]) -> tuple[dict[str, str], bytes]:
    """A Kafka-binding message as an HTTP request (headers, body): what a channel system posts instead."""
    out = {}
    for name, raw in headers:
        if name.startswith("ce_"):
            out[HTTP_PREFIX + name[3:]] = quote(raw.decode(), safe=_HEADER_SAFE)
        elif name.lower() == "content-type":
            out["content-type"] = raw.decode()
    if not out:
        out["content-type"] = STRUCTURED_CONTENT_TYPE
    return out, value


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _binary(headers: Mapping[str, str], body: bytes) -> KafkaMessage:
    out = []
    for name, value in headers.items():
        name = name.lower()
        if name.startswith(HTTP_PREFIX):
            # the HTTP binding percent-encodes header values; Kafka headers carry them as UTF-8
            out.append(("ce_" + name[len(HTTP_PREFIX):], unquote(value, errors="strict").encode()))
    if "content-type" in headers:
        out.append(("content-type", headers["content-type"].encode()))
    return KafkaMessage(body, out)


def _batch(body: bytes, limit: int) -> list[KafkaMessage]:
    try:
        events = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Rejected(Reason.INVALID_JSON, f"batch is not valid JSON: {exc}") from exc
    if not isinstance(events, list):
        raise Rejected(Reason.NOT_AN_OBJECT, f"a batch must be a JSON array of events, got {type(events).__name__}")
    if len(events) > limit:
        raise Rejected(Reason.TOO_LARGE, f"batch of {len(events)} events exceeds the limit of {limit}")
    return [KafkaMessage(orjson.dumps(event), []) for event in events]


def to_kafka(headers: Mapping[str, str], body: bytes, *, max_batch_events: int) -> list[KafkaMessage]:
    """The Kafka messages of one request (header names lower-case); Rejected or UnsupportedMediaType."""
    if "ce-specversion" in headers:
        try:
            return [_binary(headers, body)]
        except UnicodeDecodeError as exc:
            raise Rejected(Reason.INVALID_UTF8, "a ce-* header is not valid percent-encoded UTF-8") from exc
    kind = media_type(headers)
    if kind == STRUCTURED_CONTENT_TYPE:
        return [KafkaMessage(body, [])]
    if kind == BATCH_CONTENT_TYPE:
        return _batch(body, max_batch_events)
    raise UnsupportedMediaType(
        f"content type {kind or '(none)'!r} is not a CloudEvent: send ce-* headers (binary mode), "
        f"{STRUCTURED_CONTENT_TYPE} (structured) or {BATCH_CONTENT_TYPE} (batched)")
