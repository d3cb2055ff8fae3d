"""The Faust application: every stage registered on one app, configured from Settings.

Stages talk only through topics: ingest -> validated -> dedup, which routes to the identity graph
(graph topic, its own loop) -> resolved -> detect (with clock ticks) -> alerts, work items -> outreach dispatch (by team); resolved, identity
links, alerts and the dead-letter topic -> sink. `run_worker` is what `cxpulse worker` runs.
"""

from __future__ import annotations

import faulthandler
import logging
import signal

import faust

from streams.config import Settings
from streams.process import gc_pauses, metrics, native_heap
from streams.process.connections import faust_credentials
from streams.runtime import consumer_status, faust_producer, state
from streams.runtime.batch_source import BatchSource
from streams.runtime.topics import PipelineTopics, create_topics
from streams.stages import dedup, delivery, detect, identity, ingest, privacy, sink
from streams.stages import dispatch as outreach
from streams.warehouse import WarehouseError, floor_kpis, open_warehouse, rollups
from streams.warehouse.migrate import migrate_and_configure

log = logging.getLogger(__name__)


class CxApp(faust.App):
    """faust.App whose producer reconnects and is idempotent (streams.runtime.faust_producer), started
    without Faust's consumer, tables and agents (`producer_only`): every stage consumes through
    streams.runtime.batch_source. Faust's consumer read nothing, yet a stop that came while its own
    group was rebalancing could wait on it for good (a worker not stopping on SIGTERM in CI)."""

    producer_only = True

    async def on_stop(self) -> None:
        """The stages (the app's tasks) stop first, while the producer still runs: each commits what it
        handled and leaves its groups, then the producer is flushed and stopped. In the other order a
        stage's last batch, and an assignment arriving during the stop, met a closed producer."""
        await self._stop_futures()
        await super().on_stop()

    def _new_transport(self):
        return faust_producer.Transport(self.conf.broker_consumer, self)


def build_app(settings: Settings) -> tuple[faust.App, sink.BatchStore, list[BatchSource]]:
    k = settings.kafka
    app = CxApp(
        k.app_id,
        broker=[f"kafka://{host}" for host in settings.bootstrap.split(",")],
        broker_credentials=faust_credentials(settings),
        datadir=str(settings.data_path / "faust"),
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication_factor,
        producer_acks=-1,
        producer_linger=0.005,  # let sends coalesce into fewer, larger produce requests
        producer_max_batch_size=512 * 1024,
        web_enabled=False,
    )
    topics = PipelineTopics.declare(app, settings)
    store = sink.BatchStore(lambda: open_warehouse(settings), settings.sink.retry_initial_seconds,
                            settings.sink.retry_max_seconds)
    sources = [ingest.register(app, settings, topics),
               dedup.register(app, settings, topics, identity.Router(settings, topics)),
               identity.register(app, settings, topics), detect.register(app, settings, topics),
               *outreach.register(app, settings, topics), *sink.register(app, settings, topics, store),
               privacy.register(app, settings, topics, store)]
    delivery.register(app, settings, topics)  # its lag is the receivers', not the pipeline's: not in the gauge
    consumer_status.register(app, sources)
    floor_kpis.register(app, settings, store)
    return app, store, sources


def run_worker(settings: Settings) -> None:
    """Create topics, migrate the warehouse, serve metrics, then run the Faust worker until signalled."""
    from faust.worker import Worker

    # A worker that dies in a C extension (segfault, abort) or hangs tells where: every thread's
    # Python stack to stderr, on the fatal signal or on kill -QUIT (the worker runs on after that).
    faulthandler.enable(all_threads=True)
    faulthandler.register(signal.SIGQUIT, all_threads=True)
    native_heap.limit_arenas()  # before the threads that would each get an arena of their own
    native_heap.start_trimming()
    metrics.serve(settings.metrics.host, settings.metrics.port)
    gc_pauses.observe()
    app, store, sources = build_app(settings)
    changelogs = {table.topic: table.topic_configs for source in sources for table in source.tables}
    created = create_topics(settings, configs=changelogs)
    if created:
        log.info("created topics: %s", ", ".join(created))
    gc_pauses.collect_on_schedule(app)
    applied, ttls = store.call(lambda warehouse: migrate_and_configure(warehouse, settings))
    if applied:
        log.info("applied migrations: %s", ", ".join(f"{m.version:04d}_{m.name}" for m in applied))
    if ttls:
        log.info("retention TTLs changed: %s", ", ".join(ttls))
    log.info("worker starting: broker %s, warehouse %s, metrics :%s", settings.bootstrap,
             "clickhouse server" if settings.clickhouse.url else f"chDB at {settings.data_path / 'chdb'}",
             settings.metrics.port)
    state.drop_all(settings.data_path)
    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    finally:
        if not settings.clickhouse.url:  # its own chDB: every insert is done, so every slot can be rolled up
            try:
                store.call(rollups.flush)
            except WarehouseError as exc:  # the next start rolls them up
                log.warning("rollups at stop failed (%s)", exc)
        store.close()
