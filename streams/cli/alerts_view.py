"""`cxpulse alerts`: the open alerts, live, read from the cx.alerts topic.

Reads the topic (not the warehouse, which a running worker holds), keeps the newest version of
every alert, and shows the open and escalated ones by priority; --once prints them and exits.
"""

from __future__ import annotations

import time
from typing import IO, Iterable

import orjson

from streams.process.connections import kafka_client_config


class Board:
    """The newest version of each alert."""

    def __init__(self) -> None:
        self.alerts: dict[str, dict] = {}

    def add(self, records: Iterable[dict]) -> None:
        for r in records:
            known = self.alerts.get(r["alert_id"])
            if known is None or r["version"] > known["version"]:
                self.alerts[r["alert_id"]] = r

    def open(self) -> list[dict]:
        live = [a for a in self.alerts.values() if a["state"] != "resolved"]
        return sorted(live, key=lambda a: (-a["priority"], a["threshold_at"]))


def follow(settings, board: Board, until_end: bool, stop_after: float | None = None):
    """Yield after every poll; with until_end, stop once the topic's end (at start) is reached."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.kafka.alerts_topic
    consumer = KafkaConsumer(enable_auto_commit=False, **kafka_client_config(settings))
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps) if tps else {}
        started = time.monotonic()
        while True:
            batch = consumer.poll(timeout_ms=500, max_records=5000)
            board.add(orjson.loads(r.value) for records in batch.values() for r in records)
            yield
            if until_end and all(consumer.position(tp) >= ends[tp] for tp in tps):
                return
            if stop_after is not None and time.monotonic() - started > stop_after:
                return
    finally:
        consumer.close()


def table(alerts: list[dict], width: int = 160):
    from rich.table import Table

    t = Table(title=f"open alerts: {len(alerts)}", title_justify="left")
    for name in ("priority", "rule", "state", "customer", "channel", "waiting since (UTC)", "reason", "suggested action"):
        t.add_column(name, overflow="fold")
    for a in alerts:
        reach = ", ".join(a["identifiers"].values()) if a["outreach"] else "(do not contact)"
        style = "red" if a["state"] == "escalated" else None
        t.add_row(f"{a['priority']:.0f}", a["rule"], a["state"], f"{a['customer_id']}\n{reach}", a["channel"],
                  a["since"][:19].replace("T", " "), a["reason"], a["suggested_action"], style=style)
    return t


def write_json(alerts: list[dict], out: IO[str]) -> None:
    for a in alerts:
        out.write(orjson.dumps(a).decode() + "\n")
