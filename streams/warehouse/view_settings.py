"""Writes the [timeline] and [kpi] settings into cx.settings, where the SQL views read them.

Run by `cxpulse migrate` and at worker start, so a changed threshold applies to every view
(timeline journeys, repeat contacts, service level, the outreach effect window) without editing SQL.
"""

from __future__ import annotations

import time

from streams.config import Settings
from streams.warehouse import Warehouse


def rows(settings: Settings) -> list[dict]:
    t, k = settings.timeline, settings.kpi
    out = [
        {"name": "journey_gap_seconds", "channel": "", "value": t.journey_gap_seconds},
        {"name": "repeat_window_seconds", "channel": "", "value": t.repeat_window_seconds},
        {"name": "service_level_seconds", "channel": "", "value": k.service_level_seconds},
        {"name": "short_abandon_seconds", "channel": "", "value": k.short_abandon_seconds},
        {"name": "outreach_effect_window_seconds", "channel": "", "value": k.outreach_effect_window_seconds},
    ]
    out += [{"name": "service_level_seconds", "channel": channel, "value": value}
            for channel, value in sorted(k.service_level_seconds_by_channel.items())]
    return out


def publish(warehouse: Warehouse, settings: Settings) -> int:
    """Insert the current values (newest updated_at wins in the views); return how many."""
    values = rows(settings)
    warehouse.insert("cx.settings", values, token=f"settings-{time.time_ns()}")
    return len(values)
