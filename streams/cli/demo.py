"""`cxpulse demo`: the whole pipeline on one machine with no infrastructure.

Starts the embedded broker (unless CXPULSE_KAFKA_BOOTSTRAP names one), creates topics, runs the
worker and the HTTP gateway as child processes (the worker migrates the warehouse and holds chDB),
publishes simulated traffic (email through the gateway, the rest straight to Kafka)
from a thread, runs the simulated outreach team (streams/simulator/team_client.py) from another,
and draws the live board on stderr. The worker detects with the demo rules profile
(config/rules-demo.toml: short thresholds, so every rule fires in the first minute). At the end
(--duration or Ctrl-C) the team finishes its calls, the pipeline drains, every child stops, and
a summary of what the warehouse holds goes to stdout: traffic, customers, the rules that fired
and the outreach funnel.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.cli import board
from streams.cli.embedded_broker import EmbeddedBroker, free_port
from streams.cli.status import LagProbe, Status, carry, scrape
from streams.config import Settings
from streams.domain.detect.rules import RULES
from streams.gateway.client import wait_ready
from streams.process.connections import kafka_client_config, kafka_security_config
from streams.runtime.topics import committing_groups, create_topics, event_path_groups
from streams.simulator.publish import POSTABLE
from streams.simulator.team_client import TeamClient

log = logging.getLogger(__name__)
GATEWAY_CHANNELS = frozenset({"email"})  # help desks post webhooks: the demo's email goes through the gateway


@dataclass
class DemoResult:
    produced: int = 0
    via_gateway: int = 0
    stored_by_channel: dict[str, int] = field(default_factory=dict)
    dead_by_reason: dict[str, int] = field(default_factory=dict)
    customers: int = 0
    multichannel_customers: int = 0
    example_identifier: str = ""
    by_team: int = 0                    # outreach actions the simulated team published (in `produced`)
    rules_fired: dict[str, int] = field(default_factory=dict)  # rule -> alerts opened
    funnel: dict[str, int] = field(default_factory=dict)       # FUNNEL step -> work items
    resolved_by_outreach: int = 0       # alerts whose resolution is `outreach` (cx.alerts)


# The outreach funnel: work items opened -> claimed -> reached (an attempt's outcome) -> resolved
# (completed with outcome `resolved`), as (label, condition on one item's versions in cx.work_items).
FUNNEL = (("opened", "1"), ("claimed", "max(first_claimed_at IS NOT NULL)"),
          ("reached", "max(last_outcome = 'reached')"),
          ("resolved by outreach", "max(state = 'closed' AND resolution = 'resolved')"))


class ChildProcess:
    """`cxpulse <command>` (the worker, the gateway) as a child in its own process group, logging to a file."""

    def __init__(self, command: str, env: dict[str, str], log_path) -> None:
        self.command, self._log = command, open(log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "streams.cli", command], env=env,
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", self.command, timeout)
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode


def _drain(metrics_url: str, lag: LagProbe, event_path: set[str], produced: int, timeout: float) -> None:
    """Wait until every event produced is consumed and the event path's groups have committed all
    they read, then until every other group has committed what its topics held at that moment.

    Not every group at 0 at once: detection's timers keep producing alerts and work items while the
    demo drains, and with commits every kafka.commit_interval the probe rarely saw all of them at 0
    together (a minute's warning in every demo)."""
    deadline, target = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        marks = lag.marks()
        if marks is not None and target is None and scrape(metrics_url).consumed >= produced and all(
                done >= end for (group, _), (done, end) in marks.items() if group in event_path):
            target = {key: end for key, (_, end) in marks.items()}
        if marks is not None and target is not None and all(
                marks[key][0] >= end for key, end in target.items() if key in marks):
            time.sleep(1.0)  # let the last sink batch land
            return
        time.sleep(0.5)
    marks = lag.marks() or {}
    left = {f"{group} {tp.topic}[{tp.partition}]": end - done for (group, tp), (done, end) in marks.items()
            if (target or {}).get((group, tp), end) > done}
    log.warning("pipeline not drained after %.0fs (%s; not committed: %s); stopping anyway", timeout,
                "events stored" if target else "events not all stored", left)


def summarize(settings: Settings, since: float) -> DemoResult:
    """What this run stored (the data dir keeps earlier runs too)."""
    from streams.warehouse import open_warehouse, sql_string

    warehouse = open_warehouse(settings)
    try:
        result = DemoResult()
        rows = warehouse.query(f"SELECT channel, count() FROM cx.events FINAL WHERE received_at >= "
                               f"toDateTime64({since:.3f}, 3) GROUP BY channel ORDER BY channel").rows
        result.stored_by_channel = {c: int(n) for c, n in rows}
        rows = warehouse.query(f"SELECT reason, count() FROM cx.dead_letters FINAL WHERE rejected_at >= "
                               f"toDateTime64({since:.3f}, 3) GROUP BY reason ORDER BY reason").rows
        result.dead_by_reason = {r: int(n) for r, n in rows}
        # The example: the busiest customer that is plainly one person. A switchboard number links its
        # callers until it reaches its cap (identity.caps), and they have the most channels, so not
        # a customer with two identifiers of one kind, nor one with events keyed by an identifier
        # over its cap.
        rows = warehouse.query(
            "SELECT count(), countIf(channels >= 2), argMaxIf(customer, (channels, events), "
            "customer IN (SELECT customer_id FROM (SELECT customer_id, kind, count() AS n FROM cx.identity_map "
            "WHERE status = 'linked' GROUP BY customer_id, kind) GROUP BY customer_id HAVING max(n) = 1) "
            "AND NOT shared) FROM "
            "(SELECT customer, uniqExact(channel) AS channels, count() AS events, max(customer_key IN "
            "(SELECT identifier FROM cx.identity_map WHERE status != 'linked')) AS shared "
            f"FROM cx.events_resolved WHERE received_at >= toDateTime64({since:.3f}, 3) AND customer != '' "
            "GROUP BY customer)").rows
        if rows and rows[0][0]:
            result.customers, result.multichannel_customers, customer = int(rows[0][0]), int(rows[0][1]), rows[0][2]
            # a readable identifier of that customer if its links are stored, else its id (always works)
            named = warehouse.query(f"SELECT identifier FROM cx.identity_map WHERE customer_id = {sql_string(customer)} "
                                    "AND status = 'linked' ORDER BY indexOf(['email', 'phone', 'account_id'], kind) = 0, "
                                    "indexOf(['email', 'phone', 'account_id'], kind) LIMIT 1").rows
            result.example_identifier = named[0][0] if named else customer
        after = f"toDateTime64({since:.3f}, 3)"
        rows = warehouse.query(f"SELECT rule, uniqExact(alert_id) FROM cx.alerts FINAL WHERE threshold_at >= {after} "
                               "GROUP BY rule ORDER BY rule").rows
        result.rules_fired = {rule: int(n) for rule, n in rows}
        rows = warehouse.query(f"SELECT uniqExactIf(alert_id, resolution = 'outreach') FROM cx.alerts FINAL "
                               f"WHERE threshold_at >= {after}").rows
        result.resolved_by_outreach = int(rows[0][0])
        steps = ", ".join(f"countIf(s{i})" for i in range(len(FUNNEL)))
        per_item = ", ".join(f"{condition} AS s{i}" for i, (_, condition) in enumerate(FUNNEL))
        rows = warehouse.query(f"SELECT {steps} FROM (SELECT work_item_id, {per_item} FROM cx.work_items FINAL "
                               f"WHERE opened_at >= {after} GROUP BY work_item_id)").rows
        result.funnel = {label: int(n) for (label, _), n in zip(FUNNEL, rows[0])}
        return result
    finally:
        warehouse.close()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)  # the `finally` stops the broker, the worker and the gateway


