"""The demo's live terminal board (rich): throughput per channel, identity stitching, alerts, dead letters, lag, rows stored."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from streams.boards.common import ABANDONMENT_RAG, ASA_RAG, SERVICE_LEVEL_RAG, WAIT_RAG
from streams.cli.status import Status
from streams.domain.channels import CHANNELS


def _rate(now: dict[str, float], before: dict[str, float], key: str, seconds: float) -> float:
    return max(0.0, now.get(key, 0.0) - before.get(key, 0.0)) / seconds if seconds > 0 else 0.0


def _worker(now: Status) -> str:
    if now.worker_up:
        return "[green]up[/green]"
    if now.unanswered:
        return f"[yellow]not answering ({now.unanswered} scrapes; last reading shown)[/yellow]"
    return "[red]down[/red]"


def render(now: Status, before: Status, produced: int, elapsed: float) -> Group:
    seconds = now.at - before.at
    channels = Table(title="Valid events by channel", expand=True)
    channels.add_column("channel")
    channels.add_column("events/s", justify="right")
    channels.add_column("total", justify="right")
    for channel in CHANNELS:
        channels.add_row(channel, f"{_rate(now.valid_by_channel, before.valid_by_channel, channel, seconds):,.0f}",
                         f"{now.valid_by_channel.get(channel, 0):,.0f}")
    dead = Table(title="Dead letters by reason", expand=True)
    dead.add_column("reason")
    dead.add_column("total", justify="right")
    for reason, count in sorted(now.dead_by_reason.items(), key=lambda kv: -kv[1]):
        dead.add_row(reason, f"{count:,.0f}")
    e2e = now.e2e_sum / now.e2e_count if now.e2e_count else 0.0
    summary = (
        f"[b]elapsed[/b] {elapsed:,.0f}s   [b]produced[/b] {produced:,}   "
        f"[b]consumed[/b] {now.consumed:,.0f}   "
        f"[b]consumer lag[/b] {'?' if now.lag is None else f'{now.lag:,}'}   "
        f"[b]rows stored[/b] events {now.rows_by_table.get('cx.events', 0):,.0f} · "
        f"dead letters {now.rows_by_table.get('cx.dead_letters', 0):,.0f}   "
        f"[b]mean event→stored[/b] {e2e:.2f}s   "
        f"[b]worker[/b] {_worker(now)}"
    )
    changes = now.identity_changes
    identity = (
        f"[b]identifiers[/b] {changes.get('new', 0):,.0f}   "
        f"[b]merges[/b] {changes.get('merged', 0):,.0f}   "
        f"[b]over cap[/b] {changes.get('over_cap', 0):,.0f}   "
        f"[b]blocked values seen[/b] {now.identifiers_blocked:,.0f}   "
        f"[b]identity links stored[/b] {now.rows_by_table.get('cx.identity_links', 0):,.0f}"
    )
    return Group(Panel(summary, title="cxpulse — live pipeline"), floor_panel(now.floor),
                 Panel(identity, title="identity stitching"), alerts_table(now), channels, dead)


def _rag(value: float, rag: tuple) -> str:
    """The colour a Grafana threshold set (base colour, then (value, colour) steps) gives value."""
    colour, *steps = rag
    for threshold, step_colour in steps:
        if value >= threshold:
            colour = step_colour
    return colour


def floor_panel(floor: dict[str, float]) -> Panel:
    """The live floor board's headline stats (the worker runs its SQL: streams.warehouse.floor_kpis), in its colours."""
    if not floor:
        return Panel("[dim]waiting for the worker's first live-floor reading…[/dim]", title="live floor today")
    sl, asa, abandoned = floor["service_level"], floor["asa_seconds"], floor["abandonment_rate"]
    oldest = floor["oldest_wait_seconds"]
    text = (
        f"[b]waiting now[/b] {floor['waiting']:,.0f}   "
        f"[b]oldest wait[/b] [{_rag(oldest, WAIT_RAG)}]{oldest:,.0f}s[/]   "
        f"[b]service level[/b] [{_rag(sl, SERVICE_LEVEL_RAG)}]{sl:.0%}[/]   "
        f"[b]ASA[/b] [{_rag(asa, ASA_RAG)}]{asa:,.1f}s[/]   "
        f"[b]abandonment[/b] [{_rag(abandoned, ABANDONMENT_RAG)}]{abandoned:.1%}[/]   "
        f"[b]open alerts[/b] {floor['open_alerts']:,.0f} ({floor['escalated']:,.0f} escalated)"
    )
    return Panel(text, title="live floor today (the Live floor board's SQL)")


def alerts_table(now: Status) -> Table:
    """Alerts by rule: open now (opened minus resolved), and every state change sent."""
    table = Table(title="Proactive alerts (details: cxpulse alerts)", expand=True)
    for name in ("rule", "open now", "opened", "escalated", "resolved"):
        table.add_column(name, justify="left" if name == "rule" else "right")
    rules = sorted({rule for rule, _ in now.alerts})
    for rule in rules:
        count = {state: now.alerts.get((rule, state), 0.0) for state in ("open", "escalated", "resolved")}
        table.add_row(rule, f"{count['open'] - count['resolved']:,.0f}", f"{count['open']:,.0f}",
                      f"{count['escalated']:,.0f}", f"{count['resolved']:,.0f}")
    return table
