"""Twilio TaskRouter event callbacks (the workspace's Event Callback URL), form-encoded.

Parameters follow "TaskRouter Events reference" (https://www.twilio.com/docs/taskrouter/api/event/reference);
the signature follows "Secure webhooks" (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
base64 HMAC-SHA1, keyed with the auth token, of the full URL followed by every POST parameter name and
value, sorted. Customer identifiers come from TaskAttributes: `from`/`to` of voice and messaging tasks,
and the Flex Insights `customers` object ("Enhance Flex Insights with task attributes").
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from streams.adapters.base import (
    BadSignature,
    Unmapped,
    VendorRequest,
    check_signature,
    cloudevent,
    identified,
    load_json,
    need,
    obj,
    rfc3339,
    stable_id,
    text,
)
from streams.domain.rejections import Reason, Rejected

NAME = "twilio"
SIGNATURE_HEADER = "x-twilio-signature"
TYPES = {
    "task.created": "cx.contact.started",
    "task-queue.entered": "cx.contact.queued",
    "reservation.created": "cx.contact.assigned",
    "reservation.accepted": "cx.contact.answered",
    "task.canceled": "cx.contact.abandoned",  # only a pending or reserved task (never assigned) can be canceled
    "task.wrapup": "cx.contact.ended",         # the conversation is over, the agent wraps up
    "task.completed": "cx.contact.ended",      # the end for tasks completed without wrap-up
}
# Flex channelType of a messaging task, else the task channel's unique name
CHANNELS = {"voice": "voice", "sms": "sms", "whatsapp": "whatsapp", "chat": "chat", "web": "chat",
            "email": "email", "messenger": "social", "facebook": "social", "instagram": "social",
            "line": "social", "gbm": "social"}
ADDRESS_SCHEMES = ("whatsapp", "sms", "tel")  # prefixes of a phone address ("whatsapp:+14155550100")
DEFAULT_PORTS = {"https": "443", "http": "80"}


def _urls(url: str) -> set[str]:
    """The URL as given, without its port and with the default port: Twilio's own validators try all three."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    except ValueError:  # not a URL or not a port number: nothing to vary
        return {url}
    default = DEFAULT_PORTS.get(parts.scheme)
    variants = {url, urlunsplit(parts._replace(netloc=host))}
    if default:
        variants.add(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
    return variants


def signature(url: str, params: list[tuple[str, str]], auth_token: str) -> bytes:
    """HMAC-SHA1 of the URL and the sorted parameters (repeated names sorted by value), as Twilio computes it."""
    payload = url + "".join(name + value for name, value in sorted(set(params)))
    return hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()


def _params(body: bytes) -> dict[str, str]:
    try:
        form = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(Reason.INVALID_UTF8, f"the form body is not valid UTF-8 (byte {exc.start})") from exc
    return dict(parse_qsl(form, keep_blank_values=True))


def _attributes(params: dict[str, str]) -> dict:
    raw = params.get("TaskAttributes")
    attributes = load_json(raw.encode()) if raw else {}
    if not isinstance(attributes, dict):
        raise Rejected(Reason.NOT_AN_OBJECT, "TaskAttributes must be a JSON object", "/TaskAttributes")
    return attributes


def _channel(params: dict[str, str], attributes: dict, event_type: str) -> str:
    kind = (text(attributes, "channelType") or params.get("TaskChannelUniqueName") or "").lower()
    address = text(attributes, "from") or ""
    prefix = address.partition(":")[0].lower() if ":" in address else ""
    kind = prefix if prefix in CHANNELS and kind in ("chat", "sms", "default", "") else kind
    if kind not in CHANNELS:
        raise Unmapped(NAME, f"{event_type} on channel {kind or '(none)'}", "no contract channel for it")
    return CHANNELS[kind]


def _customer(attributes: dict, channel: str, task_sid: str) -> dict[str, str]:
    flex = obj(attributes, "customers", required=False)
    outbound = (text(attributes, "direction") or "").startswith("outbound")
    address = text(attributes, "to" if outbound else "from") or ""
    network, colon, rest = address.partition(":")
    network = network.lower() if colon else ""
    bare = rest if network in ADDRESS_SCHEMES else address
    found = {"customer_id": text(flex, "external_id"), "account_id": text(flex, "account_number"),
             "email": text(flex, "email"), "phone": text(flex, "phone")}
    if channel in ("voice", "sms", "whatsapp"):
        found["phone"] = found["phone"] or bare or None
    elif channel == "email" and "@" in bare:
        found["email"] = found["email"] or bare
    elif channel == "social" and colon:
        found["social"] = address
    # a web chat's `from` is the name the visitor typed: not an identifier
    return identified(found, ("visitor_id", f"{NAME}:{task_sid}"))


class Twilio:
    name = NAME
    signed = True

    def verify(self, request: VendorRequest, secret: str) -> None:
        header = request.headers.get(SIGNATURE_HEADER)
        params = parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        for url in _urls(request.url):
            try:
                return check_signature(signature(url, params, secret), header)
            except BadSignature:
                continue
        raise BadSignature(f"{SIGNATURE_HEADER} is missing" if not header else f"{SIGNATURE_HEADER} does not match")

    def to_events(self, request: VendorRequest) -> list[dict]:
        params = _params(request.body)
        event_type = need(params, "EventType")
        if event_type not in TYPES:
            raise Unmapped(NAME, event_type, "set the workspace EventsFilter to the mapped types (docs/adapters.md)")
        task_sid = need(params, "TaskSid")
        attributes = _attributes(params)
        channel = _channel(params, attributes, event_type)
        stamp = params.get("TimestampMs") or need(params, "Timestamp")
        event_id = params.get("Sid") or stable_id(params.get("WorkspaceSid"), event_type, params.get("ResourceSid"),
                                                  task_sid, params.get("ReservationSid"), stamp)
        direction = (text(attributes, "direction") or "").partition("-")[0]
        return [cloudevent(
            source=f"{NAME}/{need(params, 'WorkspaceSid')}",
            id=event_id,
            type=TYPES[event_type],
            time=rfc3339(stamp),
            channel=channel,
            customer=_customer(attributes, channel, task_sid),
            contact_id=task_sid,
            queue=params.get("TaskQueueName") or params.get("TaskQueueSid"),
            agent_id=params.get("WorkerSid") if event_type.startswith("reservation.") else None,
            direction=direction if direction in ("inbound", "outbound") else None,
            attributes={"task_channel": params.get("TaskChannelUniqueName"), "call_sid": text(attributes, "call_sid"),
                        "resolution": params.get("TaskCompletedReason") if event_type == "task.completed" else None,
                        "canceled_reason": params.get("TaskCanceledReason")},
        )]


ADAPTER = Twilio()
