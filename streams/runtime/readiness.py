"""Tell when a worker consumes every topic: Faust's recovery done and every batch source's group joined.

Faust logs "Worker ready" before the batch sources (streams.runtime.batch_source) have joined their groups,
which on the embedded broker takes another ~3 s: events published in between wait that long. Tests,
benchmarks and operators wait for the "consuming" log line (or cxpulse_worker_consuming = 1) instead.
"""

from __future__ import annotations

import asyncio
import logging

from streams.runtime import gc_pauses, metrics
from streams.runtime.batch_source import BatchSource

log = logging.getLogger(__name__)

CONSUMING_LOG = "cxpulse worker consuming"


def register(app, sources: list[BatchSource]) -> None:
    @app.task
    async def announce_consuming() -> None:
        await app.tables.recovery.completed.wait()
        await asyncio.gather(*(source.joined.wait() for source in sources))
        frozen = gc_pauses.freeze_survivors()  # what start-up and recovery made lives as long as the worker
        metrics.CONSUMING.set(1)
        log.info("%s: tables recovered, groups joined (%s); %d start-up objects frozen out of the collector's walks",
                 CONSUMING_LOG, ", ".join(s.name for s in sources), frozen)
