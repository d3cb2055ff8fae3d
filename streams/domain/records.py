"""Typed records that flow between stages on the internal topics (msgpack via msgspec).

Internal topics are not a public contract: they carry msgspec Structs for speed. The public
inbound contract is the JSON Schema set under schemas/events.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

# Strongest first: the identifier a customer is keyed by until identity stitching resolves them.
IDENTIFIER_PRIORITY = ("customer_id", "account_id", "email", "phone", "social", "device_id", "visitor_id")


def customer_key(customer: dict[str, str]) -> str:
    """'kind:value' of the strongest of these (normalized) identifiers, "" when there is none."""
    for kind in IDENTIFIER_PRIORITY:
        value = customer.get(kind)
        if value:
            return f"{kind}:{value}"
    return ""


class IdentifierIssue(msgspec.Struct, array_like=True, frozen=True):
    """An identifier with no normal form (a withheld caller ID, an impossible number, a malformed
    email): kept raw for the record in cx.events, never used for stitching."""

    kind: str  # identifier kind, as in `customer`
    reason: str  # streams.domain.normalize.Refusal: withheld | invalid | malformed
    raw: str  # the value as sent


class CxEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One valid, normalized inbound event."""

    source: str
    id: str
    type: str
    time: datetime  # UTC
    channel: str
    customer: dict[str, str]  # identifier kind -> normalized value
    contact_id: str = ""
    queue: str = ""
    agent_id: str = ""
    direction: str = ""
    subject: str = ""
    attributes: dict[str, object] = msgspec.field(default_factory=dict)
    origin: str  # topic:partition:offset of the inbound message; tells redeliveries from duplicates
    received_at: float  # ingest wall clock, seconds since the epoch
    mode: str = "structured"  # CloudEvents Kafka binding mode it arrived in
    resolved_customer: str = ""  # canonical customer id (c_...), set by the identity stage
    identifier_issues: list[IdentifierIssue] = msgspec.field(default_factory=list)  # not in `customer`
    # kind -> masked display form (streams.domain.pseudonyms.mask); set only in pseudonymized mode
    identifier_masks: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def customer_key(self) -> str:
        """'kind:value' of the strongest identifier: cx.events.customer_key, and the gateway's
        message key for an event with no contact id."""
        return customer_key(self.customer)

    @property
    def dedup_key(self) -> str:
        return f"{self.source}\x1f{self.id}"


class RawMessage(msgspec.Struct, kw_only=True):
    """The inbound Kafka message exactly as received, kept so a later stage can dead-letter it untouched."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    timestamp: float  # Kafka record timestamp, seconds


class Validated(msgspec.Struct, kw_only=True):
    """Ingest -> dedup: the normalized event plus its original message."""

    event: CxEvent
    raw: RawMessage


_encoder = msgspec.msgpack.Encoder()

encode = _encoder.encode
decode_validated = msgspec.msgpack.Decoder(Validated).decode
decode_event = msgspec.msgpack.Decoder(CxEvent).decode


class _Resolving(msgspec.Struct, array_like=True):
    customer: str
    event: msgspec.Raw  # the event as dedup encoded it, copied as it is


class _Resolved(msgspec.Struct, array_like=True):
    customer: str
    event: CxEvent


_decode_resolved = msgspec.msgpack.Decoder(_Resolved).decode
_ARRAY_OF_TWO = 0x92  # msgpack fixarray header of a `_Resolving`; an event alone starts with a map


def encode_resolved(customer: str, event: bytes) -> bytes:
    """A record of the resolved topic: [customer, event], `event` an encoded CxEvent left as it is, so
    the identity stage neither decodes nor re-encodes the events it resolves (it did until 2026-12-07)."""
    return encode(_Resolving(customer, msgspec.Raw(event)))


def decode_resolved(value: bytes) -> CxEvent:
    """A record of the resolved topic as the event with `resolved_customer` set; a record written before
    2026-12-07 (the event alone, its customer inside) reads as it is."""
    if value[0] != _ARRAY_OF_TWO:
        return decode_event(value)
    record = _decode_resolved(value)
    event = record.event
    event.resolved_customer = record.customer
    return event
