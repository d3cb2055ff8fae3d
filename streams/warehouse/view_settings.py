"""Writes the [timeline] and [kpi] settings into cx.settings, where the SQL views read them,
and applies the [retention] settings as table TTLs (streams.warehouse.retention).

Run by `cxpulse migrate` and at worker start, so a changed threshold applies to every view
(timeline journeys, repeat contacts, service level, the outreach effect window) without editing SQL.
"""

from __future__ import annotations

import time

from streams.config import Settings
from streams.warehouse import Warehouse, retention


def rows(settings: Settings) -> list[dict]:
    t, k, r = settings.timeline, settings.kpi, settings.retention
    out = [
        {"name": "journey_gap_seconds", "channel": "", "value": t.journey_gap_seconds},
        {"name": "repeat_window_seconds", "channel": "", "value": t.repeat_window_seconds},
        {"name": "service_level_seconds", "channel": "", "value": k.service_level_seconds},
        {"name": "short_abandon_seconds", "channel": "", "value": k.short_abandon_seconds},
        {"name": "outreach_effect_window_seconds", "channel": "", "value": k.outreach_effect_window_seconds},
        {"name": "retention_events_days", "channel": "", "value": r.events_days},
        {"name": "retention_rollups_days", "channel": "", "value": r.rollups_days},
    ]
    out += [{"name": "service_level_seconds", "channel": channel, "value": value}
            for channel, value in sorted(k.service_level_seconds_by_channel.items())]
    return out


def publish(warehouse: Warehouse, settings: Settings) -> int:
    """Insert the current values (newest updated_at wins in the views), set the TTLs; return how many values."""
    values = rows(settings)
    warehouse.insert("cx.settings", values, token=f"settings-{time.time_ns()}")
    retention.apply(warehouse, settings.retention)
    return len(values)
