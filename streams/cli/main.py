"""`cxpulse`: the command line. Data goes to stdout, logs and progress to stderr.

Exit codes: 0 success, 1 the command ran and found a problem (invalid events, a failed query),
2 usage or configuration error.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from streams.config import ConfigError, Settings, load_settings
from streams.process import redact

app = typer.Typer(help="cxpulse: real-time contact-center event pipeline.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
schema_app = typer.Typer(help="The event contract (JSON Schemas under schemas/events).", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: refused events with their reasons.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics of the pipeline.", no_args_is_help=True)
grafana_app = typer.Typer(help="Grafana boards as code (grafana/dashboards, streams/boards).", no_args_is_help=True)
alerts_app = typer.Typer(help="Proactive-outreach alerts: the open list, and the team's actions on them.")
app.add_typer(schema_app, name="schema")
app.add_typer(grafana_app, name="grafana")
app.add_typer(dlq_app, name="dlq")
app.add_typer(topics_app, name="topics")
app.add_typer(alerts_app, name="alerts")

log = logging.getLogger("cxpulse")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"cxpulse: {message}", err=True)
    raise typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", "-c", envvar="CXPULSE_CONFIG",
                                          help="TOML config file (default ./cxpulse.toml when present)."),
    log_level: Optional[str] = typer.Option(None, "--log-level", help="debug|info|warning|error (overrides config)."),
) -> None:
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        _fail(str(exc), 2)
    if log_level:
        settings.log_level = log_level
    redact.install(allow_identifiers=settings.log_identifiers)
    logging.basicConfig(stream=sys.stderr, level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))  # per-connection chatter
    # "Task ... ran for 0.3s ... blocking the event loop": kafka-python timing its own network loop, which
    # other threads holding the GIL (the demo's board, its simulator) delay; nothing a user can act on
    logging.getLogger("kafka.net.selector").setLevel(max(logging.ERROR, logging.getLogger().level))
    ctx.obj = settings


@app.command()
def worker(ctx: typer.Context) -> None:
    """Run the pipeline (ingest, dedup, identity, detection, webhooks, sink) as one Faust worker until SIGINT/SIGTERM."""
    from kafka.errors import KafkaError

    from streams.warehouse import WarehouseError
    from streams.worker import run_worker

    settings = settings_of(ctx)
    try:
        run_worker(settings)
    except KafkaError as exc:
        _fail(f"cannot reach Kafka at {settings.bootstrap}: {exc!r}")
    except (OSError, WarehouseError) as exc:
        _fail(str(exc))


@app.command()
def gateway(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", help="listen address (default gateway.host)"),
    port: Optional[int] = typer.Option(None, "--port", help="listen port (default gateway.port)"),
) -> None:
    """HTTP gateway: CloudEvents (binary, structured, batched) on /v1/events and vendors' webhooks on
    /v1/vendors/<vendor>, answered 202 once the broker acknowledged (docs/gateway.md)."""
    from streams.gateway.app import serve

    settings = settings_of(ctx)
    settings.gateway.host = host or settings.gateway.host
    settings.gateway.port = settings.gateway.port if port is None else port
    try:
        serve(settings)
    except ConfigError as exc:
        _fail(str(exc), 2)
    except OSError as exc:
        _fail(str(exc))


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply pending ClickHouse migrations (schemas/clickhouse) and the retention TTLs, idempotently."""
    from streams.warehouse.migrate import migrate_and_configure

    applied, ttls = _with_warehouse(ctx, lambda warehouse: migrate_and_configure(warehouse, settings_of(ctx)))
    for m in applied:
        typer.echo(f"applied {m.version:04d}_{m.name}")
    for changed in ttls:
        typer.echo(f"retention {changed}")
    if not applied and not ttls:
        typer.echo("up to date", err=True)


@topics_app.command("create")
def topics_create(ctx: typer.Context) -> None:
    """Create the pipeline's topics with the configured partitions (existing ones are kept); give the
    topics that feed a table with a TTL its retention.ms (docs/retention.md).

    One line per topic: name, created|existing, retention.ms (-1: for ever) and set|unchanged, or "-".
    """
    from kafka.errors import KafkaError

    from streams.runtime.topics import align_retention, create_topics, topic_names

    settings = settings_of(ctx)
    try:
        created = set(create_topics(settings))
        retention = align_retention(settings)
    except KafkaError as exc:
        _fail(f"topics create: {exc}")
    for name in topic_names(settings):
        ms, changed = retention.get(name, (None, False))
        kept = "-" if ms is None else f"{ms}\t{'set' if changed or name in created else 'unchanged'}"
        typer.echo(f"{name}\t{'created' if name in created else 'existing'}\t{kept}")


