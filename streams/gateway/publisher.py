"""Writes to the broker and says when it is durable: an idempotent kafka-python producer with acks=all.

A request is answered 2xx only once every one of its messages is acknowledged by the broker; when
the broker does not acknowledge within `ack_timeout_seconds` (down, slow, no leader) the request gets
a 503 and the channel system retries. A message that was written after all is then written twice,
and the duplicate is dropped downstream by source+id, so nothing acknowledged is ever lost.

kafka-python rather than aiokafka: aiokafka 0.14 asks for an idempotent producer id with a transaction
timeout of 2^31-1 ms, which the embedded broker (Tansu) refuses; kafka-python's works on both brokers.
Its sender thread calls back here once per request, when the last of its messages is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Sequence

from kafka import KafkaProducer

from streams.config import Settings
from streams.process.connections import kafka_client_config

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """The broker did not acknowledge in time: HTTP 503 with Retry-After."""


class _Acks:
    """Counts one request's acknowledgements in the sender thread; wakes the request once, at the last."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: int) -> None:
        self.loop, self.left, self.done = loop, expected, loop.create_future()
        self._lock = threading.Lock()

    def _finish(self, error: BaseException | None) -> None:
        if not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)

    def ok(self, _metadata) -> None:
        with self._lock:
            self.left -= 1
            last = self.left == 0
        if last:
            self.loop.call_soon_threadsafe(self._finish, None)

    def failed(self, error: BaseException) -> None:
        self.loop.call_soon_threadsafe(self._finish, error)


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout = settings.gateway.ack_timeout_seconds
        self._producer: KafkaProducer | None = None
        self._known_topics: set[str] = set()
        self._connecting: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return self._producer is not None

    def _new_producer(self) -> KafkaProducer:
        return KafkaProducer(client_id="cxpulse-gateway", enable_idempotence=True, acks="all", linger_ms=1,
                             max_block_ms=int(self._timeout * 1000),
                             max_request_size=max(1_048_576, self._settings.gateway.max_body_bytes * 2),
                             **kafka_client_config(self._settings))

    async def start(self) -> None:
        """Connect in the background: the gateway serves health (and 503s) while the broker is away."""
        self._connecting = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            try:
                producer = await asyncio.to_thread(self._new_producer)
            except Exception as exc:  # noqa: BLE001 - any failure to connect is retried the same way
                log.warning("broker %s not reachable (%s); retrying in %.1fs", self._settings.bootstrap, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._producer = producer
            log.info("connected to %s", self._settings.bootstrap)
            return

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close, 10)

    async def _metadata(self, producer: KafkaProducer, topics: set[str]) -> None:
        """Fetch unknown topics' partitions off the event loop: send() would block the loop for them."""
        for topic in topics - self._known_topics:
            await asyncio.wait_for(asyncio.to_thread(producer.partitions_for, topic), self._timeout)
            self._known_topics.add(topic)

    async def publish(self, messages: Sequence[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]) -> int:
        """Send (topic, key, value, headers) and wait for every acknowledgement; Unavailable past the bound."""
        if not messages:  # an empty batch: nothing to wait for
            return 0
        producer = self._producer
        if producer is None:
            raise Unavailable(f"not connected to the broker {self._settings.bootstrap} yet")
        acks = _Acks(asyncio.get_running_loop(), len(messages))
        try:
            await self._metadata(producer, {topic for topic, *_ in messages})
            for topic, key, value, headers in messages:
                producer.send(topic, value=value, key=key, headers=headers).add_callback(acks.ok).add_errback(acks.failed)
            await asyncio.wait_for(asyncio.shield(acks.done), self._timeout)
        except asyncio.TimeoutError as exc:
            raise Unavailable(f"the broker did not acknowledge within {self._timeout:g}s") from exc
        except Exception as exc:  # noqa: BLE001 - a send error is a broker problem to the caller: retry later
            raise Unavailable(f"the broker refused the write: {type(exc).__name__}: {exc}") from exc
        return len(messages)
