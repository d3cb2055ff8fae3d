"""The worker's producer (streams.runtime.faust_producer): what a broker that stops answering does to it."""

from __future__ import annotations


def test_the_workers_producer_gives_up_a_metadata_request_left_unanswered(monkeypatch):
    """Every aiokafka producer the worker's Faust producer makes has the metadata-bound client: a
    metadata request with no answer ends after METADATA_TIMEOUT (not Faust's 20-minute request timeout)."""
    import asyncio

    from aiokafka.client import AIOKafkaClient
    from aiokafka.cluster import ClusterMetadata

    from streams.config import load_settings
    from streams.runtime import faust_producer
    from streams.worker import build_app

    async def unanswered(self, cluster_metadata, topics):
        await asyncio.Event().wait()

    monkeypatch.setattr(AIOKafkaClient, "_metadata_update", unanswered)  # the broker that never answers
    monkeypatch.setattr(faust_producer, "METADATA_TIMEOUT", 0.1)
    app, _, _ = build_app(load_settings(None, environ={}))

    async def ask() -> bool:
        producer = app.producer._new_producer()
        try:
            return await asyncio.wait_for(producer.client._metadata_update(ClusterMetadata(), []), 5)
        finally:
            await producer.stop()

    assert asyncio.run(ask()) is False  # the synchronizer's waiters ask again, on a new connection
