"""A table rebuilt from its changelog at assignment, on whichever broker the suite runs on: what the
worker that held the partitions wrote, its deletes included, and nothing from before the rebuild."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import msgspec
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.config import load_settings
from streams.runtime.state import Table
from streams.runtime.topics import create_topics

pytestmark = pytest.mark.integration


class _Producer(SimpleNamespace):
    """What send_records uses of the app's producer: the aiokafka producer inside it."""

    def _ensure_producer(self) -> AIOKafkaProducer:
        return self.aio


def test_a_partition_assigned_elsewhere_is_rebuilt_with_every_write_and_delete(kafka_bootstrap, tmp_path):
    settings = load_settings(None, environ={"CXPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
                                            "CXPULSE_KAFKA_APP_ID": f"rebuild-{uuid.uuid4().hex[:8]}",
                                            "CXPULSE_KAFKA_PARTITIONS": "2"})

    def worker(name: str) -> Table:
        return Table(msgspec.structs.replace(settings, data_dir=str(tmp_path / name)), "seen",
                     orjson.loads, orjson.dumps, cache=100)

    first, second = worker("a"), worker("b")
    create_topics(settings, names=[first.topic], configs={first.topic: first.topic_configs})

    async def scenario() -> tuple[dict, dict, dict]:
        aio = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=20)
        await aio.start()
        producer = _Producer(aio=aio)
        try:
            await first.assign({0, 1})
            for batch in range(3):  # multi-record produce batches: Tansu under-reports their end
                for i in range(500):
                    first.set(f"k{i}", {"batch": batch, "i": i}, i % 2)
                await first.commit(producer)
            for i in range(0, 500, 5):
                first.delete(f"k{i}", i % 2)
            await first.commit(producer)
            await aio.flush()
            held = dict(first.items())
            first.revoke({0, 1})
            await second.assign({1})  # the partition moved to another worker
            moved = dict(second.items())
            await second.assign({0, 1})  # a rebalance gives it both: partition 1 is rebuilt again, not doubled
            both = dict(second.items())
            return held, moved, both
        finally:
            await aio.stop()

    held, moved, both = asyncio.run(scenario())
    expected = {f"k{i}": {"batch": 2, "i": i} for i in range(500) if i % 5}
    assert held == expected
    assert moved == {k: v for k, v in expected.items() if v["i"] % 2 == 1}
    assert both == expected and second.stored_keys() >= len(expected) // 2
    assert not any((tmp_path / "a" / "state" / "seen").iterdir()), "a revoked partition's DB stayed on disk"
