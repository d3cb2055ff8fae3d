"""Normalization: one spelling for every value, so identities and times compare equal.

UTC timestamps, E.164 phones (phonenumbers, configurable default region), lowercase emails and
social handles, trimmed strings. Runs after schema validation, so shapes are already right.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import phonenumbers

from streams.config import IngestSettings
from streams.records import CxEvent
from streams.rejections import Reason, Rejected

_TEXT_FIELDS = ("contact_id", "queue", "agent_id", "direction")


def parse_time(raw: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw.replace("t", "T").replace("z", "Z"))
    except ValueError as exc:
        raise Rejected(Reason.INVALID_TIME, f"time {raw!r} is not a valid RFC 3339 timestamp", "/time") from exc
    return parsed.astimezone(UTC)


def check_skew(time: datetime, now: datetime, settings: IngestSettings) -> None:
    if time > now + timedelta(seconds=settings.max_future_skew_seconds):
        raise Rejected(Reason.TIME_SKEW, f"time {time.isoformat()} is more than "
                       f"{settings.max_future_skew_seconds:g}s ahead of the pipeline clock", "/time")
    if time < now - timedelta(seconds=settings.max_age_seconds):
        raise Rejected(Reason.TIME_SKEW, f"time {time.isoformat()} is more than "
                       f"{settings.max_age_seconds:g}s in the past", "/time")


@lru_cache(maxsize=16_384)
def phone_e164(raw: str, region: str) -> str:
    """E.164 of a phone, remembered: parsing costs ~26 µs (phonenumbers), several times a bare consume
    loop's whole cost per event, and a contact's events repeat its phone (a call: started, queued,
    answered, ended). Refused numbers raise each time (exceptions are not cached)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise Rejected(Reason.INVALID_IDENTIFIER, f"phone {raw!r}: {exc}", "/data/customer/phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise Rejected(Reason.INVALID_IDENTIFIER, f"phone {raw!r} is not a valid number (default region {region})",
                       "/data/customer/phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def social_handle(raw: str) -> str:
    network, _, handle = raw.strip().partition(":")
    return f"{network.lower()}:{handle.strip().lower()}"


def identifiers(customer: dict[str, str], region: str) -> dict[str, str]:
    out = {}
    for kind, raw in customer.items():
        if kind == "email":
            value = raw.strip().lower()
        elif kind == "phone":
            value = phone_e164(raw, region)
        elif kind == "social":
            value = social_handle(raw)
        else:
            value = raw.strip()
        out[kind] = value
    return out


def _trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def normalize(event: dict[str, Any], *, mode: str, origin: str, received_at: float,
              settings: IngestSettings, now: datetime) -> CxEvent:
    """A contract-valid event dict -> CxEvent; raise Rejected for values no normal form exists for."""
    time = parse_time(event["time"])
    check_skew(time, now, settings)
    data = event["data"]
    return CxEvent(
        source=event["source"].strip(),
        id=event["id"].strip(),
        type=event["type"],
        time=time,
        channel=data["channel"],
        customer=identifiers(data["customer"], settings.default_phone_region),
        subject=_trim(event.get("subject", "")),
        attributes={k: _trim(v) for k, v in (data.get("attributes") or {}).items()},
        origin=origin,
        received_at=received_at,
        mode=mode,
        **{name: data[name].strip() for name in _TEXT_FIELDS if name in data},
    )
