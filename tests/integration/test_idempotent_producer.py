"""The worker's producer is idempotent where the broker grants producer ids (Apache Kafka), so a
batch sent again after a broker restart is written once; on the embedded Tansu it cannot be."""

from __future__ import annotations

import asyncio
import os

import pytest
from aiokafka import AIOKafkaProducer

from streams.runtime.faust_consumer import grants_producer_ids

pytestmark = pytest.mark.integration


def test_producer_ids_are_granted_by_apache_kafka_and_not_by_the_embedded_broker(kafka_bootstrap):
    async def probe() -> bool:
        return await grants_producer_ids(AIOKafkaProducer(bootstrap_servers=kafka_bootstrap))

    granted = asyncio.run(probe())
    assert granted is bool(os.environ.get("CXPULSE_KAFKA_BOOTSTRAP"))