@app.command()
def query(ctx: typer.Context, sql: str = typer.Argument(..., help="SQL to run"),
          fmt: str = typer.Option("tsv", "--format", "-f", help="tsv (with header) or json (one object per line)")) -> None:
    """Run SQL against the configured warehouse (chDB under CXPULSE_DATA_DIR, or CXPULSE_CLICKHOUSE_URL)."""
    from streams.cli.output import write_result

    if fmt not in ("tsv", "json"):
        _fail("--format must be tsv or json", 2)
    write_result(_with_warehouse(ctx, lambda w: w.query(sql)), fmt, sys.stdout)


@app.command("timeline")
def timeline_cmd(
    ctx: typer.Context,
    identifier: str = typer.Argument(..., help="any identifier of the customer: email, phone, "
                                               "kind:value (account_id:A-1), or a customer id c_..."),
    fmt: str = typer.Option("table", "--format", "-f", help="table (readable) or json (one event per line)"),
    limit: int = typer.Option(10_000, "--limit", help="at most this many events"),
) -> None:
    """Print one customer's stitched timeline across channels (exit 1 when nobody has the identifier)."""
    from streams.cli import timeline
    from streams.cli.output import write_result
    from streams.domain import pseudonyms
    from streams.warehouse.customers import find_customer

    if fmt not in ("table", "json"):
        _fail("--format must be table or json", 2)
    settings = settings_of(ctx)

    def run(warehouse):
        customer = find_customer(warehouse, identifier, settings.ingest.default_phone_region,
                                 pseudonyms.from_settings(settings))
        return customer, (timeline.timeline(warehouse, customer, limit) if customer else None)

    customer, result = _with_warehouse(ctx, run)
    if customer is None or not result.rows:
        _fail(f"no customer has the identifier {identifier!r}")
    if fmt == "json":
        write_result(result, "json", sys.stdout)
    else:
        timeline.write_table(result, customer, sys.stdout)


@app.command("forget")
def forget_cmd(
    ctx: typer.Context,
    identifier: str = typer.Argument(..., help="any identifier of the customer, as `cxpulse timeline` takes it"),
    timeout: float = typer.Option(300.0, "--timeout", help="seconds to wait for the worker's receipt"),
) -> None:
    """Erase a customer everywhere cxpulse keeps them (docs/erasure.md) and print the receipt (JSON).

    Publishes cx.privacy.erasure_requested; a running worker carries it out. Exit 0 when erased (or
    erased before), 1 when nobody has the identifier or no receipt came in time, 2 without [privacy] key.
    """
    import orjson
    from kafka.errors import KafkaError

    from streams.cli.forget import forget

    settings = settings_of(ctx)
    if not settings.privacy.key:
        _fail("forget needs [privacy] key (CXPULSE_PRIVACY_KEY or CXPULSE_PRIVACY_KEY_FILE): the receipt "
              "names identifiers only by their keyed hashes", 2)
    try:
        record, erasure = forget(settings, identifier, timeout, lambda line: typer.echo(line, err=True))
    except ValueError as exc:
        _fail(str(exc))
    except KafkaError as exc:
        _fail(f"cannot reach Kafka at {settings.bootstrap}: {exc!r}")
    if record is None:
        _fail(f"no receipt for erasure {erasure} within {timeout:g} s: is a worker running? The request stays "
              "queued and is carried out when one runs")
    typer.echo(orjson.dumps(record).decode())
    if record["status"] == "unknown":
        _fail(f"no customer has the identifier {identifier!r} (never seen, or erased before the receipts "
              "were kept): nothing changed")
    if record["status"] == "already_erased":
        typer.echo(f"already erased by {record['previous_erasure_id']}: nothing left to erase", err=True)
    elif record["status"] != "erased":
        _fail(f"erasure {erasure} {record['status']}: see the worker's log")


