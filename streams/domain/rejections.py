"""Why an inbound message was refused: a bounded set of reason codes.

Each code is a Prometheus label value, a DLQ header value and a row in cx.dead_letters, so the
set must stay small and stable; `detail` carries the human explanation.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    TOO_LARGE = "too_large"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_CHANNEL = "unknown_channel"
    SCHEMA_VIOLATION = "schema_violation"
    INVALID_TIME = "invalid_time"
    TIME_SKEW = "time_skew"
    DUPLICATE = "duplicate"
    UNMAPPED = "unmapped"  # a vendor event type its adapter does not map (stage "gateway", the vendor named)
    WEBHOOK_FAILED = "webhook_failed"  # an alert a webhook kept refusing (stage "webhook")


class Rejected(Exception):
    """An event that fails the contract; it goes to the dead-letter topic, never stops the stage."""

    def __init__(self, reason: Reason, detail: str, path: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.path = path
