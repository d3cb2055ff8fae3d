"""Amazon Connect contact events, as EventBridge delivers them ("Amazon Connect Contact Event").

Fixtures and field names follow "Amazon Connect contact events" (Amazon Connect Administrator Guide,
https://docs.aws.amazon.com/connect/latest/adminguide/contact-events.html). Connect writes the detail in
camelCase in some samples and PascalCase in others, so keys are read case-insensitively.
"""

from __future__ import annotations

from streams.adapters.base import (EventBridgeAdapter, Unmapped, cloudevent, identified, last_segment,
                                   lower_keys, need, obj, rfc3339, text)

NAME = "amazon-connect"
DETAIL_TYPE = "Amazon Connect Contact Event"
CHANNELS = {"VOICE": "voice", "CHAT": "chat", "EMAIL": "email"}
SUBTYPES = {"connect:sms": "sms", "connect:whatsapp": "whatsapp"}  # segment attribute connect:Subtype of a chat
DIRECTIONS = {"INBOUND": "inbound", "OUTBOUND": "outbound", "EXTERNAL_OUTBOUND": "outbound",
              "CALLBACK": "outbound", "AGENT_REPLY": "outbound"}
ENDPOINT_KINDS = {"TELEPHONE_NUMBER": "phone", "EMAIL_ADDRESS": "email"}
# eventType -> contract type and the detail timestamp that dates it (else the EventBridge time)
TYPES = {
    "INITIATED": ("cx.contact.started", ("initiationtimestamp",)),
    "QUEUED": ("cx.contact.queued", ("queueinfo", "enqueuetimestamp")),
    "CONNECTED_TO_AGENT": ("cx.contact.answered", ("agentinfo", "connectedtoagenttimestamp")),
    "DISCONNECTED": ("cx.contact.ended", ("disconnecttimestamp",)),
    "PAUSED": ("cx.contact.hold", ()),
    "RESUMED": ("cx.contact.resumed", ()),
}


def _at(detail: dict, path: tuple[str, ...]):
    value = detail
    for key in path:
        value = lower_keys(value).get(key)
    return value


def _stamped(value) -> bool:
    """Connect writes 1970-01-01T00:00:00.001Z where a timestamp is not set yet."""
    return isinstance(value, str) and bool(value) and not value.startswith("1970-")


def _channel(detail: dict, event_type: str) -> str:
    raw = str(detail.get("channel") or "").upper()
    subtype = lower_keys(detail.get("segmentattributes")).get("connect:subtype")
    subtype = lower_keys(subtype).get("valuestring", subtype)
    if raw == "CHAT" and isinstance(subtype, str) and subtype.lower() in SUBTYPES:
        return SUBTYPES[subtype.lower()]
    if raw not in CHANNELS:
        raise Unmapped(NAME, f"{event_type} on channel {raw or '(none)'}",
                       "only VOICE, CHAT and EMAIL contacts are customer contacts (TASK is back-office work)")
    return CHANNELS[raw]


def _customer(detail: dict, contact_key: str) -> dict[str, str]:
    endpoint = lower_keys(detail.get("customerendpoint"))
    kind = ENDPOINT_KINDS.get(str(endpoint.get("type", "TELEPHONE_NUMBER")).upper())
    found = {"customer_id": text(detail, "customerid")}
    if kind:
        found[kind] = text(endpoint, "address")
    return identified(found, ("visitor_id", f"{NAME}:{contact_key}"))


def _event(envelope: dict) -> dict:
    if envelope.get("detail-type") != DETAIL_TYPE:
        raise Unmapped(NAME, str(envelope.get("detail-type") or "(no detail-type)"),
                       f"only {DETAIL_TYPE!r} is mapped")
    detail = lower_keys(obj(envelope, "detail"))
    event_type = str(detail.get("eventtype") or "(no eventType)")
    if event_type not in TYPES:
        raise Unmapped(NAME, event_type, "see docs/adapters.md for the event pattern to filter on")
    kind, stamp_path = TYPES[event_type]
    contact_id = need(detail, "contactid")
    agent = lower_keys(detail.get("agentinfo"))
    queue = lower_keys(detail.get("queueinfo"))
    attributes = {"initiation_method": text(detail, "initiationmethod"),
                  "initial_contact_id": text(detail, "initialcontactid"),
                  "previous_contact_id": text(detail, "previouscontactid"),
                  "disconnect_reason": text(lower_keys(detail.get("disconnectreason")), "code")
                  or text(detail, "disconnectreason")}
    if event_type == "DISCONNECTED" and not _stamped(agent.get("connectedtoagenttimestamp")):
        # never reached an agent: abandoned if it waited in a queue; one that never queued (IVR only, an
        # unanswered outbound dial) stays ended, so self-service does not count as abandonment
        kind = "cx.contact.abandoned" if _stamped(queue.get("enqueuetimestamp")) else kind
    stamp = _at(detail, stamp_path) if stamp_path else None
    return cloudevent(
        source=f"{NAME}/{last_segment(need(detail, 'instancearn'))}",
        id=need(envelope, "id"),
        type=kind,
        time=rfc3339(stamp if _stamped(stamp) else need(envelope, "time")),
        channel=_channel(detail, event_type),
        customer=_customer(detail, text(detail, "initialcontactid") or contact_id),
        contact_id=contact_id,
        queue=last_segment(text(queue, "queuearn")),
        agent_id=last_segment(text(agent, "agentarn")),
        direction=DIRECTIONS.get(str(detail.get("initiationmethod") or "").upper()),
        attributes=attributes,
    )


ADAPTER = EventBridgeAdapter(NAME, _event)