@alerts_app.callback(invoke_without_command=True)
def alerts_cmd(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="print the open alerts and exit (default: follow live)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json (one alert per line; implies --once)"),
) -> None:
    """Show the open proactive-outreach alerts by priority, live from the cx.alerts topic."""
    from streams.cli import alerts_view

    if ctx.invoked_subcommand is not None:
        return
    if fmt not in ("table", "json"):
        _fail("--format must be table or json", 2)
    settings = settings_of(ctx)
    board = alerts_view.Board()
    if once or fmt == "json":
        for _ in alerts_view.follow(settings, board, until_end=True):
            pass
        if fmt == "json":
            alerts_view.write_json(board.open(), sys.stdout)
        else:
            from rich.console import Console

            Console(file=sys.stdout, width=160).print(alerts_view.table(board.open()))
        return
    from rich.live import Live

    try:
        with Live(alerts_view.table([]), refresh_per_second=2, screen=False) as live:
            for _ in alerts_view.follow(settings, board, until_end=False):
                live.update(alerts_view.table(board.open()))
    except KeyboardInterrupt:
        pass


_ITEM = typer.Argument(..., help="the work item (wi_...) or one of its alerts (al_...) the action is about")
_AGENT = typer.Option(..., "--agent", envvar="CXPULSE_AGENT", help="who acts (agent id)")
_TEAM = typer.Option(..., "--team", envvar="CXPULSE_TEAM", help="the agent's outreach team")
_CHANNEL = typer.Option("voice", "--channel", help="channel used to reach out (contract channels)")
_AT = typer.Option(None, "--at", help="event time, RFC 3339 (default: now)")
_NOTE = typer.Option(None, "--note", help="free text kept with the action")
_WAIT = typer.Option(60.0, "--wait", help="seconds to wait for the pipeline's verdict (0: publish and exit); "
                     "the stage applies an action once its watermark passes it (detect.allowed_lateness_seconds)")


def _outreach(ctx: typer.Context, verb: str, item: str, agent: str, team: str, channel: str, at: Optional[str],
              note: Optional[str], wait: float, outcome: Optional[str] = None, until: Optional[str] = None) -> None:
    """Check the arguments (exit 2), find the item (exit 1 if unknown), publish the action, wait for its verdict.

    Prints the work item as the action left it (JSON) and exits 0 when accepted; exits 1 naming the
    reason (e.g. who holds the item) when refused, or when no verdict came within --wait."""
    import time as _time

    import orjson

    from streams.cli import outreach_send as send
    from streams.domain.normalize import parse_time
    from streams.domain.outreach.actions import ActionError, action_event, outcomes
    from streams.domain.rejections import Rejected

    settings = settings_of(ctx)
    k = settings.kafka
    allowed = outcomes(verb)
    if allowed and outcome not in allowed:
        _fail(f"--outcome must be one of {', '.join(allowed)}", 2)
    try:
        when = parse_time(at).timestamp() if at else _time.time()
        until_at = parse_time(until).timestamp() if until else None
    except Rejected as exc:
        _fail(exc.detail, 2)
    if item.startswith("wi_"):
        target = send.newest(settings, k.work_items_topic, "work_item_id", item)
    else:
        target = send.newest(settings, k.alerts_topic, "alert_id", item)
    if target is None:
        _fail(f"no work item or alert {item!r} on {k.work_items_topic if item.startswith('wi_') else k.alerts_topic}")
    try:
        event = action_event(verb, target, agent=agent, team=team, channel=channel, at=when, outcome=outcome,
                             until=until_at, note=note)
    except ActionError as exc:
        _fail(str(exc))
    since = send.ends(settings, k.work_items_topic)
    send.publish(settings, event, key=item)
    log.info("published %s %s as event %s", event["type"], item, event["id"])
    if wait <= 0:
        typer.echo(orjson.dumps(event).decode())
        return
    got = send.verdict(settings, k.work_items_topic, since, event["id"], wait)
    if got is None:
        _fail(f"no verdict on {event['type']} {event['id']} within {wait:g} s (published; is the worker running?)")
    typer.echo(orjson.dumps(got).decode())
    if not got["action"]["accepted"]:
        _fail(f"{verb} refused: {got['action']['reason']}")


@alerts_app.command("claim")
def alerts_claim(ctx: typer.Context, item: str = _ITEM, agent: str = _AGENT, team: str = _TEAM,
                 channel: str = _CHANNEL, at: Optional[str] = _AT, note: Optional[str] = _NOTE,
                 wait: float = _WAIT) -> None:
    """Claim a customer's work item: you will reach out (cx.outreach.claimed); refused, exit 1, if someone holds it."""
    _outreach(ctx, "claim", item, agent, team, channel, at, note, wait)


