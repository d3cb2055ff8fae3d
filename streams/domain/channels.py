"""The channels cxpulse knows, in one registry: every list of channels is read from here.

A channel's kind decides how its contacts are measured and which rules watch them:
- live: the customer waits on the line (voice, chat): queue waits, holds, abandons;
- messaging: asynchronous threads (email, SMS, WhatsApp, social): answered by the first agent
  message, watched for unanswered messages;
- digital: the customer helps themself (web, app, self-service): no agent contact;
- feedback: surveys about a contact.

The event contract (schemas/events/v1/data/common.schema.json) and the applied SQL migrations
keep literal copies, because published schemas and applied migrations cannot import Python;
tests/test_channels.py fails when a copy differs from this registry.
"""

from __future__ import annotations

from typing import NamedTuple


class Channel(NamedTuple):
    name: str
    kind: str                       # live | messaging | digital | feedback
    service_level_seconds: float    # default answer target (kpi.service_level_seconds_by_channel)


REGISTRY: dict[str, Channel] = {c.name: c for c in (
    Channel("voice", "live", 20.0),
    Channel("chat", "live", 60.0),
    Channel("email", "messaging", 14400.0),
    Channel("sms", "messaging", 900.0),
    Channel("whatsapp", "messaging", 900.0),
    Channel("social", "messaging", 3600.0),
    Channel("web", "digital", 20.0),
    Channel("app", "digital", 20.0),
    Channel("self_service", "digital", 20.0),
    Channel("survey", "feedback", 20.0),
)}

CHANNELS: tuple[str, ...] = tuple(REGISTRY)


def of_kind(kind: str) -> tuple[str, ...]:
    return tuple(c.name for c in REGISTRY.values() if c.kind == kind)


LIVE = of_kind("live")
MESSAGING = of_kind("messaging")
DIGITAL = of_kind("digital")


def sql_list(names: tuple[str, ...]) -> str:
    """A ClickHouse IN list of channel names, for queries built in Python."""
    return ", ".join(f"'{n}'" for n in names)
