"""`cxpulse dlq`: list dead letters from the warehouse and replay them after a fix.

Replay republishes the stored original bytes, key and headers to the input topic, so a message
that is now valid flows through the pipeline like any other (and fails again, with a new dead
letter, if the cause was not fixed). Duplicates are left out unless asked for by reason: replaying
them would only refuse them again, or store them twice once the dedup window has passed.
Dead letters whose payload expired (retention.dead_letter_payloads_days blanked it, headers and
all) are listed, but have nothing left to replay.
"""

from __future__ import annotations

import base64

import orjson

from streams.config import Settings
from streams.warehouse import Result, Warehouse, sql_string


def _where(reason: str | None, origin: str | None) -> str:
    clauses = []
    if reason:
        clauses.append(f"reason = {sql_string(reason)}")
    else:
        clauses.append("reason != 'duplicate'")
    if origin:
        clauses.append(f"origin = {sql_string(origin)}")
    clauses.append("stage != 'webhook'")  # undelivered alerts are not inbound events: never replay them as such
    clauses.append("headers != ''")  # a stored message has '[]' at least; '' is an expired payload
    return " AND ".join(clauses)


def list_dead_letters(warehouse: Warehouse, reason: str | None, limit: int) -> Result:
    where = f"reason = {sql_string(reason)}" if reason else "1"
    return warehouse.query(
        "SELECT rejected_at, reason, stage, origin, source, event_id, detail, payload_size, payload_preview "
        f"FROM cx.dead_letters FINAL WHERE {where} ORDER BY rejected_at DESC LIMIT {int(limit)}")


def replay(settings: Settings, warehouse: Warehouse, *, reason: str | None, origin: str | None,
           limit: int, dry_run: bool) -> int:
    """Republish matching dead letters to the first input topic; return how many."""
    from kafka import KafkaProducer

    from streams.domain.deadletter import original_headers
    from streams.process.connections import kafka_client_config

    rows = warehouse.query(
        f"SELECT message_key, payload_base64, headers FROM cx.dead_letters FINAL WHERE {_where(reason, origin)} "
        f"ORDER BY published_at LIMIT {int(limit)}").rows
    if dry_run or not rows:
        return len(rows)
    producer = KafkaProducer(acks="all", **kafka_client_config(settings))
    try:
        for key, payload, headers in rows:
            decoded = [(n, base64.b64decode(v)) for n, v in orjson.loads(headers)]
            producer.send(settings.kafka.input_topics[0], key=base64.b64decode(key) or None,
                          value=base64.b64decode(payload), headers=original_headers(decoded))
        producer.flush()
    finally:
        producer.close()
    return len(rows)
