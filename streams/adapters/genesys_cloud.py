"""Genesys Cloud conversation detail events, as its Amazon EventBridge integration delivers them.

The envelope follows "Amazon EventBridge integration" (Genesys Cloud Developer Center,
https://developer.genesys.cloud/notificationsalerts/notifications/event-bridge): `detail-type` is the
topic pattern, `detail` holds `topicName`, `version`, `eventBody` and `metadata`. Event bodies follow the
detail event schemas the Genesys SDKs publish (AcdStartDetailEventTopicAcdStartEvent, AcdEndDetail...,
CustomerStart/EndDetail..., UserStartDetail...: MyPureCloud/platform-client-sdk-python build/docs):
eventTime in epoch ms, mediaType, messageType, direction, ani/dnis, queueId, userId, acdOutcome,
disconnectType.
"""

from __future__ import annotations

from streams.adapters.base import (EventBridgeAdapter, Unmapped, cloudevent, identified, need, obj,
                                   rfc3339, text)

NAME = "genesys-cloud"
TOPIC_PREFIX = "v2.detail.events.conversation."
TYPES = {"customer.start": "cx.contact.started", "acd.start": "cx.contact.queued",
         "user.start": "cx.contact.assigned", "customer.end": "cx.contact.ended"}
ACD_OUTCOMES = {"ANSWERED": "cx.contact.answered", "ABANDON": "cx.contact.abandoned",
                "FLOW_OUT": "cx.contact.transferred"}
MEDIA = {"VOICE": "voice", "CALLBACK": "voice", "CHAT": "chat", "EMAIL": "email"}
MESSAGES = {"SMS": "sms", "WHATSAPP": "whatsapp", "WEBMESSAGING": "chat", "OPEN": "chat", "FACEBOOK": "social",
            "TWITTER": "social", "INSTAGRAM": "social", "LINE": "social", "APPLE": "social"}
ADDRESS_SCHEMES = ("tel", "sip", "mailto")


def _suffix(detail_type: str) -> str:
    """'v2.detail.events.conversation.{id}.acd.end' -> 'acd.end'."""
    if not detail_type.startswith(TOPIC_PREFIX):
        return ""
    return detail_type[len(TOPIC_PREFIX):].partition(".")[2]


def _kind(topic: str, body: dict) -> str:
    if topic == "acd.end":
        outcome = str(body.get("acdOutcome") or "").upper()
        if outcome not in ACD_OUTCOMES:
            raise Unmapped(NAME, f"acd.end with acdOutcome {outcome or '(none)'}")
        return ACD_OUTCOMES[outcome]
    if topic not in TYPES:
        raise Unmapped(NAME, topic or "(no topic)", "subscribe only the topics docs/adapters.md lists")
    return TYPES[topic]


def _channel(body: dict, topic: str) -> str:
    media = str(body.get("mediaType") or "").upper()
    channel = MESSAGES.get(str(body.get("messageType") or "").upper()) if media == "MESSAGE" else MEDIA.get(media)
    if channel is None:
        raise Unmapped(NAME, f"{topic} on mediaType {media or '(none)'}", "no contract channel for it")
    return channel


def _address(value: str | None) -> str | None:
    """'tel:+15555550520' -> '+15555550520'; 'sip:+1555...@host;user=phone' -> '+1555...'; 'mailto:a@b' -> 'a@b'."""
    scheme, colon, rest = (value or "").partition(":")
    if not colon or scheme.lower() not in ADDRESS_SCHEMES:
        return value
    rest = rest.split(";", 1)[0]
    return rest if scheme.lower() == "mailto" else rest.split("@", 1)[0]


def _customer(body: dict, channel: str, conversation_id: str) -> dict[str, str]:
    outbound = str(body.get("direction") or "").upper() == "OUTBOUND"
    phone = _address(text(body, "dnis" if outbound else "ani"))
    email = _address(text(body, "addressTo" if outbound else "addressFrom"))
    contact = text(body, "externalContactId")
    found = {"visitor_id": f"{NAME}:contact:{contact}" if contact else None}
    if channel in ("voice", "sms", "whatsapp"):
        found["phone"] = phone
    elif channel == "email" and email and "@" in email:
        found["email"] = email
    elif channel == "social" and phone:
        found["social"] = f"{str(body.get('messageType')).lower()}:{phone}"
    return identified(found, ("visitor_id", f"{NAME}:conversation:{conversation_id}"))


def _source(envelope: dict) -> str:
    """'aws.partner/genesys.com/cloud/<organization id>/<suffix>' -> 'genesys-cloud/<organization id>'."""
    parts = str(envelope.get("source") or "").split("/")
    return f"{NAME}/{parts[3]}" if len(parts) > 3 and parts[3] else NAME


def _event(envelope: dict) -> dict:
    detail = obj(envelope, "detail")
    topic = _suffix(str(envelope.get("detail-type") or detail.get("topicName") or ""))
    body = obj(detail, "eventBody")
    kind = _kind(topic, body)
    conversation_id = need(body, "conversationId")
    channel = _channel(body, topic)
    direction = str(body.get("direction") or "").lower()
    return cloudevent(
        source=_source(envelope),
        id=need(envelope, "id"),
        type=kind,
        time=rfc3339(body["eventTime"] if "eventTime" in body else need(envelope, "time")),
        channel=channel,
        customer=_customer(body, channel, conversation_id),
        contact_id=conversation_id,
        queue=text(body, "queueId"),
        agent_id=text(body, "answeredUserId") or text(body, "userId"),
        direction=direction if direction in ("inbound", "outbound") else None,
        attributes={"disconnect_type": text(body, "disconnectType"), "acd_outcome": text(body, "acdOutcome"),
                    "participant_id": text(body, "participantId"), "media_type": text(body, "mediaType"),
                    "message_type": text(body, "messageType")},
    )


ADAPTER = EventBridgeAdapter(NAME, _event)
