"""Normalization: one spelling for every value, so identities and times compare equal.

UTC timestamps, E.164 phones (phonenumbers, configurable default region), lowercase emails and
social handles, trimmed strings. Runs after schema validation, so types and lengths are right.
An identifier with no normal form (a withheld caller ID, an impossible number, a malformed email
or handle) does not refuse the event: it is left out of `customer` and kept as an IdentifierIssue.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import phonenumbers

from streams.config import IngestSettings
from streams.domain.records import CxEvent, IdentifierIssue
from streams.domain.rejections import Reason, Rejected

_TEXT_FIELDS = ("contact_id", "queue", "agent_id", "direction")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SOCIAL = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*):(\S+)")
_PUNCTUATION = str.maketrans("", "", "-().")


@lru_cache(maxsize=16_384)
def _spelling(value: str) -> str:
    """How withheld values are compared: lowercased, without spaces, dashes, dots or brackets
    (remembered like phone_e164: a contact's events repeat its phone)."""
    return "".join(value.lower().split()).translate(_PUNCTUATION)


class Refusal(StrEnum):
    """Why an identifier was not used: a label of cxpulse_identifiers_refused_total, so keep the set small."""

    WITHHELD = "withheld"  # the caller withheld their number: a word or a carrier's pseudo-number (or none at all)
    INVALID = "invalid"  # a phone with no valid number behind it
    MALFORMED = "malformed"  # an email or social handle not shaped like one


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
def phone_e164(raw: str, region: str) -> str | None:
    """E.164 of a phone, or None when no valid number is written there; remembered: parsing costs
    ~26 µs (phonenumbers), several times a bare consume loop's whole cost per event, and a contact's
    events repeat its phone (a call: started, queued, answered, ended)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def forget_remembered() -> None:
    """Drop the raw values remembered above (an erasure, streams.stages.privacy)."""
    _spelling.cache_clear()
    phone_e164.cache_clear()


@lru_cache(maxsize=8)
def _withheld(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_spelling(v) for v in values)


def is_withheld(raw: str, withheld_caller_ids: list[str]) -> bool:
    """A caller ID that says the number was withheld: blank, or one of the configured spellings
    (ingest.withheld_caller_ids): "Private Number" and "+266 696-687" match "private number" and "+266696687"."""
    key = _spelling(raw)
    return not key or key in _withheld(tuple(withheld_caller_ids))


def social_handle(raw: str) -> str | None:
    """network:handle lowercased, or None when `raw` is not shaped like one."""
    match = _SOCIAL.fullmatch(raw.strip())
    return f"{match[1].lower()}:{match[2].lower()}" if match else None


def email_address(raw: str) -> str | None:
    """The address lowercased, or None when `raw` is not shaped like one (local@domain.tld)."""
    value = raw.strip().lower()
    return value if _EMAIL.fullmatch(value) else None


def identifiers(customer: dict[str, str], region: str,
                withheld_caller_ids: list[str]) -> tuple[dict[str, str], list[IdentifierIssue]]:
    """The usable identifiers in normal form, and the ones with no normal form (kept raw, not used)."""
    out, issues = {}, []
    for kind, raw in customer.items():
        if kind == "email":
            value, refusal = email_address(raw), Refusal.MALFORMED
        elif kind == "phone":
            if is_withheld(raw, withheld_caller_ids):
                value, refusal = None, Refusal.WITHHELD
            else:
                value, refusal = phone_e164(raw, region), Refusal.INVALID
        elif kind == "social":
            value, refusal = social_handle(raw), Refusal.MALFORMED
        else:
            value = raw.strip()
        if value is None:
            issues.append(IdentifierIssue(kind=kind, reason=refusal, raw=raw))
        else:
            out[kind] = value
    return out, issues


def _trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def normalize(event: dict[str, Any], *, mode: str, origin: str, received_at: float,
              settings: IngestSettings, now: datetime) -> CxEvent:
    """A contract-valid event dict -> CxEvent; raise Rejected for a time no normal form exists for."""
    time = parse_time(event["time"])
    check_skew(time, now, settings)
    data = event["data"]
    customer, issues = identifiers(data["customer"], settings.default_phone_region, settings.withheld_caller_ids)
    return CxEvent(
        source=event["source"].strip(),
        id=event["id"].strip(),
        type=event["type"],
        time=time,
        channel=data.get("channel", ""),  # an erasure request names no channel
        customer=customer,
        identifier_issues=issues,
        subject=_trim(event.get("subject", "")),
        attributes={k: _trim(v) for k, v in (data.get("attributes") or {}).items()},
        origin=origin,
        received_at=received_at,
        mode=mode,
        **{name: data[name].strip() for name in _TEXT_FIELDS if name in data},
    )
