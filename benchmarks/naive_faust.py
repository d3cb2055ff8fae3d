"""The naive baseline: a plain Faust agent, one event at a time, one table update per event.

This is the shape of Faust's own examples (iterate the stream, update a changelogged table),
with none of cxpulse's batching. The harness runs it as a subprocess on the pre-published
topic; it prints one JSON line when it has processed --events events:
{"events": N, "seconds": first event -> last, "cpu_seconds": process CPU over the same span}.

    python benchmarks/naive_faust.py --bootstrap 127.0.0.1:9092 --topic cx.events --events 50000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()

    import faust
    import orjson

    app = faust.App(f"naive-{uuid.uuid4().hex[:8]}", broker=f"kafka://{args.bootstrap}", store="memory://",
                    topic_partitions=args.partitions, web_enabled=False, consumer_auto_offset_reset="earliest",
                    datadir=f"/tmp/naive-faust-{os.getpid()}")
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    counts = app.Table("events_per_key", default=int, partitions=args.partitions)
    progress = {"seen": 0}

    @app.agent(topic)
    async def count(stream):
        async for event in stream.events():
            orjson.loads(event.value)
            counts[(event.key or b"").decode()] += 1
            progress["seen"] += 1
            if progress["seen"] == 1:
                progress["t0"], progress["cpu0"] = time.perf_counter(), cpu_seconds()
            if progress["seen"] == args.events:
                print(json.dumps({"events": args.events, "seconds": time.perf_counter() - progress["t0"],
                                  "cpu_seconds": cpu_seconds() - progress["cpu0"]}), flush=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
