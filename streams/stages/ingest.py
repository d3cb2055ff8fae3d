"""Ingest stage: inbound CloudEvents -> validated, normalized records (or the dead-letter topic).

Records in: raw Kafka messages on the input topics (structured or binary mode), read in batches
by a consumer group of its own (streams.runtime.batch_source: one message per event is too many for Faust).
Records out: `Validated` on the validated topic (in envelopes), routed by source+id so the dedup
stage sees every copy of an event on one partition; anything refused goes to the DLQ untouched.
In pseudonymized mode the identifiers are hashed here, before anything is stored (streams.domain.pseudonyms).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from streams.config import IngestSettings
from streams.domain import cloudevents, contract, pseudonyms
from streams.domain.normalize import normalize
from streams.domain.records import CxEvent, RawMessage, Validated, encode
from streams.domain.rejections import Reason, Rejected
from streams.process import metrics
from streams.runtime.batch_source import BatchSource

ERASURE_REQUESTED = "cx.privacy.erasure_requested"


def parse(value: bytes | None, headers: list[tuple[str, bytes]] | None, *, origin: str,
          received_at: float, settings: IngestSettings, now: datetime) -> CxEvent:
    """Bytes of one Kafka message -> CxEvent, or Rejected with the reason. Pure; no I/O."""
    value = value or b""
    if len(value) > settings.max_event_bytes:
        raise Rejected(Reason.TOO_LARGE, f"payload of {len(value)} bytes exceeds the limit of "
                       f"{settings.max_event_bytes} bytes")
    event, mode = cloudevents.decode(value, headers)
    contract.check(event)
    return normalize(event, mode=mode, origin=origin, received_at=received_at, settings=settings, now=now)


def register(app, settings, topics) -> BatchSource:
    """Read the input topics in batches (a plain consumer group: streams.runtime.batch_source) on `app`."""
    ingest_settings = settings.ingest
    validated, privacy = topics.validated, topics.privacy
    consumed = metrics.CONSUMED.labels(stage="ingest")
    pseudonymizer = pseudonyms.from_settings(settings)
    source = BatchSource(app, settings, "ingest", list(settings.kafka.input_topics), ingest_settings.batch_size,
                         within=ingest_settings.batch_seconds)

    async def handle(batch) -> None:
        received_at = time.time()
        out = topics.envelopes()
        now = datetime.fromtimestamp(received_at, UTC)
        for records in batch.values():
            consumed.inc(len(records))
            for message in records:
                origin = f"{message.topic}:{message.partition}:{message.offset}"
                headers = list(message.headers or [])
                raw = RawMessage(key=message.key, value=message.value or b"", headers=headers,
                                 timestamp=message.timestamp / 1000 if message.timestamp else received_at)
                try:
                    record = parse(message.value, headers, origin=origin, received_at=received_at,
                                   settings=ingest_settings, now=now)
                except Rejected as rejected:
                    await topics.dead_letter(raw, rejected, stage="ingest", origin=origin)
                    continue
                if pseudonymizer:
                    record, raw = pseudonymizer.event(record), pseudonymizer.raw(raw)
                if record.type == ERASURE_REQUESTED:  # to the privacy stage, never stored as an event
                    out.add(privacy, record.dedup_key.encode(), encode(record))
                    continue
                out.add(validated, record.dedup_key.encode(), encode(Validated(event=record, raw=raw)))
        await topics.send_envelopes(out)

    @app.task
    async def ingest() -> None:
        await source.run(handle)

    return source
