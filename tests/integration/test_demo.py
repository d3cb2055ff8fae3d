"""The README's first command: `cxpulse demo` runs everything, exits 0 and leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration,
              pytest.mark.same_on_any_broker(reason="the README's demo starts its own embedded broker; "
                                                    "the pipeline on Apache Kafka is the other tests'")]


def _processes_using(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes() or marker.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("stop", ["duration", "ctrl-c"])
def test_demo_runs_end_to_end_and_cleans_up(tmp_path, kafka_bootstrap, stop):
    data = tmp_path / "demo-data"
    env = {**os.environ, "CXPULSE_DATA_DIR": str(data)}
    if "CXPULSE_KAFKA_BOOTSTRAP" not in os.environ:
        env.pop("CXPULSE_KAFKA_BOOTSTRAP", None)  # the demo starts its own embedded broker
    else:
        run = f"demo{os.getpid()}"  # a shared broker: keep this run's topics and group apart
        env |= {"CXPULSE_KAFKA_INPUT_TOPICS": f"cx.events.{run}", "CXPULSE_KAFKA_DLQ_TOPIC": f"cx.events.dlq.{run}",
                "CXPULSE_KAFKA_VALIDATED_TOPIC": f"cx.events.validated.{run}",
                "CXPULSE_KAFKA_ACCEPTED_TOPIC": f"cx.events.accepted.{run}", "CXPULSE_KAFKA_APP_ID": f"cxpulse-{run}",
                "CXPULSE_KAFKA_IDENTITY_TOPIC": f"cx.identity.graph.{run}",
                "CXPULSE_KAFKA_LINKS_TOPIC": f"cx.identity.links.{run}",
                "CXPULSE_KAFKA_RESOLVED_TOPIC": f"cx.events.resolved.{run}",
                "CXPULSE_KAFKA_ALERTS_TOPIC": f"cx.alerts.{run}", "CXPULSE_KAFKA_TICKS_TOPIC": f"cx.detect.ticks.{run}",
                "CXPULSE_KAFKA_WORK_ITEMS_TOPIC": f"cx.work_items.{run}",
                "CXPULSE_KAFKA_OUTREACH_QUEUE_TOPIC": f"cx.outreach.queue.{run}",
                "CXPULSE_KAFKA_DISPATCH_TOPIC": f"cx.outreach.dispatch.{run}",
                "CXPULSE_KAFKA_UNDELIVERED_TOPIC": f"cx.alerts.undelivered.{run}"}
    if stop == "duration":
        done = subprocess.run([sys.executable, "-m", "streams.cli", "demo", "--duration", "25", "--rate", "300"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    else:  # what Ctrl-C sends to the foreground process
        demo = subprocess.Popen([sys.executable, "-m", "streams.cli", "demo", "--rate", "300"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(25)
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=300)
        done = subprocess.CompletedProcess(demo.args, demo.returncode, out, err)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cxpulse demo summary" in done.stdout
    floor = re.findall(r"waiting now ([\d,]+) +oldest wait ([\d,]+)s +service level (\d+)%", done.stderr)
    assert floor, "the board shows the live floor's KPIs (the worker runs the Live floor board's SQL)"
    totals = {label: int(count.replace(",", "")) for label, count in
              re.findall(r"│ (produced|stored in cx\.events|dead-lettered \(cx\.dead_letters\))\s*│\s*([\d,]+) │", done.stdout)}
    assert totals["produced"] > 1000
    assert totals["produced"] == totals["stored in cx.events"] + totals["dead-lettered (cx.dead_letters)"], totals
    assert _processes_using(str(data)) == [], "demo left processes behind"
    query = subprocess.run([sys.executable, "-m", "streams.cli", "query",
                            "SELECT channel, count() n FROM cx.events FINAL GROUP BY channel", "--format", "json"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    channels = {json.loads(line)["channel"] for line in query.stdout.splitlines()}
    assert len(channels) == 10, channels
    dead = subprocess.run([sys.executable, "-m", "streams.cli", "query",
                           "SELECT DISTINCT reason FROM cx.dead_letters", "--format", "json"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert len(dead.stdout.splitlines()) >= 5
    customers = re.search(r"│   seen on 2 or more channels\s*│\s*([\d,]+) │", done.stdout)
    assert customers and int(customers[1].replace(",", "")) > 0, done.stdout
    example = re.search(r"cxpulse timeline '(.+)'", done.stderr)
    assert example, done.stderr[-2000:]
    timeline = subprocess.run([sys.executable, "-m", "streams.cli", "timeline", example[1], "--format", "json"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert len({json.loads(line)["channel"] for line in timeline.stdout.splitlines()}) >= 2
