"""The I/O behind `cxpulse alerts claim|...`: find the alert named on cx.alerts, publish the action.

The alert is read from the topic, not the warehouse (a running worker holds the embedded chDB),
as `cxpulse alerts` does; its newest version gives the identifiers the action is stitched by.
"""

from __future__ import annotations

import orjson

from streams import alerts_view
from streams.connections import kafka_client_config
from streams.replay import STRUCTURED


def find_alert(settings, alert_id: str) -> dict | None:
    """The newest version of the alert on cx.alerts, or None."""
    board = alerts_view.Board()
    for _ in alerts_view.follow(settings, board, until_end=True):
        pass
    return board.alerts.get(alert_id)


def publish(settings, event: dict, key: str) -> None:
    """Send one structured-mode event to the first input topic and wait for the broker's ack."""
    from kafka import KafkaProducer

    producer = KafkaProducer(acks="all", **kafka_client_config(settings))
    try:
        producer.send(settings.kafka.input_topics[0], key=key.encode(), value=orjson.dumps(event),
                      headers=STRUCTURED).get(timeout=30)
    finally:
        producer.close()
