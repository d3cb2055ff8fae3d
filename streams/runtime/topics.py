"""Kafka topics of the pipeline: names, explicit creation, and the dead-letter send.

Topics are created explicitly with the configured partition count: a topic auto-created by a
producer gets the broker default, and Faust tables need the partition count of their source.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.config import Settings
from streams.domain.deadletter import dead_letter_headers
from streams.domain.records import RawMessage
from streams.domain.rejections import Rejected
from streams.process import metrics
from streams.process.connections import kafka_client_config
from streams.runtime.envelopes import Envelopes, send_records

log = logging.getLogger(__name__)


def topic_names(settings: Settings) -> list[str]:
    k = settings.kafka
    return [*k.input_topics, k.dlq_topic, k.validated_topic, k.identity_topic,
            k.links_topic, k.resolved_topic, k.alerts_topic, k.work_items_topic, k.outreach_queue_topic,
            k.dispatch_topic, k.ticks_topic, k.undelivered_topic, k.privacy_topic, k.erasures_topic]


@dataclass(frozen=True)
class StageGroup:
    """A stage's consumer group `<app_id>-<stage>` (streams.runtime.batch_source) and what it reads."""
    topics: list[str]
    timer_fed: bool = False  # detection's timers add to its input while no event arrives


def stage_groups(settings: Settings) -> dict[str, StageGroup]:
    """{consumer group: StageGroup} for every stage whose offsets the worker commits (webhook delivery
    is left out: its lag is the receivers')."""
    from streams.runtime.batch_source import group_of

    k = settings.kafka
    stages = {"ingest": StageGroup(list(k.input_topics)),
              "dedup": StageGroup([k.validated_topic]),
              "identity-graph": StageGroup([k.identity_topic]),
              "detect": StageGroup([k.resolved_topic, k.ticks_topic]),
              "outreach-route": StageGroup([k.work_items_topic], timer_fed=True),
              "outreach-dispatch": StageGroup([k.outreach_queue_topic], timer_fed=True),
              "privacy": StageGroup([k.privacy_topic]),
              "sink-events": StageGroup([k.resolved_topic]),
              "sink-records": StageGroup(list(sink_record_tables(settings)), timer_fed=True)}
    return {group_of(k.app_id, stage): group for stage, group in stages.items()}


def committing_groups(settings: Settings) -> dict[str, list[str]]:
    """{consumer group: topics} to watch for lag: every stage group, less the ticks topic, which never
    drains (a tick per partition per second)."""
    return {group: [t for t in stage.topics if t != settings.kafka.ticks_topic]
            for group, stage in stage_groups(settings).items()}


def event_path_groups(settings: Settings) -> set[str]:
    """The stage groups whose input comes only from events: once every event is consumed, these
    reach 0 and stay there (the timer-fed ones do not)."""
    return {group for group, stage in stage_groups(settings).items() if not stage.timer_fed}


def sink_record_tables(settings: Settings) -> dict[str, str]:
    """{public topic: its ClickHouse table} for the topics the sink's records source stores (all but
    the resolved events, which cx.events waits for on a shorter batch window)."""
    k = settings.kafka
    return {k.links_topic: "cx.identity_links", k.alerts_topic: "cx.alerts", k.work_items_topic: "cx.work_items",
            k.dispatch_topic: "cx.outreach_dispatch", k.dlq_topic: "cx.dead_letters",
            k.undelivered_topic: "cx.dead_letters"}


def retention_ms(settings: Settings) -> dict[str, int]:
    """retention.ms of each topic that feeds a table with a TTL: the table's (-1, for ever, when 0).

    The dead-letter topics hold payloads: they keep them as long as cx.dead_letters does (its payload TTL).
    Internal topics (validated, identity graph, resolved, ticks) and Faust's changelogs
    are left as they are: the broker's default, or compaction.
    """
    k, r = settings.kafka, settings.retention
    days = {**{name: r.events_days for name in k.input_topics},
            k.dlq_topic: r.dead_letter_payloads_days, k.undelivered_topic: r.dead_letter_payloads_days,
            k.links_topic: r.identity_links_days, k.alerts_topic: r.alerts_days, k.work_items_topic: r.work_items_days}
    return {name: d * 86_400_000 if d else -1 for name, d in days.items()}


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(client_id="cxpulse-admin", **kafka_client_config(settings))


