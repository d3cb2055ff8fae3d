"""The simulator's traffic through the whole pipeline: every channel stored, every bad event refused for its reason,
every unusable caller ID stored beside its event."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import pytest

from streams.config import IngestSettings
from streams.simulator import generate
from streams.stages.ingest import parse

pytestmark = pytest.mark.integration


@pytest.mark.same_on_any_broker(reason="channels and reasons are the simulator's and the parser's; "
                                       "one worker, no restart")
def test_simulated_traffic_lands_by_channel_and_reason(pipeline):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    emissions = list(itertools.islice(generate(seed=3, start=start, rate=500, bad_fraction=0.05), 8_000))
    pipeline.start_worker()
    for e in emissions:
        pipeline.send(e.value, key=e.key, headers=e.headers)
    pipeline.flush()
    valid = Counter(e.channel for e in emissions if e.expect == "valid")
    refused = Counter(e.expect for e in emissions if e.expect != "valid")
    pipeline.wait_stored(events=sum(valid.values()), dead_letters=sum(refused.values()))
    assert pipeline.stop_worker() == 0
    stored = {r["channel"]: r["n"] for r in pipeline.query("SELECT channel, count() n FROM cx.events FINAL GROUP BY channel")}
    assert stored == dict(valid)
    assert len(stored) == 10, f"all ten channels expected, got {sorted(stored)}"
    dead = {r["reason"]: r["n"] for r in pipeline.query("SELECT reason, count() n FROM cx.dead_letters FINAL GROUP BY reason")}
    assert dead == dict(refused)
    with_issues = sum(bool(parse(e.value, e.headers, origin="t:0:0", received_at=0.0, settings=IngestSettings(),
                                 now=start + dt.timedelta(seconds=e.at)).identifier_issues)
                      for e in emissions if e.expect == "valid")
    assert pipeline.scalar("SELECT countIf(notEmpty(identifier_issue_kinds)) FROM cx.events FINAL") == with_issues > 0
    modes = {r["mode"] for r in pipeline.query("SELECT DISTINCT mode FROM cx.events")}
    assert modes == {"structured", "binary"}


def test_dlq_replay_republishes_the_original_bytes(pipeline):
    """A message refused for a fixable reason is replayed byte for byte; fixing the limit lets it through."""
    from tests.integration.pipeline import event

    big = event(1)
    big["data"]["attributes"]["transcript"] = "x" * 2_000
    pipeline.env["CXPULSE_INGEST_MAX_EVENT_BYTES"] = "1000"
    pipeline.start_worker()
    pipeline.send(big, key=b"k-1", headers=[("trace", b"\x00\x01")])
    pipeline.flush()
    pipeline.wait_stored(events=0, dead_letters=1, timeout=60)
    pipeline.stop_worker()
    listed = pipeline.cli("dlq", "list", "--format", "json").stdout
    assert '"reason":"too_large"' in listed
    pipeline.env["CXPULSE_INGEST_MAX_EVENT_BYTES"] = "65536"  # the fix
    assert pipeline.cli("dlq", "replay", "--reason", "too_large").stdout.strip() == "replayed\t1"
    pipeline.start_worker()
    pipeline.wait_stored(events=1, dead_letters=0, timeout=60)
    pipeline.stop_worker()
    row = pipeline.query("SELECT event_id, length(JSONExtractString(attributes, 'transcript')) n FROM cx.events FINAL")
    assert row == [{"event_id": "ev-1", "n": 2_000}]
