"""Business hours: the clock of an SLA that pauses outside service hours.

Hours per weekday in a time zone, and holidays (closed all day). `add(t, seconds)` is the event
time at which `seconds` of service time have passed since `t`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    hours: dict[int, tuple[dt.time, dt.time]]   # weekday -> (open, close); absent: closed
    holidays: frozenset[dt.date]

    @classmethod
    def build(cls, timezone: str, hours: dict[str, list[str]], holidays: list[str]) -> "Calendar":
        """Raise ValueError naming the bad entry."""
        try:
            zone = ZoneInfo(timezone)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError
            raise ValueError(f"calendar.timezone: unknown time zone {timezone!r}") from exc
        parsed = {}
        for day, span in hours.items():
            if day not in DAYS:
                raise ValueError(f"calendar.hours: {day!r} is not one of {', '.join(DAYS)}")
            if len(span) != 2:
                raise ValueError(f"calendar.hours.{day}: want [\"HH:MM\", \"HH:MM\"]")
            try:
                start, end = (dt.time.fromisoformat(x) for x in span)
            except ValueError as exc:
                raise ValueError(f"calendar.hours.{day}: {exc}") from None
            if end <= start:
                raise ValueError(f"calendar.hours.{day}: closes before it opens")
            parsed[DAYS.index(day)] = (start, end)
        try:
            days = frozenset(dt.date.fromisoformat(d) for d in holidays)
        except ValueError as exc:
            raise ValueError(f"calendar.holidays: {exc}") from None
        return cls(zone, parsed, days)

    def _opening(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        span = self.hours.get(day.weekday())
        if span is None or day in self.holidays:
            return None
        return (dt.datetime.combine(day, span[0], self.zone), dt.datetime.combine(day, span[1], self.zone))

    def add(self, t: float, seconds: float) -> float:
        """Event time after `seconds` of open hours from `t` (inf if the calendar never opens)."""
        local = dt.datetime.fromtimestamp(t, self.zone)
        day, left = local.date(), seconds
        for _ in range(3700):  # ten years of days is enough for any SLA
            span = self._opening(day)
            if span is not None:
                start = max(span[0], local)
                if start < span[1]:
                    available = (span[1] - start).total_seconds()
                    if left <= available:
                        return (start + dt.timedelta(seconds=left)).timestamp()
                    left -= available
            day += dt.timedelta(days=1)
            local = dt.datetime.combine(day, dt.time(0), self.zone)
        return float("inf")