def create_topics(settings: Settings, names: list[str] | None = None,
                  configs: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Create missing topics with the configured partitions and retention, or the `configs` given for
    a name (the tables' changelogs, streams.runtime.state); return the ones created."""
    admin = _admin(settings)
    retention = retention_ms(settings)
    configs = configs or {}
    try:
        existing = set(admin.list_topics())
        wanted = [n for n in (names or [*topic_names(settings), *configs]) if n not in existing]
        created = []
        for name in wanted:
            given = configs.get(name) or ({"retention.ms": str(retention[name])} if name in retention else {})
            try:
                admin.create_topics([NewTopic(name, settings.kafka.partitions, settings.kafka.replication_factor,
                                              topic_configs=given)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def align_retention(settings: Settings, timeout: float = 15.0) -> dict[str, tuple[int, bool]]:
    """Set retention.ms on the existing topics of `retention_ms` where it differs (incremental
    alter where the broker has it), and wait until the broker reads it back; return
    {topic: (retention.ms, changed)}.

    Apache Kafka (KRaft) applies an altered config a moment after it answers, so it is read back
    until it shows, for `timeout` seconds. Every config of a topic is described: Tansu 0.6 drops
    the connection on a DescribeConfigs that names the keys it wants.
    """
    wanted = retention_ms(settings)
    admin = _admin(settings)

    def stale() -> list[str]:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name, None) for name in wanted],
                                           config_filter="all").get("topic", {})
        return [name for name, ms in wanted.items()
                if str(described.get(name, {}).get("retention.ms", {}).get("value")) != str(ms)]

    try:
        changed = stale()
        if changed:
            alter = [ConfigResource(ConfigResourceType.TOPIC, n, {"retention.ms": str(wanted[n])}) for n in changed]
            result = admin.alter_configs(alter, raise_on_unknown=False)  # Tansu lists only the keys set
            refused = {name: error for name, error in result.get("topic", {}).items() if error != "OK"}
            if refused:
                raise KafkaError(f"the broker refused retention.ms on {refused}")
            deadline = time.monotonic() + timeout
            while (left := stale()) and time.monotonic() < deadline:
                time.sleep(0.2)
            if left:
                raise KafkaError(f"retention.ms altered but not read back within {timeout:g} s on {left}")
        return {name: (ms, name in changed) for name, ms in wanted.items()}
    finally:
        admin.close()


@dataclass
class PipelineTopics:
    """The names of the topics the stages read and write, and how they send to them.

    Stages produce through the app's Kafka producer directly (`send`): Faust's Topic.send wraps
    every message in futures and callbacks that cost more than the stage's own work. The
    producer is the one each batch source flushes before it commits offsets, so at-least-once holds.
    """

    app: Any
    validated: str
    dlq: str
    identity: str
    links: str
    resolved: str
    alerts: str
    work_items: str
    outreach_queue: str  # work item versions keyed by team, for the dispatch stage
    dispatch: str
    undelivered: str
    privacy: str        # erasure requests (streams.stages.privacy)

    @classmethod
    def declare(cls, app, settings: Settings) -> PipelineTopics:
        k = settings.kafka
        return cls(app=app, validated=k.validated_topic, dlq=k.dlq_topic,
                   identity=k.identity_topic, links=k.links_topic, resolved=k.resolved_topic, alerts=k.alerts_topic,
                   work_items=k.work_items_topic, outreach_queue=k.outreach_queue_topic, dispatch=k.dispatch_topic,
                   undelivered=k.undelivered_topic, privacy=k.privacy_topic)

    def envelopes(self) -> Envelopes:
        """A collector for records bound for internal topics (see streams.runtime.envelopes)."""
        return Envelopes(self.app.conf.topic_partitions)

    async def send_envelopes(self, envelopes: Envelopes) -> None:
        await envelopes.flush(self.app.producer)

    async def send(self, topic, key: bytes | None, value: bytes, headers: list | None = None,
                   partition: int | None = None) -> None:
        await self.app.producer.send(topic, key=key, value=value, partition=partition, timestamp=None, headers=headers)

    async def send_keyed(self, topic, records: list[tuple[bytes, bytes]]) -> None:
        """(key, value) records in produce batches, each on the partition `send` would pick for its key
        (Kafka's default partitioner): a stage's records of one batch cost one send, not one each."""
        if records:
            await send_records(self.app.producer, topic, [(None, key, value) for key, value in records])

    async def dead_letter(self, raw: RawMessage, rejected: Rejected, *, stage: str, origin: str,
                          source: str = "", event_id: str = "", to: Any = None) -> None:
        """Send the untouched message to the DLQ (or `to`) with its reason; count it."""
        headers = dead_letter_headers(raw, rejected, stage=stage, origin=origin, source=source, event_id=event_id)
        await self.send(to or self.dlq, raw.key, raw.value, headers)
        metrics.DEAD_LETTERS.labels(stage=stage, reason=str(rejected.reason)).inc()
