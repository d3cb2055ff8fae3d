"""Privacy stage: carries out erasure requests (cx.privacy.erasure_requested, routed here by ingest).

Per request, at least once, every step idempotent:
1. the plan (streams.warehouse.erasure_plan) is resolved from the warehouse and saved in a changelogged table
   before anything is deleted, so a worker killed mid-way resumes the same plan;
2. Forget control records go through the stages' own inputs to the partitions owning the keys
   (streams.stages.forget): dedup entries, identity nodes, detection states; each stage deletes
   them (changelog tombstones, cache entries dropped) and its committed offset past the record
   acknowledges it;
3. once the sinks have stored everything published until then, the warehouse rows are counted
   (saved in the plan) and deleted;
4. the receipt is stored in cx.erasures and published on the erasures topic, then the plan is
   dropped (a tombstone) and the request's offset committed with the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from streams.domain import erasure as plans
from streams.domain import identity_graph as graph
from streams.domain import normalize
from streams.domain.erasure import hashed, receipt, row
from streams.domain.records import decode_event
from streams.process.connections import kafka_client_config
from streams.runtime.batch_source import Batch, BatchSource
from streams.runtime.envelopes import unpack
from streams.runtime.log_end import true_ends
from streams.runtime.state import Table
from streams.runtime.topics import committing_groups, retention_ms, stage_groups, topic_names
from streams.stages import forget
from streams.warehouse import erasure_plan, sql_string

log = logging.getLogger(__name__)


def _caught_up(kafka_config: dict, groups: dict[str, list[TopicPartition]], poll: float = 0.5,
               warn_after: float = 30.0) -> None:
    """Wait until each group has committed every listed partition up to its end as of now."""
    admin, consumer = KafkaAdminClient(**kafka_config), KafkaConsumer(enable_auto_commit=False, **kafka_config)
    try:
        tps = [tp for tps in groups.values() for tp in tps]
        ends = true_ends(consumer, consumer.end_offsets(tps))
        started, warned = time.monotonic(), 0.0
        while True:
            behind = []
            for group, group_tps in groups.items():
                offsets = admin.list_group_offsets(group).get(group, {})
                behind += [tp for tp in group_tps if ends[tp] > 0 and
                           (tp not in offsets or offsets[tp].offset < ends[tp])]
            if not behind:
                return
            waited = time.monotonic() - started
            if waited - warned > warn_after:
                warned = waited
                log.warning("erasure waits for %d partitions to be processed: %s", len(behind), behind[:5])
            time.sleep(poll)
    finally:
        admin.close()
        consumer.close()


def register(app, settings, topics, store) -> BatchSource:
    k = settings.kafka
    key = settings.privacy.key.encode()
    kafka_config = kafka_client_config(settings)
    table = Table(settings, "privacy_erasures", plans.decode, plans.encode)
    # where copies of the customer's records may stay until the topic's retention drops them: every
    # pipeline topic but the clock ticks and the receipts (none is compacted; the changelogs are)
    configured = retention_ms(settings)
    retention = {name: configured.get(name) for name in topic_names(settings)
                 if name not in (k.ticks_topic, k.erasures_topic)}
    groups = committing_groups(settings)
    # the group that reads each topic a Forget goes to (the ticks topic: detection, which commits it too)
    reader = {t: g for g, stage in stage_groups(settings).items() for t in stage.topics}
    sinks = {group: [TopicPartition(t, p) for t in names if t != k.privacy_topic for p in range(k.partitions)]
             for group, names in groups.items() if not set(names) & set(k.input_topics)}

    async def wait(groups: dict[str, list[TopicPartition]]) -> None:
        await asyncio.get_running_loop().run_in_executor(None, partial(_caught_up, kafka_config, groups))

    async def send_forgets(plan: plans.Plan) -> list[TopicPartition]:
        """Forget records to each owning partition; the partitions they were sent to."""
        sent = []
        for topic, keys in ((k.validated_topic, plan.dedup_keys), (k.ticks_topic, plan.customers)):
            for p, record in forget.per_partition(plan.erasure_id, keys, k.partitions).items():
                await topics.send(topic, forget.FORGET, forget.encode(record), partition=p)
                sent.append(TopicPartition(topic, p))
        for team in plan.teams:  # keyed by team through the producer's partitioner: to every partition
            for p in range(k.partitions):
                record = forget.Forget(plan.erasure_id, plan.customers, within=team)
                await topics.send(k.outreach_queue_topic, forget.FORGET, forget.encode(record), partition=p)
                sent.append(TopicPartition(k.outreach_queue_topic, p))
        out = topics.envelopes()
        for identifier in plan.identifiers:
            out.add(k.identity_topic, identifier.encode(), graph.encode(graph.Forget(identifier, plan.identifiers)))
            sent.append(TopicPartition(k.identity_topic, forget.partition_of(identifier.encode(), k.partitions)))
        await topics.send_envelopes(out)
        await app.producer.flush()
        return sorted(set(sent))

    async def carry_out(plan: plans.Plan) -> None:
        """Steps 2 and 3 (idempotent)."""
        acked = await send_forgets(plan)
        log.info("erasure %s: forgetting %d identifiers, %d customer ids, %d source+id pairs in the state stores",
                 plan.erasure_id, len(plan.identifiers), len(plan.customers), len(plan.dedup_keys))
        by_group: dict[str, list[TopicPartition]] = {}
        for tp in acked:
            by_group.setdefault(reader[tp.topic], []).append(tp)
        await wait(by_group)
        await wait(sinks)  # everything published before the stages forgot is stored before the deletes
        normalize.forget_remembered()  # raw phone numbers remembered by this worker's ingest

    async def save(plan: plans.Plan, partition: int) -> None:
        table.set(plan.erasure_id, plan, partition)
        await table.commit(app.producer)

    async def planned(ev, erasure: str) -> plans.Plan:
        new = plans.Plan(erasure_id=erasure, request=ev.dedup_key, requested_at=ev.time.timestamp(),
                         status="erase" if key else "refused")
        if not key:
            log.error("erasure %s refused: [privacy] key is not set (CXPULSE_PRIVACY_KEY); receipts name "
                      "identifiers only by their keyed hashes", erasure)
            return new
        ids = [f"{kind}:{v}" for kind, v in sorted(ev.customer.items())]
        return await store.with_warehouse(lambda w: erasure_plan.resolve(w, new, ids, ev.subject, [hashed(key, i) for i in ids]))

    async def erase(ev, partition: int) -> None:
        erasure = plans.erasure_id(ev.source, ev.id)
        done = await store.with_warehouse(lambda w: w.query(
            f"SELECT receipt FROM cx.erasures WHERE erasure_id = {sql_string(erasure)} LIMIT 1").scalar())
        if done:  # redelivered after its receipt was stored: publish it again
            await topics.send(k.erasures_topic, erasure.encode(), done.encode())
        else:
            plan = table.get(erasure, partition)
            if plan is None:
                plan = await planned(ev, erasure)
                await save(plan, partition)  # saved before anything is deleted
            if plan.status == "erase":
                await carry_out(plan)
                if not plan.counts:
                    plan.counts = await store.with_warehouse(lambda w: erasure_plan.count(w, plan))
                    await save(plan, partition)
                await store.with_warehouse(lambda w: erasure_plan.delete(w, plan))
            record = receipt(plan, key, time.time(), retention if plan.status == "erase" else {})
            await store.store("cx.erasures", [row(record)], f"cx.erasures-{erasure}")
            await topics.send(k.erasures_topic, erasure.encode(), orjson.dumps(record))
            log.info("erasure %s: %s, rows %s", erasure, record["status"], record["warehouse_rows"])
        table.delete(erasure, partition)
        await table.commit(app.producer)

    source = BatchSource(app, settings, "privacy", [k.privacy_topic], 1, 1.0, tables=(table,))

    async def handle(batch: Batch) -> None:
        for tp, messages in batch.items():
            for m in messages:
                for value in unpack(m.value):
                    await erase(decode_event(value), tp.partition)

    @app.task
    async def privacy() -> None:
        await source.run(handle)

    return source
