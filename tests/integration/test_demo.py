"""The README's first command: `cxpulse demo` runs everything, exits 0 and leaves nothing behind.

And in its first minute it shows the outreach loop: (nearly) every rule fires with the demo rules
profile, the simulated team claims, calls and resolves, and the summary prints the funnel."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from streams.runtime.consumer_status import CONSUMING_LOG

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


@pytest.mark.parametrize("stop", ["duration", "ctrl-c", "sigterm"])
def test_demo_runs_end_to_end_and_cleans_up(tmp_path, kafka_bootstrap, stop):
    data = tmp_path / "demo-data"
    env = {**os.environ, "CXPULSE_DATA_DIR": str(data)}
    if "CXPULSE_KAFKA_BOOTSTRAP" not in os.environ:
        env.pop("CXPULSE_KAFKA_BOOTSTRAP", None)  # the demo starts its own embedded broker
    else:
        run = f"demo{os.getpid()}"  # a shared broker: keep this run's topics and group apart
        env |= {"CXPULSE_KAFKA_INPUT_TOPICS": f"cx.events.{run}", "CXPULSE_KAFKA_DLQ_TOPIC": f"cx.events.dlq.{run}",
                "CXPULSE_KAFKA_VALIDATED_TOPIC": f"cx.events.validated.{run}",
                "CXPULSE_KAFKA_APP_ID": f"cxpulse-{run}",
                "CXPULSE_KAFKA_IDENTITY_TOPIC": f"cx.identity.graph.{run}",
                "CXPULSE_KAFKA_LINKS_TOPIC": f"cx.identity.links.{run}",
                "CXPULSE_KAFKA_RESOLVED_TOPIC": f"cx.events.resolved.{run}",
                "CXPULSE_KAFKA_ALERTS_TOPIC": f"cx.alerts.{run}", "CXPULSE_KAFKA_TICKS_TOPIC": f"cx.detect.ticks.{run}",
                "CXPULSE_KAFKA_WORK_ITEMS_TOPIC": f"cx.work_items.{run}",
                "CXPULSE_KAFKA_OUTREACH_QUEUE_TOPIC": f"cx.outreach.queue.{run}",
                "CXPULSE_KAFKA_DISPATCH_TOPIC": f"cx.outreach.dispatch.{run}",
                "CXPULSE_KAFKA_UNDELIVERED_TOPIC": f"cx.alerts.undelivered.{run}"}
    if stop == "duration":  # exactly what a first-time user runs
        done = subprocess.run([sys.executable, "-m", "streams.cli", "demo", "--duration", "60"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    else:  # what Ctrl-C sends to the foreground process, 20 s after the traffic flows and the worker consumes
        # (a fixed 25 s from the start was too short when CI's two test passes load the box: 0 produced, or no
        # live-floor reading yet; the worker reads the floor every 5 s once it consumes. 20 s after the
        # simulator thread started was too short once too: 0 produced, its first send not through yet)
        demo = subprocess.Popen([sys.executable, "-m", "streams.cli", "demo", "--rate", "300"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(demo.stderr.readline, "")), daemon=True)
        reader.start()
        deadline = time.monotonic() + 300
        worker_log = data / "worker.log"
        while not (any("traffic flowing" in line for line in list(lines))  # the first event is published
                   and worker_log.exists() and CONSUMING_LOG in worker_log.read_text(errors="replace")):
            assert demo.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "the demo's traffic and worker did not start within 300 s"
            time.sleep(0.5)
        time.sleep(20)
        demo.send_signal(signal.SIGINT if stop == "ctrl-c" else signal.SIGTERM)  # Ctrl-C; kill or timeout
        out = demo.stdout.read()
        demo.wait(600)
        reader.join(10)
        done = subprocess.CompletedProcess(demo.args, demo.returncode, out, "".join(lines))
    assert done.returncode == 0, done.stderr[-3000:]
    # a worker that hangs on SIGTERM is killed after the grace and loses its clean commit path
    assert "did not stop within" not in done.stderr, done.stderr[-3000:]
    assert "cxpulse demo summary" in done.stdout
    floor = re.findall(r"waiting now ([\d,]+) +oldest wait ([\d,]+)s +service level (\d+)%", done.stderr)
    assert floor, "the board shows the live floor's KPIs (the worker runs the Live floor board's SQL)"
    totals = {label: int(count.replace(",", "")) for label, count in
              re.findall(r"│ (produced|stored in cx\.events|dead-lettered \(cx\.dead_letters\))\s*│\s*([\d,]+) │", done.stdout)}
    assert totals["produced"] > 1000
    # the team's actions are produced and stored like any channel system's events
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
    if stop == "duration":
        _assert_the_outreach_loop_shows(done.stdout, env, tmp_path)
        _assert_the_example_is_one_person(example[1], env, tmp_path)


def _query(sql: str, env, cwd) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "streams.cli", "query", sql, "--format", "json"],
                          env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def _assert_the_outreach_loop_shows(summary: str, env, cwd) -> None:
    """Must show after `cxpulse demo --duration 60`: at least 7 rules in cx.alerts, at least one
    alert resolved by outreach, the funnel in the summary; the team a real client of the pipeline."""
    from streams.simulator.team import AGENTS, TEAM

    rules = {r["rule"] for r in _query("SELECT DISTINCT rule FROM cx.alerts", env, cwd)}
    assert len(rules) >= 7, rules
    fired = re.search(r"│ rules that fired \(cx\.alerts\)\s*│\s*(\d) of 8 │", summary)
    assert fired and int(fired[1]) == len(rules), summary
    by_outreach = _query("SELECT uniqExact(alert_id) AS n FROM cx.alerts FINAL WHERE resolution = 'outreach'", env, cwd)
    assert by_outreach[0]["n"] >= 1
    row = re.search(r"│ alerts resolved by outreach \(cx\.alerts\)\s*│\s*([\d,]+) │", summary)
    assert row and int(row[1].replace(",", "")) == by_outreach[0]["n"], summary
    funnel = [int(n.replace(",", "")) for n in re.findall(
        r"│   work items (?:opened|claimed|reached|resolved by outreach)\s*│\s*([\d,]+) │", summary)]
    # Every alert resolved by outreach had its item reached by the team first. Not the last step: an
    # item completed as callback_scheduled (18 % of the team's draws) resolves its alerts by outreach
    # without being `resolved`, and a slow CI minute had one completion, that kind (2026-12-07).
    assert len(funnel) == 4 and funnel == sorted(funnel, reverse=True) and funnel[2] >= 1, summary
    # a real client: its actions went in as events, and the items' holders are its named agents
    actions = _query("SELECT count() AS n FROM cx.events FINAL WHERE type LIKE 'cx.outreach.%'", env, cwd)[0]["n"]
    team_row = re.search(r"│   outreach actions by the simulated team\s*│\s*([\d,]+) │", summary)
    assert team_row and actions == int(team_row[1].replace(",", "")) > 0, summary
    holders = _query("SELECT DISTINCT holder, team FROM cx.work_items WHERE holder != ''", env, cwd)
    assert holders and all(h["holder"] in AGENTS and h["team"] == TEAM for h in holders), holders


def _assert_the_example_is_one_person(identifier: str, env, cwd) -> None:
    """The suggested customer is one simulated person (own phone), not callers glued by a switchboard."""
    quoted = identifier.replace("'", "\\'")
    rows = _query("SELECT identifier, status FROM cx.identity_map WHERE customer_id = "
                  f"(SELECT customer_id FROM cx.identity_map WHERE identifier = '{quoted}')", env, cwd)
    assert rows and all(r["status"] == "linked" for r in rows), rows
    # the simulator numbers its customers: email Name.SurnameN@, cust-N, acct-(100000 + N)
    people = set()
    for r in rows:
        if m := re.fullmatch(r"email:[a-z]+\.[a-z]+(\d+)@.*", r["identifier"]):
            people.add(int(m[1]))
        elif m := re.fullmatch(r"customer_id:cust-(\d+)", r["identifier"]):
            people.add(int(m[1]))
        elif m := re.fullmatch(r"account_id:acct-(\d+)", r["identifier"]):
            people.add(int(m[1]) - 100000)
    assert len(people) <= 1, rows
