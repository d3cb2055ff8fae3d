"""The worker's producer (streams.runtime.faust_producer.Producer) on whichever broker the suite runs on:
idempotent where the broker grants producer ids, and never left without the leaders of a topic it sends to."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from streams.runtime.envelopes import send_records
from streams.runtime.faust_producer import _MetadataBoundClient, grants_producer_ids
from tests.integration.pipeline import wait_until

pytestmark = pytest.mark.integration


def test_producer_ids_are_granted_by_apache_kafka_and_not_by_the_embedded_broker(kafka_bootstrap):
    async def probe() -> bool:
        return await grants_producer_ids(AIOKafkaProducer(bootstrap_servers=kafka_bootstrap))

    granted = asyncio.run(probe())
    assert granted is bool(os.environ.get("CXPULSE_KAFKA_BOOTSTRAP"))


class _FaustLike:
    """What send_records needs of Faust's producer: the aiokafka producer it wraps."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    def _ensure_producer(self) -> AIOKafkaProducer:
        return self.producer


@pytest.mark.parametrize("tracked", [True, False], ids=["worker client", "aiokafka's own client"])
def test_a_topic_known_at_start_keeps_its_leaders_after_another_topic_is_added(kafka_bootstrap, tracked):
    """aiokafka's client refreshes metadata for the topics it tracks only (every topic while it tracks
    none), and does not track a topic whose metadata it has at the first send: that topic's leaders
    vanish at the next refresh, and a batch queued for it then waits for good. The worker's client
    tracks it; aiokafka's own is the control."""
    known, later = f"known-{uuid.uuid4().hex[:8]}", f"later-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(known, 2, 1)])
    wait_until(lambda: sorted(p["leader_id"] >= 0 for p in admin.describe_topics([known])[0]["partitions"]) == [True] * 2,
               30, "the topic's leaders, so that a refresh of every topic's metadata lists it")

    async def run() -> bool:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        if tracked:
            producer.client.__class__ = _MetadataBoundClient
        await producer.start()
        try:
            await producer.client.force_metadata_update()  # tracking nothing yet: every topic's metadata
            await send_records(_FaustLike(producer), known, [(1, b"k", b"v")])
            await producer.flush()
            admin.create_topics([NewTopic(later, 1, 1)])
            await producer.send_and_wait(later, b"x")  # tracks `later`: a refresh of the tracked topics only
            return producer.client.cluster.leader_for_partition(TopicPartition(known, 1)) not in (None, -1)
        finally:
            await producer.stop()

    try:
        leader_known = asyncio.run(run())
    finally:
        admin.delete_topics([known, later])
        admin.close()
    assert leader_known is tracked

