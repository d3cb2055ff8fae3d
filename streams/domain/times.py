"""Event times as channel systems write them and cxpulse publishes them: RFC 3339, UTC, milliseconds, 'Z'."""

from __future__ import annotations

import datetime as dt
import functools
import math
import time


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339_at(seconds: float) -> str:
    """The same, for seconds since the epoch (the stages' clock), rounded to the microsecond as
    `datetime.fromtimestamp` rounds (half to even), then cut to the millisecond as `rfc3339` does.
    Only the whole second goes through a formatter (cached): records of one batch fall within a few
    seconds of each other, while their times (identifiers' first_seen, alerts' since) rarely repeat,
    and building a datetime per time was half of an identity link record's cost."""
    fraction, whole = math.modf(seconds)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros, whole = micros - 1_000_000, whole + 1
    elif micros < 0:
        micros, whole = micros + 1_000_000, whole - 1
    return _second(int(whole)) + _MILLIS[micros // 1000]


_MILLIS = [f".{ms:03d}Z" for ms in range(1000)]


@functools.lru_cache(maxsize=1 << 14)
def _second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def rfc3339_or_none(seconds: float | None) -> str | None:
    """An optional time of a published record (null when unset)."""
    return None if seconds is None else rfc3339_at(seconds)
