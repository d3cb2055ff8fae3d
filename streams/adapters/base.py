"""What every vendor adapter shares: the request it reads, the errors it raises, how it builds an event.

An adapter turns one vendor webhook request into CloudEvents of contract v1 (structured JSON dicts).
Helpers here read untrusted vendor JSON defensively: a value of the wrong shape is a Rejected with a
bounded Reason, never a KeyError or TypeError, so the gateway can answer 400 for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Callable, Mapping, Protocol

from streams.domain.cloudevents import json_of
from streams.domain.rejections import Reason, Rejected

SPECVERSION = "1.0"


@dataclass(frozen=True)
class VendorRequest:
    url: str                    # the full URL the vendor called, scheme + host + path + query (Twilio signs it)
    headers: Mapping[str, str]  # header names lower-cased
    body: bytes


class Unmapped(Exception):
    """A vendor event type this adapter does not map: the gateway dead-letters it (reason `unmapped`)."""

    def __init__(self, vendor: str, event_type: str, detail: str = "") -> None:
        super().__init__(f"event type {event_type!r} is not mapped" + (f": {detail}" if detail else ""))
        self.vendor = vendor
        self.event_type = event_type
        self.detail = detail


class BadSignature(Exception):
    """The vendor's webhook signature is missing or wrong: the gateway answers 401 and publishes nothing."""


class Adapter(Protocol):
    name: str
    signed: bool  # the vendor signs its webhooks: the gateway calls verify with the configured secret

    def verify(self, request: VendorRequest, secret: str) -> None: ...

    def to_events(self, request: VendorRequest) -> list[dict]: ...


@dataclass(frozen=True)
class EventBridgeAdapter:
    """A vendor whose events an EventBridge rule sends to an API destination: one event per request (or a
    JSON array of them), all mapped or none (Unmapped). EventBridge does not sign what it sends, so the
    gateway authenticates the source itself (the API destination connection's API key or bearer token)."""

    name: str
    map_event: Callable[[dict], dict]
    signed: bool = False

    def verify(self, request: VendorRequest, secret: str) -> None:
        """Nothing to verify: unsigned."""

    def to_events(self, request: VendorRequest) -> list[dict]:
        return [self.map_event(envelope) for envelope in json_objects(request.body)]


def load_json(body: bytes) -> Any:
    return json_of(body, "the vendor payload")


def json_objects(body: bytes) -> list[dict]:
    """One JSON object, or a JSON array of objects (an EventBridge batch), as a list."""
    doc = load_json(body)
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if not isinstance(item, dict):
            raise Rejected(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(item).__name__}")
    return items


def obj(parent: Mapping, key: str, *, required: bool = True) -> dict:
    """parent[key] as an object ({} when absent and optional)."""
    value = parent.get(key)
    if value is None and not required:
        return {}
    if value is None:
        raise Rejected(Reason.MISSING_FIELD, f"the payload has no {key!r}", f"/{key}")
    if not isinstance(value, dict):
        raise Rejected(Reason.WRONG_TYPE, f"{key!r} must be an object, got {type(value).__name__}", f"/{key}")
    return value


def text(parent: Mapping, key: str) -> str | None:
    """parent[key] as trimmed text: strings and integer ids; None when absent, empty or of another type."""
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def need(parent: Mapping, key: str) -> str:
    value = text(parent, key)
    if value is None:
        raise Rejected(Reason.MISSING_FIELD, f"the payload has no text {key!r}", f"/{key}")
    return value


def lower_keys(value: Any) -> dict:
    """An object with its keys lower-cased (vendors that mix camelCase and PascalCase); {} for non-objects."""
    return {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else {}


def rfc3339(value: Any) -> str:
    """A vendor timestamp (ISO 8601 text, or epoch seconds / milliseconds) as RFC 3339 UTC with milliseconds."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if abs(value) >= 1e11 else value
            moment = datetime.fromtimestamp(seconds, UTC)
        elif isinstance(value, str) and value.strip().isdigit():
            return rfc3339(int(value.strip()))
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
            moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
        else:
            raise ValueError(f"{type(value).__name__} is not a timestamp")
    except (ValueError, OverflowError, OSError) as exc:
        raise Rejected(Reason.INVALID_TIME, f"vendor timestamp {value!r} is not a valid time: {exc}", "/time") from exc
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stable_id(*parts: object) -> str:
    """A deterministic event id from the vendor's own fields, for payloads that carry no event id."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def last_segment(arn: str | None) -> str | None:
    """The id at the end of an ARN or path ('.../queue/<id>' -> '<id>')."""
    return arn.rstrip("/").rsplit("/", 1)[-1] or None if arn else None


def check_signature(expected: bytes, header: str | None) -> None:
    """Compare a base64 signature header with the expected digest in constant time."""
    if not header:
        raise BadSignature("the signature header is missing")
    if not hmac.compare_digest(base64.b64encode(expected), header.strip().encode()):
        raise BadSignature("the signature does not match")


def cloudevent(*, source: str, id: str, type: str, time: str, channel: str, customer: dict[str, str],
               contact_id: str | None = None, queue: str | None = None, agent_id: str | None = None,
               direction: str | None = None, attributes: dict | None = None) -> dict:
    """A structured-mode CloudEvent of contract v1; empty optional fields are left out."""
    data: dict[str, Any] = {"channel": channel, "customer": customer}
    optional = {"contact_id": contact_id, "queue": queue, "agent_id": agent_id, "direction": direction}
    data.update({k: v for k, v in optional.items() if v})
    attrs = {k: v for k, v in (attributes or {}).items() if v not in (None, "", {}, [])}
    if attrs:
        data["attributes"] = attrs
    return {"specversion": SPECVERSION, "id": id, "source": source, "type": type, "time": time,
            "datacontenttype": "application/json", "data": data}


def identified(customer: dict[str, str | None], fallback: tuple[str, str]) -> dict[str, str]:
    """The identifiers that are present; when none is, the fallback (kind, value) so the contact is kept.

    The fallback is always the vendor's own id of the person or the contact, never an invented one, so
    an anonymous contact stays one customer across its events and no two contacts are merged by it."""
    found = {kind: value for kind, value in customer.items() if value}
    return found or {fallback[0]: fallback[1]}
