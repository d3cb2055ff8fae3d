"""Dead letters: the original message untouched, plus a machine-readable reason.

The reason travels twice: as headers (cheap routing/filtering by Kafka tools) and as a JSON
document in the `cxpulse-dlq` header (everything a person or `cxpulse dlq` needs). The value,
key and original headers are the inbound ones byte for byte, so `cxpulse dlq replay` can
republish exactly what the channel system sent.
"""

from __future__ import annotations

import time

import orjson

from streams.domain.records import RawMessage
from streams.domain.rejections import Rejected

REASON_HEADER = "cxpulse-dlq-reason"
DETAIL_HEADER = "cxpulse-dlq"


def dead_letter_headers(raw: RawMessage, rejected: Rejected, *, stage: str, origin: str,
                        source: str = "", event_id: str = "") -> list[tuple[str, bytes]]:
    detail = {
        "reason": str(rejected.reason),
        "detail": rejected.detail,
        "path": rejected.path,
        "stage": stage,
        "origin": origin,
        "source": source,
        "id": event_id,
        "published_at": raw.timestamp,
        "rejected_at": time.time(),
    }
    kept = [(n, v) for n, v in raw.headers if n not in (REASON_HEADER, DETAIL_HEADER)]
    return kept + [(REASON_HEADER, str(rejected.reason).encode()), (DETAIL_HEADER, orjson.dumps(detail))]


def read_detail(headers: list[tuple[str, bytes]]) -> dict:
    """The JSON reason document of a dead-letter message ({} when absent)."""
    for name, value in headers:
        if name == DETAIL_HEADER:
            return orjson.loads(value)
    return {}


def original_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Headers as the channel system sent them (for replay)."""
    return [(n, v) for n, v in headers if n not in (REASON_HEADER, DETAIL_HEADER)]
