"""What a worker tells about its consumers: lag per topic, and when it consumes every topic.

Lag (cxpulse_consumer_lag_messages, for boards and alerts) is read from the stages' batch sources
once a second on the app's loop, with no extra Kafka request: for each assigned partition, the log
end the last fetch reported minus the committed offset. Each partition is
assigned to one worker, so the sum over workers is the group's lag. Topics no longer assigned read
0. On the embedded broker, which under-reports log ends (streams.runtime.log_end), it reads low.

Consuming: Faust logs "Worker ready" before the batch sources (streams.runtime.batch_source) have
joined their groups and rebuilt their tables, which on the embedded broker takes another ~3 s:
events published in between wait that long. Tests, benchmarks and operators wait for the "consuming" log line (or
cxpulse_worker_consuming = 1) instead.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from streams.process import gc_pauses, metrics
from streams.runtime.batch_source import BatchSource

log = logging.getLogger(__name__)

CONSUMING_LOG = "cxpulse worker consuming"


def register(app: faust.App, sources: list[BatchSource]) -> None:
    """sources: every stage's batch source."""
    gauge, seen = metrics.Children(metrics.CONSUMER_LAG), set()

    @app.timer(interval=1.0, name="consumer-lag")
    async def measure_lag() -> None:
        lag = dict.fromkeys(seen, 0)
        for source in sources:
            lag |= source.lag()
        for topic, messages in lag.items():
            gauge(topic).set(messages)
        seen.update(lag)

    @app.task
    async def announce_consuming() -> None:
        await asyncio.gather(*(source.joined.wait() for source in sources))
        frozen = gc_pauses.freeze_survivors()  # what start-up and recovery made lives as long as the worker
        metrics.CONSUMING.set(1)
        log.info("%s: groups joined, tables rebuilt (%s); %d start-up objects frozen out of the collector's walks",
                 CONSUMING_LOG, ", ".join(s.name for s in sources), frozen)