@alerts_app.command("release")
def alerts_release(ctx: typer.Context, item: str = _ITEM, agent: str = _AGENT, team: str = _TEAM,
                   channel: str = _CHANNEL, at: Optional[str] = _AT, note: Optional[str] = _NOTE,
                 wait: float = _WAIT) -> None:
    """Give a claimed work item back to the list (publishes cx.outreach.released)."""
    _outreach(ctx, "release", item, agent, team, channel, at, note, wait)


@alerts_app.command("snooze")
def alerts_snooze(ctx: typer.Context, item: str = _ITEM,
                  until: str = typer.Option(..., "--until", help="RFC 3339 time the alert comes back"),
                  agent: str = _AGENT, team: str = _TEAM, channel: str = _CHANNEL, at: Optional[str] = _AT,
                  note: Optional[str] = _NOTE, wait: float = _WAIT) -> None:
    """Take a work item off the list until a time (publishes cx.outreach.snoozed)."""
    _outreach(ctx, "snooze", item, agent, team, channel, at, note, wait, until=until)


def _outcome_command(verb: str, doc: str) -> None:
    """`attempt` and `done`: an action with an --outcome, whose values the contract lists."""
    from streams.domain.outreach.actions import outcomes

    def command(ctx: typer.Context, item: str = _ITEM,
                outcome: str = typer.Option(..., "--outcome", help="|".join(outcomes(verb))),
                agent: str = _AGENT, team: str = _TEAM, channel: str = _CHANNEL, at: Optional[str] = _AT,
                note: Optional[str] = _NOTE, wait: float = _WAIT) -> None:
        _outreach(ctx, verb, item, agent, team, channel, at, note, wait, outcome=outcome)

    command.__doc__ = doc
    alerts_app.command(verb)(command)


_outcome_command("attempt", "Record one try to reach the customer (publishes cx.outreach.attempted).")
_outcome_command("done", "Close the work item, with its outcome (publishes cx.outreach.completed; resolves its alerts).")


@app.command("replay")
def replay_cmd(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="JSON lines of structured CloudEvents; - for stdin"),
    speed: float = typer.Option(1.0, "--speed", "-s", help="1 = real time, 10 = ten times faster, 0 = no pauses"),
    topic: Optional[str] = typer.Option(None, "--topic", help="default: the first input topic"),
) -> None:
    """Publish recorded events at their recorded rhythm times SPEED (event times unchanged)."""
    from streams.cli import replay
    from streams.process.connections import kafka_security_config

    if speed < 0:
        _fail("--speed must be >= 0", 2)
    settings = settings_of(ctx)
    stream = sys.stdin.buffer if file == "-" else open(file, "rb")
    with stream:
        try:
            records = replay.read(stream)
        except ValueError as exc:
            _fail(f"{file}: {exc}", 2)
    took = replay.replay(records, settings.bootstrap, topic or settings.kafka.input_topics[0], speed,
                         kafka_security_config(settings))
    typer.echo(f"replayed {len(records):,} events in {took:.1f} s", err=True)


@schema_app.command("validate")
def schema_validate(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="JSON lines file of CloudEvents (structured mode); - for stdin"),
) -> None:
    """Check every line against the event contract; print each failure; exit 1 if any."""
    from streams.cli.validate_file import validate_lines

    stream = sys.stdin.buffer if file == "-" else open(file, "rb")
    with stream:
        total, failures = validate_lines(stream, settings_of(ctx).ingest, sys.stdout)
    typer.echo(f"{total} events, {total - failures} valid, {failures} invalid", err=True)
    if failures:
        raise typer.Exit(1)


_SHARED_PHONES = typer.Option(None, "--shared-phone-fraction", min=0.0, max=1.0,
                              help="share of customers calling from a switchboard number a few share "
                                   "(default: simulator.shared_phone_fraction, 0.03)")


def _shared_phones(settings: Settings, flag: Optional[float]) -> float:
    return settings.simulator.shared_phone_fraction if flag is None else flag


