"""Faust's aiokafka producer, the one every stage sends through, fixed where faust-streaming 0.15.3
(pinned) stalls or repeats records (docs/faust-pitfalls.md has each fix and the test that found it):
it drops a connection whose metadata request has had no answer for METADATA_TIMEOUT, tracks the
metadata of every topic it sends to, and is idempotent where the broker grants producer ids.

Faust starts no consumer (streams.worker.CxApp is producer_only): every stage consumes through
streams.runtime.batch_source.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer, errors
from aiokafka.client import AIOKafkaClient
from aiokafka.conn import CloseReason
from aiokafka.protocol.transaction import InitProducerIdRequest
from faust.transport.drivers import aiokafka as aiokafka_driver

log = logging.getLogger(__name__)


METADATA_TIMEOUT = 30.0  # seconds; the Java client's request.timeout.ms


class _MetadataBoundClient(AIOKafkaClient):
    """The producer's client: a metadata request unanswered for METADATA_TIMEOUT drops its connection,
    and every topic sent to is tracked."""

    async def _wait_on_metadata(self, topic):
        # aiokafka tracks a topic only when its partitions are unknown at the first send; a topic
        # listed by a refresh made while it tracked none (every topic's metadata) is not, so the
        # next refresh (of tracked topics only) drops its leaders and its batches wait for a leader
        # for good: producer.flush() hung at start-up with "unknown leaders" (the 8-partition
        # rebalance test on Apache Kafka, 2 of 2 with the idempotent producer, now and then before).
        if topic not in self._topics:
            await self.add_topic(topic)
        return await super()._wait_on_metadata(topic)

    async def _metadata_update(self, cluster_metadata, topics):
        try:
            async with asyncio.timeout(METADATA_TIMEOUT):
                return await super()._metadata_update(cluster_metadata, topics)
        except TimeoutError:
            log.warning("producer: no answer to a metadata request within %.0fs; reconnecting", METADATA_TIMEOUT)
            for conn in list(self._conns.values()):
                conn.close(reason=CloseReason.CONNECTION_TIMEOUT)
            cluster_metadata.failed_update(None)
            return False  # the synchronizer's waiters ask again, on a new connection


_COORDINATOR_NOT_READY = (errors.CoordinatorLoadInProgressError, errors.CoordinatorNotAvailableError,
                          errors.NotCoordinatorError)
PRODUCER_ID_WAIT = 30.0  # seconds a new cluster gets to load its transaction coordinator


async def grants_producer_ids(producer: AIOKafkaProducer) -> bool:
    """Whether the broker hands out producer ids (InitProducerId), which idempotent writes need.
    Apache Kafka does; the embedded Tansu's memory engine answers with an unknown error."""
    await producer.start()
    try:
        client, deadline = producer.client, time.monotonic() + PRODUCER_ID_WAIT
        while True:
            answer = await client.send(client.get_random_node(),
                                       InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000))
            error = errors.for_code(answer.error_code)
            if error not in _COORDINATOR_NOT_READY or time.monotonic() > deadline:
                return error is errors.NoError
            await asyncio.sleep(0.2)  # a new cluster creates its transaction state topic first
    finally:
        await producer.stop()


class Producer(aiokafka_driver.Producer):
    """Idempotent where the broker allows it: a batch sent again after a lost connection (a broker
    restart) is then written once, where it was appended twice before (an alert change twice on
    cx.alerts in the broker-outage test)."""

    idempotent = False

    async def on_start(self) -> None:
        self.idempotent = await grants_producer_ids(super()._new_producer())
        if not self.idempotent:
            log.warning("producer: the broker grants no producer ids; writes retried after a lost "
                        "connection may be appended twice")
        await super().on_start()

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **({"acks": "all", "enable_idempotence": True} if self.idempotent else {})}

    def _new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        producer = super()._new_producer(transactional_id)
        producer.client.__class__ = _MetadataBoundClient  # built inside __init__ and shared with the sender
        return producer


class Transport(aiokafka_driver.Transport):
    Producer = Producer