def _on_first_stop_signal() -> threading.Event:
    """An event set by the first SIGINT, SIGTERM or SIGHUP (Ctrl-C, `kill`, `timeout`, a closed
    terminal): the demo stops as at the end of its duration. After it, Ctrl-C is a KeyboardInterrupt
    again and the others a SystemExit, so the children are still stopped.

    Not KeyboardInterrupt for the first one: it can land inside kafka-python's network wait
    (the lag probe), which swallows it, and the board went on forever (seen in CI). SIGTERM and
    SIGHUP were not handled: they ended the demo at once and left its broker, worker and gateway
    running in their own sessions, holding the chDB directory and a CPU."""
    interrupted = threading.Event()

    def handler(signum, frame) -> None:
        interrupted.set()
        _restore_stop_signals()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    return interrupted


def _restore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)


def run_demo(settings: Settings, *, duration: float | None, rate: float, seed: int, bad_fraction: float,
             rules_file: str, shared_phone_fraction: float, team: bool = True) -> DemoResult:
    """rules_file: the worker's detection rules (the demo profile unless the user names another);
    team: run the simulated outreach team."""
    from streams.simulator import publish

    err = Console(stderr=True)
    since = time.time()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    broker = None
    if not settings.kafka.bootstrap:
        err.print("starting the embedded broker (Tansu)…")
        broker = EmbeddedBroker(log_path=settings.data_path / "tansu.log").start()
        settings.kafka.bootstrap = broker.bootstrap
    worker = gateway = None
    stop = threading.Event()
    produced = [0]
    posted = [0]
    team_client = TeamClient(settings, seed)
    try:
        create_topics(settings)
        metrics_port = free_port()
        env = {**os.environ, "CXPULSE_KAFKA_BOOTSTRAP": settings.bootstrap,
               "CXPULSE_DATA_DIR": str(settings.data_path), "CXPULSE_METRICS_PORT": str(metrics_port),
               "CXPULSE_METRICS_HOST": "127.0.0.1", "CXPULSE_METRICS_FLOOR_KPIS_SECONDS": "5",
               "CXPULSE_DETECT_RULES_FILE": rules_file}
        err.print(f"starting the worker (log: {settings.data_path / 'worker.log'})…")
        worker = ChildProcess("worker", env, settings.data_path / "worker.log")
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        gateway_url = f"http://127.0.0.1:{free_port()}"
        err.print(f"starting the HTTP gateway on {gateway_url} (email arrives through it, as help desks post "
                  f"webhooks; log: {settings.data_path / 'gateway.log'})…")
        gateway = ChildProcess("gateway", {**env, "CXPULSE_GATEWAY_PORT": gateway_url.rsplit(":", 1)[1],
                                           "CXPULSE_GATEWAY_METRICS_PORT": "0",
                                           "CXPULSE_GATEWAY_ALLOW_ANONYMOUS_LOOPBACK": "true"},
                               settings.data_path / "gateway.log")
        wait_ready(gateway_url, gateway.process, settings.data_path / "gateway.log")

        def on_emit(emission) -> None:
            produced[0] += 1
            if produced[0] == 1:  # the simulator's producer is connected and the traffic flows
                err.print(f"traffic flowing: the first event is published ({rate:,.0f} events/s)")
            posted[0] += emission.channel in GATEWAY_CHANNELS and emission.expect in POSTABLE

        simulator = threading.Thread(
            target=publish, name="simulator", daemon=True,
            kwargs=dict(bootstrap=settings.bootstrap, topic=settings.kafka.input_topics[0], rate=rate, count=None,
                        duration=duration, seed=seed, bad_fraction=bad_fraction,
                        max_event_bytes=settings.ingest.max_event_bytes, progress=False, stop=stop,
                        on_emit=on_emit, producer_config=kafka_security_config(settings),
                        gateway=gateway_url, gateway_channels=GATEWAY_CHANNELS,
                        shared_phone_fraction=shared_phone_fraction))
        # grace: the last actions' verdicts come after the stage's allowed lateness
        grace = settings.detect.allowed_lateness_seconds + 20.0
        outreach = threading.Thread(target=team_client.run, args=(stop, grace), name="outreach-team", daemon=True)
        # lag over every stage's input: the last sink batch is stored only when all of them reach 0
        lag = LagProbe(kafka_client_config(settings), committing_groups(settings), exact=False)
        started = time.monotonic()
        simulator.start()
        if team:
            err.print("the simulated outreach team works the list (streams/simulator/team.py)…")
            outreach.start()
        before = Status()
        interrupted = _on_first_stop_signal()
        with Live(console=err, refresh_per_second=2, transient=False) as live:
            while simulator.is_alive() and not interrupted.is_set():
                if worker.process.poll() is not None:
                    raise RuntimeError(f"the worker exited with code {worker.process.returncode}; "
                                       f"see {settings.data_path / 'worker.log'}")
                now = scrape(metrics_url, timeout=2.0)
                now.lag = lag.lag()
                now = carry(now, before)
                live.update(board.render(now, before, produced[0], time.monotonic() - started))
                before = now
                interrupted.wait(1.0)
        _restore_stop_signals()
        if interrupted.is_set():
            err.print("interrupted: stopping…")
        stop.set()
        simulator.join()
        if outreach.is_alive():
            err.print("the outreach team finishes its calls…")
            outreach.join()
        err.print("draining the pipeline…")
        _drain(metrics_url, lag, event_path_groups(settings), produced[0] + team_client.stats.published,
               timeout=60.0)
        lag.close()
    finally:
        stop.set()
        if gateway is not None:
            gateway.stop()
        if worker is not None:
            code = worker.stop()
            if code not in (0, -signal.SIGTERM):
                err.print(f"[yellow]worker exited with code {code}[/yellow]")
        if broker is not None:
            broker.stop()
    result = summarize(settings, since)
    result.produced, result.via_gateway = produced[0] + team_client.stats.published, posted[0]
    result.by_team = team_client.stats.published
    return result