@app.command()
def simulate(
    ctx: typer.Context,
    rate: float = typer.Option(200.0, "--rate", "-r", help="events per second"),
    count: Optional[int] = typer.Option(None, "--count", "-n", help="stop after this many events"),
    duration: Optional[float] = typer.Option(None, "--duration", "-d", help="stop after this many seconds"),
    seed: int = typer.Option(1, "--seed", help="same seed, same events"),
    bad_fraction: float = typer.Option(0.02, "--bad-fraction", help="share of malformed events (0..1)"),
    topic: Optional[str] = typer.Option(None, "--topic", help="default: the first input topic"),
    ahead: bool = typer.Option(False, "--ahead", help="generate every event before publishing (needs --duration), "
                               "so a load test measures the pipeline, not the generator"),
    shared_phone_fraction: Optional[float] = _SHARED_PHONES,
) -> None:
    """Publish realistic traffic for all ten channels to Kafka (CloudEvents, structured and binary mode)."""
    from streams.process import metrics
    from streams.process.connections import kafka_security_config
    from streams.simulator import publish

    settings = settings_of(ctx)
    if not 0 <= bad_fraction <= 1 or rate <= 0:
        _fail("--rate must be > 0 and --bad-fraction within 0..1", 2)
    shared = _shared_phones(settings, shared_phone_fraction)
    if ahead and duration is None:
        _fail("--ahead needs --duration", 2)
    metrics.serve(settings.metrics.host, settings.metrics.port, required=False)
    stats = publish(settings.bootstrap, topic or settings.kafka.input_topics[0], rate=rate, count=count,
                    duration=duration, seed=seed, bad_fraction=bad_fraction,
                    max_event_bytes=settings.ingest.max_event_bytes, producer_config=kafka_security_config(settings),
                    ahead=ahead, shared_phone_fraction=shared)
    typer.echo(f"produced\t{stats.produced}\nvalid\t{stats.valid}")


@app.command()
def demo(
    ctx: typer.Context,
    duration: Optional[float] = typer.Option(None, "--duration", "-d", help="seconds to run (default: until Ctrl-C)"),
    rate: float = typer.Option(500.0, "--rate", "-r", help="simulated events per second"),
    seed: Optional[int] = typer.Option(None, "--seed", help="default: a new one per run (printed), so a rerun "
                                       "against a kept broker is not all duplicates"),
    bad_fraction: float = typer.Option(0.02, "--bad-fraction"),
    rules: Optional[Path] = typer.Option(None, "--rules", help="the worker's rules file (default: detect.rules_file "
                                         "if set, else the demo profile config/rules-demo.toml, short thresholds)"),
    team: bool = typer.Option(True, "--team/--no-team", help="run the simulated outreach team"),
    shared_phone_fraction: Optional[float] = _SHARED_PHONES,
) -> None:
    """Run everything locally: embedded broker, worker, simulator, outreach team and a live board; then a summary."""
    import secrets

    from streams.cli.demo import print_summary, run_demo
    from streams.domain.detect.rules_config import load_rules, packaged

    settings = settings_of(ctx)
    rules_file = str(Path(rules or settings.detect.rules_file or packaged("rules-demo.toml")).resolve())
    try:
        load_rules(rules_file)  # checked here: the worker would only say so in its log
    except ConfigError as exc:
        _fail(str(exc), 2)
    if seed is None:
        seed = secrets.randbelow(2**31)
    typer.echo(f"simulator seed {seed}, rules {rules_file}", err=True)

    try:
        result = run_demo(settings, duration=duration, rate=rate, seed=seed, bad_fraction=bad_fraction,
                          rules_file=rules_file, shared_phone_fraction=_shared_phones(settings, shared_phone_fraction),
                          team=team)
    except (RuntimeError, TimeoutError) as exc:
        _fail(str(exc))
    print_summary(result)


