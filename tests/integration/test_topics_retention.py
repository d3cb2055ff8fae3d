"""`cxpulse topics create` gives the topics that feed a table its retention, on a real broker
(embedded Tansu, or Apache Kafka through scripts/with-apache-kafka)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import msgspec
import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

from streams.config import KafkaSettings

pytestmark = pytest.mark.integration
DAY = 86_400_000


def _topics_env(prefix: str) -> dict[str, str]:
    """Every topic of the pipeline under a prefix of its own, so reruns on one broker do not meet."""
    names = {k: v for k, v in msgspec.structs.asdict(KafkaSettings()).items() if k.endswith("_topic")}
    env = {f"CXPULSE_KAFKA_{key.upper()}": f"{prefix}.{name}" for key, name in names.items()}
    env["CXPULSE_KAFKA_INPUT_TOPICS"] = f"{prefix}.cx.events"
    return env


def _topics_create(bootstrap: str, tmp_path: Path, env: dict[str, str]) -> dict[str, list[str]]:
    environ = {**os.environ, **env, "CXPULSE_KAFKA_BOOTSTRAP": bootstrap,
               "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-m", "streams.cli", "topics", "create"], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    print(done.stdout.strip())
    return {line.split("\t")[0]: line.split("\t")[1:] for line in done.stdout.splitlines()}


def _retention(admin: KafkaAdminClient, names: list[str]) -> dict[str, str | None]:
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n, None) for n in names],
                                       config_filter="all")["topic"]
    return {n: described[n].get("retention.ms", {}).get("value") for n in names}


def test_topics_create_sets_and_aligns_retention(kafka_bootstrap, tmp_path):
    prefix = f"ret{uuid.uuid4().hex[:8]}"
    env = _topics_env(prefix)
    t = {key: env[f"CXPULSE_KAFKA_{key.upper()}"] for key in ("dlq_topic", "alerts_topic", "work_items_topic",
                                                               "links_topic", "undelivered_topic", "resolved_topic")}
    t["input"] = env["CXPULSE_KAFKA_INPUT_TOPICS"]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(t["alerts_topic"], 4, 1)])  # an existing topic, at the broker's default
        internal_default = _retention(admin, [t["alerts_topic"]])[t["alerts_topic"]]

        first = _topics_create(kafka_bootstrap, tmp_path, env)
        assert first[t["alerts_topic"]] == ["existing", str(180 * DAY), "set"]
        assert first[t["input"]] == ["created", str(90 * DAY), "set"]
        assert first[t["resolved_topic"]] == ["created", "-"]
        wanted = {t["input"]: 90 * DAY, t["dlq_topic"]: 14 * DAY, t["undelivered_topic"]: 14 * DAY,
                  t["links_topic"]: 400 * DAY, t["alerts_topic"]: 180 * DAY, t["work_items_topic"]: 180 * DAY}
        assert _retention(admin, list(wanted)) == {n: str(ms) for n, ms in wanted.items()}
        assert _retention(admin, [t["resolved_topic"]]) == {t["resolved_topic"]: internal_default}  # left alone

        again = _topics_create(kafka_bootstrap, tmp_path, {**env, "CXPULSE_RETENTION_ALERTS_DAYS": "0",
                                                           "CXPULSE_RETENTION_WORK_ITEMS_DAYS": "30"})
        assert again[t["alerts_topic"]] == ["existing", "-1", "set"]
        assert again[t["work_items_topic"]] == ["existing", str(30 * DAY), "set"]
        assert again[t["input"]] == ["existing", str(90 * DAY), "unchanged"]
        assert _retention(admin, [t["alerts_topic"], t["work_items_topic"]]) == {
            t["alerts_topic"]: "-1", t["work_items_topic"]: str(30 * DAY)}
    finally:
        admin.close()