def print_summary(result: DemoResult) -> None:
    out = Console()
    table = Table(title="cxpulse demo summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("produced", f"{result.produced:,}")
    table.add_row("  posted through the HTTP gateway (email)", f"{result.via_gateway:,}")
    table.add_row("  outreach actions by the simulated team", f"{result.by_team:,}")
    table.add_row("stored in cx.events", f"{sum(result.stored_by_channel.values()):,}")
    for channel, count in result.stored_by_channel.items():
        table.add_row(f"  {channel}", f"{count:,}")
    table.add_row("dead-lettered (cx.dead_letters)", f"{sum(result.dead_by_reason.values()):,}")
    for reason, count in result.dead_by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("customers (stitched across channels)", f"{result.customers:,}")
    table.add_row("  seen on 2 or more channels", f"{result.multichannel_customers:,}")
    table.add_row("rules that fired (cx.alerts)", f"{len(result.rules_fired)} of {len(RULES)}")
    for rule in RULES:
        table.add_row(f"  {rule}", f"{result.rules_fired.get(rule, 0):,}")
    table.add_row("outreach funnel (cx.work_items)", "")
    for label, count in result.funnel.items():
        table.add_row(f"  work items {label}", f"{count:,}")
    table.add_row("alerts resolved by outreach (cx.alerts)", f"{result.resolved_by_outreach:,}")
    out.print(table)
    if result.example_identifier:
        # plain print: rich would wrap a long identifier across lines
        print(f"one customer's timeline: cxpulse timeline '{result.example_identifier}'", file=sys.stderr)