@app.command()
def broker(port: int = typer.Option(9092, "--port", help="loopback port")) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, in memory) in the foreground."""
    import signal as _signal

    from streams.cli.embedded_broker import EmbeddedBroker

    with EmbeddedBroker(port=port) as running:
        typer.echo(running.bootstrap)
        _signal.sigwait({_signal.SIGINT, _signal.SIGTERM})


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context,
    reason: Optional[str] = typer.Option(None, "--reason", help="only this reason"),
    limit: int = typer.Option(50, "--limit"),
    fmt: str = typer.Option("tsv", "--format", "-f", help="tsv or json"),
) -> None:
    """Newest dead letters with their reasons (from cx.dead_letters)."""
    from streams.cli.dlq import list_dead_letters
    from streams.cli.output import write_result

    write_result(_with_warehouse(ctx, lambda w: list_dead_letters(w, reason, limit)), fmt, sys.stdout)


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    reason: Optional[str] = typer.Option(None, "--reason", help="only this reason (duplicates only when named)"),
    origin: Optional[str] = typer.Option(None, "--origin", help="only the message at topic:partition:offset"),
    limit: int = typer.Option(100_000, "--limit"),
    dry_run: bool = typer.Option(False, "--dry-run", help="count, do not publish"),
) -> None:
    """Republish dead letters (original bytes, key, headers) to the input topic after a fix."""
    from streams.cli.dlq import replay

    settings = settings_of(ctx)
    count = _with_warehouse(ctx, lambda w: replay(settings, w, reason=reason, origin=origin, limit=limit,
                                                  dry_run=dry_run))
    typer.echo(f"{'would replay' if dry_run else 'replayed'}\t{count}")


@grafana_app.command("build")
def grafana_build(out: Optional[Path] = typer.Option(None, "--out", help="default: grafana/dashboards")) -> None:
    """Write every board's dashboard JSON (one file per board, named by its uid)."""
    from streams.boards.build import DASHBOARDS_DIR, build

    for path in build(out or DASHBOARDS_DIR):
        typer.echo(str(path))


@grafana_app.command("push")
def grafana_push(
    url: str = typer.Option(..., "--url", help="Grafana base URL, e.g. http://127.0.0.1:3000"),
    token: Optional[str] = typer.Option(None, "--token", envvar="GRAFANA_TOKEN",
                                        help="service account token (else GRAFANA_USER / GRAFANA_PASSWORD, "
                                             "else user:password in the URL)"),
    datasources: bool = typer.Option(True, "--datasources/--no-datasources",
                                     help="also create/update the provisioned datasources"),
) -> None:
    """Create or update the cxpulse folder, the datasources and every board, idempotently."""
    from streams.boards.push import PushError, connect, push

    try:
        done = push(connect(url, token), with_datasources=datasources)
    except PushError as exc:
        _fail(str(exc))
    for name in done.created:
        typer.echo(f"created\t{name}")
    for name in done.updated:
        typer.echo(f"updated\t{name}")


@grafana_app.command("snapshot")
def grafana_snapshot(
    ctx: typer.Context,
    out: Path = typer.Option(Path("docs/boards"), "--out", help="one PNG per board goes here"),
    simulate: Optional[float] = typer.Option(None, "--simulate", help="draw MINUTES of simulated traffic (stored in "
                                             "a temporary chDB) instead of the configured warehouse's data"),
    rate: float = typer.Option(15.0, "--rate", help="with --simulate: events per second"),
    seed: int = typer.Option(7, "--seed", help="with --simulate: same seed, same traffic"),
    prometheus: Optional[str] = typer.Option(None, "--prometheus", help="also draw the Prometheus boards (pipeline "
                                             "health) from the Prometheus at this URL"),
) -> None:
    """Draw every ClickHouse board (and with --prometheus the Prometheus ones) with matplotlib from the
    same queries Grafana runs."""
    import datetime as dt
    import tempfile

    from streams.boards.snapshot import snapshot

    if simulate is None:
        paths = _with_warehouse(ctx, lambda w: snapshot(w.query, out))
    else:
        from streams.boards import simulated
        from streams.warehouse import view_settings
        from streams.warehouse.embedded import ChdbWarehouse
        from streams.warehouse.migrate import migrate as run_migrations

        with tempfile.TemporaryDirectory(prefix="cxpulse-snapshot-") as tmp:
            warehouse = ChdbWarehouse(Path(tmp))
            try:
                run_migrations(warehouse)
                view_settings.publish(warehouse, settings_of(ctx))
                now = dt.datetime.now(dt.UTC)
                loaded = simulated.load(warehouse, end=now, minutes=simulate, rate=rate, seed=seed,
                                        settings=settings_of(ctx))
                typer.echo(f"simulated {loaded.events:,} events, {loaded.alerts:,} alert changes", err=True)
                paths = snapshot(warehouse.query, out, now)
            finally:
                warehouse.close()
    if prometheus:
        from streams.boards import prometheus_snapshot

        paths += prometheus_snapshot.snapshot(prometheus_snapshot.http_api(prometheus), out)
    for path in paths:
        typer.echo(str(path))


def _with_warehouse(ctx: typer.Context, fn):
    from streams.warehouse import WarehouseError, open_warehouse

    try:
        warehouse = open_warehouse(settings_of(ctx))
        try:
            return fn(warehouse)
        finally:
            warehouse.close()
    except WarehouseError as exc:
        _fail(str(exc))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
