"""Contact policy per customer: how often and when a customer may be offered to the outreach team.

An offer is a work item entering the team's list. A customer gets at most `per_day` offers in any
24 hours and `per_week` in any 7 days (rolling windows, event time), and none in quiet hours of
their local time. The detection stage asks `next_allowed` when an item would be offered: a later
time holds the item (state `held`, the reason and that time on the item) until then. Pure functions
of the recorded offer times, so replays give the same decisions.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import phonenumbers
from phonenumbers import timezone as phone_timezones

DAY, WEEK = 86_400.0, 7 * 86_400.0
DAILY, WEEKLY, QUIET = "daily_limit", "weekly_limit", "quiet_hours"


class ContactPolicy(msgspec.Struct, frozen=True, kw_only=True):
    per_day: int = 2
    per_week: int = 5
    quiet_start: dt.time = dt.time(0, 0)    # local time; quiet_start == quiet_end: no quiet hours (config/rules.toml sets them)
    quiet_end: dt.time = dt.time(0, 0)
    default_timezone: str = "UTC"


@lru_cache(maxsize=4096)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=65536)
def phone_zone(phone: str) -> str:
    """The time zone of an E.164 number's region ('' when the number names none or several countries' zones)."""
    try:
        zones = phone_timezones.time_zones_for_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        return ""
    zones = [z for z in zones if zone(z) is not None]
    return zones[0] if zones else ""  # a country with several zones: its first (lowest, deterministic)


def timezone_of(profile: str, identifiers: dict[str, str], default: str) -> str:
    """A profile attribute wins, then the phone's country, then the configured default."""
    if zone(profile) is not None:
        return profile
    return phone_zone(identifiers.get("phone", "")) or default


def quiet_until(policy: ContactPolicy, tz: str, at: float) -> float | None:
    """End of the quiet period `at` falls in (event time), or None outside quiet hours."""
    start, end = policy.quiet_start, policy.quiet_end
    if start == end:
        return None
    local = dt.datetime.fromtimestamp(at, zone(tz) or dt.UTC)
    now = local.time()
    quiet = start <= now < end if start < end else (now >= start or now < end)
    if not quiet:
        return None
    wake = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if wake <= local:
        wake += dt.timedelta(days=1)  # wall-clock arithmetic: 09:00 tomorrow across a DST change too
    return max(wake.timestamp(), at + 1e-3)


def next_allowed(policy: ContactPolicy, offers: list[float], tz: str, at: float) -> tuple[float, str]:
    """The earliest time >= `at` the customer may be offered, and why it is later than `at` ('' if it is not)."""
    offers = sorted(offers)
    t, reason = at, ""
    for _ in range(64):  # each step moves t forward to where one constraint is met
        for limit, span, why in ((policy.per_week, WEEK, WEEKLY), (policy.per_day, DAY, DAILY)):
            window = [o for o in offers if t - span < o <= t]
            if len(window) >= limit:
                t, reason = window[len(window) - limit] + span, reason or why
                break
        else:
            wake = quiet_until(policy, tz, t)
            if wake is None:
                return t, reason
            t, reason = wake, reason or QUIET
    return t, reason


def remember(offers: list[float], at: float) -> list[float]:
    """The offer times a week's policy still needs, with `at` added."""
    return [o for o in offers if o > at - WEEK] + [at]
