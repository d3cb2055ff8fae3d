"""The peer: the shape of cxpulse's pipeline written with Quix Streams, for the harness to time beside it.

Two shuffles, like ours:
  1. parse each CloudEvent (structured or binary mode, orjson: streams.domain.cloudevents.decode), normalize
     its identifiers (streams.domain.normalize.identifiers, default ingest settings) and key it by source+id
     (group_by: a repartition topic);
  2. dedup in RocksDB state: an id seen before is dropped (kept for the whole run: no window);
  3. re-key by customer through a topic of its own: the strongest normalized identifier
     (streams.domain.records.customer_key, the rule ingest keys by), source+id when there is none.
     Quix Streams refuses a second, nested group_by, so this is an app.topic produced to and read
     by a second StreamingDataFrame;
  4. per-customer state (RocksDB): a minimal profile, events, last event time, channels used.
Not done, unlike ours: JSON Schema validation, identity stitching, detection, storing rows.
At-least-once (Quix's default), exactly-once off; changelog topics on, as Quix does by default.

It consumes the harness's pre-published topic as its own process and prints one JSON line once
--events events have passed the last step (or been dropped as duplicates):
{"events": N, "seconds": first record read -> last processed, "cpu_seconds": process CPU over the
same span (every thread: librdkafka's and RocksDB's included; it starts no processes)}.

    python benchmarks/quix_peer.py --bootstrap 127.0.0.1:9092 --topic cx.events --events 50000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.config import IngestSettings  # noqa: E402
from streams.domain.cloudevents import decode  # noqa: E402
from streams.domain.normalize import identifiers  # noqa: E402
from streams.domain.records import customer_key  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Progress:
    """The clock: started at the first record read, read when `events` records have been processed."""

    def __init__(self, events: int) -> None:
        self.events, self.done, self.started, self.cpu0 = events, 0, 0.0, 0.0

    def read(self) -> None:
        if not self.started:
            self.started, self.cpu0 = time.perf_counter(), cpu_seconds()

    def processed(self) -> None:
        self.done += 1
        if self.done == self.events:
            print(json.dumps({"events": self.events, "seconds": time.perf_counter() - self.started,
                              "cpu_seconds": cpu_seconds() - self.cpu0}), flush=True)
            os._exit(0)  # a clean stop commits and closes RocksDB: not part of the timed span, and not needed


def parser(settings: IngestSettings, progress: Progress):
    def parse(value: bytes, key, timestamp: int, headers) -> dict:
        progress.read()
        event, _ = decode(value, headers)
        customer, _ = identifiers(event["data"].get("customer") or {}, settings.default_phone_region,
                                  settings.withheld_caller_ids)
        source, id_ = event["source"].strip(), event["id"].strip()
        return {"source": source, "id": id_, "time": event["time"], "channel": event["data"]["channel"],
                "customer": customer_key(customer) or f"{source}\x1f{id_}"}
    return parse


def first_seen(progress: Progress):
    def keep(event: dict, state) -> bool:
        if state.get("seen"):
            progress.processed()  # a duplicate ends here
            return False
        state.set("seen", True)
        return True
    return keep


def profile(progress: Progress):
    def update(event: dict, state) -> None:
        kept = state.get("profile") or {"events": 0, "last_seen": "", "channels": []}
        kept["events"] += 1
        kept["last_seen"] = max(kept["last_seen"], event["time"])
        if event["channel"] not in kept["channels"]:
            kept["channels"].append(event["channel"])
        state.set("profile", kept)
        progress.processed()
    return update


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--bootstrap", required=True)
    args.add_argument("--topic", required=True, help="the pre-published CloudEvents")
    args.add_argument("--events", type=int, required=True, help="records to process before the clock stops")
    args.add_argument("--partitions", type=int, default=4, help="of the by-customer topic")
    args = args.parse_args()

    from quixstreams import Application
    from quixstreams.models import TopicConfig

    run = uuid.uuid4().hex[:8]
    app = Application(broker_address=args.bootstrap, consumer_group=f"quix-peer-{run}", auto_offset_reset="earliest",
                      processing_guarantee="at-least-once", state_dir=tempfile.mkdtemp(prefix="quix-peer-"),
                      loglevel="WARNING")
    progress, settings = Progress(args.events), IngestSettings()
    # retention.ms given explicitly: Tansu reports none for a topic, and Quix copies it to the topics it makes
    config = TopicConfig(num_partitions=args.partitions, replication_factor=1,
                         extra_config={"retention.ms": str(7 * 24 * 3600 * 1000)})
    inbound = app.topic(args.topic, key_deserializer="bytes", value_deserializer="bytes")
    by_customer = app.topic(f"quix-peer-{run}-by-customer", key_serializer="str", key_deserializer="str",
                            value_serializer="json", value_deserializer="json", config=config)

    events = app.dataframe(inbound).apply(parser(settings, progress), metadata=True)
    events = events.group_by(lambda e: f"{e['source']}\x1f{e['id']}", name="source_id")
    events = events.filter(first_seen(progress), stateful=True)
    events.to_topic(by_customer, key=lambda e: e["customer"])
    app.dataframe(by_customer).update(profile(progress), stateful=True)
    app.run()


if __name__ == "__main__":
    main()
