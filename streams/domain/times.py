"""Event times as channel systems write them and cxpulse publishes them: RFC 3339, UTC, milliseconds, 'Z'."""

from __future__ import annotations

import datetime as dt
import functools


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=1 << 14)
def rfc3339_at(seconds: float) -> str:
    """The same, for seconds since the epoch (the stages' clock). Cached: a batch stamps its records
    with one `now`, and formatting was a tenth of the identity stage's CPU in a backlog
    (benchmarks/results/profile-2026-12-06T231036+0000.md)."""
    return rfc3339(dt.datetime.fromtimestamp(seconds, dt.UTC))


def rfc3339_or_none(seconds: float | None) -> str | None:
    """An optional time of a published record (null when unset)."""
    return None if seconds is None else rfc3339_at(seconds)
