"""Zendesk webhooks subscribed to ticket (and user) events.

Payloads follow "Ticket events" (https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/)
and "Webhook event types" (https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/):
`type` zen:event-type:..., `id`, `time`, `account_id`, `subject`, `detail` (the ticket or user), `event`
(what changed). The signature follows "Verifying webhook authenticity"
(https://developer.zendesk.com/documentation/webhooks/verifying/): base64(HMAC-SHA256(timestamp + body))
with the webhook's signing secret.

Ticket events name people by Zendesk user id only, so the requester is identified as
visitor_id "zendesk:user:<id>"; subscribing the same webhook to zen:event-type:user.created links that
id to the user's email and external id (cx.identity.linked), which stitches tickets to other channels.
"""

from __future__ import annotations

import hashlib
import hmac

from streams.adapters.base import (BadSignature, VendorRequest, Unmapped, check_signature, cloudevent, identified,
                                   json_objects, need, obj, rfc3339, text)

NAME = "zendesk"
SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
PREFIX = "zen:event-type:"
# via.channel of the ticket -> contract channel; anything else is a ticket thread, answered like email
CHANNELS = {"sms": "sms", "whatsapp": "whatsapp", "voice": "voice", "phone": "voice", "chat": "chat",
            "native_messaging": "chat", "messaging": "chat", "twitter": "social", "x": "social",
            "facebook": "social", "instagram": "social", "instagram_dm": "social"}


def signature(timestamp: str, body: bytes, secret: str) -> bytes:
    return hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()


def _ticket_event(doc: dict, kind: str, *, suffix: str = "", agent: str | None = None, **attributes) -> dict:
    ticket = obj(doc, "detail")
    ticket_id = need(ticket, "id")
    requester = text(ticket, "requester_id")
    return cloudevent(
        source=f"{NAME}/{need(doc, 'account_id')}",
        id=need(doc, "id") + suffix,
        type=kind,
        time=rfc3339(need(doc, "time")),
        channel=CHANNELS.get(str(obj(ticket, "via", required=False).get("channel") or "").lower(), "email"),
        customer=identified({"visitor_id": requester and f"{NAME}:user:{requester}"},
                            ("visitor_id", f"{NAME}:ticket:{ticket_id}")),
        contact_id=ticket_id,
        queue=text(ticket, "group_id"),
        agent_id=agent or text(ticket, "assignee_id"),
        direction="inbound" if kind == "cx.contact.started" else None,
        attributes={"organization_id": text(ticket, "organization_id"), **attributes},
    )


def _created(doc: dict) -> list[dict]:
    """A new ticket is a contact and its description the customer's first message (an agent's, if an agent
    opened it for someone else)."""
    ticket = obj(doc, "detail")
    by_requester = text(ticket, "submitter_id") in (None, text(ticket, "requester_id"))
    return [_ticket_event(doc, "cx.contact.started"),
            _ticket_event(doc, "cx.contact.message", suffix=":description",
                          author="customer" if by_requester else "agent")]


def _comment(doc: dict) -> list[dict]:
    """A public comment is a message from the customer or, when its author is staff, from an agent.
    An internal note (is_public false) reaches no customer: it maps to no event."""
    comment = obj(obj(doc, "event"), "comment")
    if comment.get("is_public") is False:
        return []
    author = obj(comment, "author", required=False)
    staff = author.get("is_staff") is True
    return [_ticket_event(doc, "cx.contact.message", agent=text(author, "id") if staff else None,
                          author="agent" if staff else "customer", comment_id=text(comment, "id"))]


def _status(doc: dict) -> list[dict]:
    """Solved ends the contact; the other statuses (open, pending, hold, closed) are no lifecycle step."""
    if str(obj(doc, "event").get("current") or "").lower() != "solved":
        return []
    return [_ticket_event(doc, "cx.contact.ended", resolution="resolved")]


def _user(doc: dict) -> list[dict]:
    """A new end user links the Zendesk user id to their email and external id (when they have either)."""
    user = obj(doc, "detail")
    user_id = need(user, "id")
    found = {"visitor_id": f"{NAME}:user:{user_id}", "email": text(user, "email"),
             "customer_id": text(user, "external_id")}
    customer = {kind: value for kind, value in found.items() if value}
    if text(user, "role") not in (None, "end-user") or len(customer) < 2:
        return []
    return [cloudevent(source=f"{NAME}/{need(doc, 'account_id')}", id=need(doc, "id"), type="cx.identity.linked",
                       time=rfc3339(need(doc, "time")), channel="email", customer=customer)]


HANDLERS = {"ticket.created": _created, "ticket.comment_added": _comment, "ticket.status_changed": _status,
            "user.created": _user}


class Zendesk:
    name = NAME
    signed = True

    def verify(self, request: VendorRequest, secret: str) -> None:
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not timestamp:
            raise BadSignature(f"{TIMESTAMP_HEADER} is missing")
        check_signature(signature(timestamp, request.body, secret), request.headers.get(SIGNATURE_HEADER))

    def to_events(self, request: VendorRequest) -> list[dict]:
        """The events of one webhook request; an internal note or a status other than solved maps to none."""
        events = []
        for doc in json_objects(request.body):
            event_type = need(doc, "type").removeprefix(PREFIX)
            if event_type not in HANDLERS:
                raise Unmapped(NAME, event_type, "subscribe the webhook to the event types docs/adapters.md lists")
            events += HANDLERS[event_type](doc)
        return events


ADAPTER = Zendesk()
