"""Rule thresholds from a TOML file (config/rules.toml by default), validated at start.

Each rule's table holds its thresholds; `[rule.channel.NAME]` and `[rule.queue.NAME]` override
them (a queue's override wins over its channel's). `[calendar]` sets service hours for rules
whose clock pauses outside them; `[outreach]` how work items are worked (OUTREACH_DEFAULTS), with
`[outreach.contact]` the contact policy and `[outreach.teams.NAME]` each team's capacity and rules
(docs/flood-control.md). Every mistake is a ConfigError naming the key.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

from streams.config import ConfigError, read_toml
from streams.domain.channels import CHANNELS
from streams.domain.detect.calendar import Calendar
from streams.domain.detect.rules import RULES
from streams.domain.outreach.contact_policy import ContactPolicy, zone

# [outreach]: a claim with no attempt for this long expires (the item goes back to the list, escalated)
OUTREACH_DEFAULTS = {"claim_expire_seconds": 900.0}
DEFAULT_TEAM = "outreach"
TEAM_DEFAULTS = {"capacity_per_hour": 20}
CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"


def packaged(name: str) -> Path:
    """A rules file shipped with cxpulse: config/NAME in a checkout, streams/_config/NAME in the wheel."""
    if (CONFIG_DIR / name).exists():
        return CONFIG_DIR / name
    from importlib.resources import files

    return Path(str(files("streams") / "_config" / name))


def default_path() -> Path:
    return packaged("rules.toml")


class RuleSet:
    def __init__(self, rules: dict[str, dict], calendar: Calendar | None,
                 outreach: SimpleNamespace | None = None) -> None:
        self._rules = rules
        self.calendar = calendar
        self.outreach = outreach or _outreach("rules.toml", {})
        self.params = lru_cache(maxsize=4096)(self._params)
        self.names: list[str] = [name for name in RULES if rules[name].get("enabled", 1.0)]  # read per evaluation

    def _params(self, rule: str, channel: str, queue: str) -> SimpleNamespace:
        spec = self._rules[rule]
        merged = {k: v for k, v in spec.items() if k not in ("channel", "queue")}
        merged.update(spec.get("channel", {}).get(channel, {}))
        merged.update(spec.get("queue", {}).get(queue, {}))
        return SimpleNamespace(**merged)


def _numbers(where: str, table: dict, defaults: dict) -> dict[str, float]:
    out = {}
    for key, value in table.items():
        if key not in defaults:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(defaults))})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where}.{key}: want a number >= 0, got {value!r}")
        out[key] = float(value)
    return out


def load_rules(path: str | Path | None = None) -> RuleSet:
    path = Path(path) if path else default_path()
    data = read_toml(path, "rules file")
    calendar = None
    if "calendar" in data:
        c = data.pop("calendar")
        try:
            calendar = Calendar.build(c.get("timezone", "UTC"), c.get("hours", {}), c.get("holidays", []))
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    unknown = set(data) - set(RULES) - {"outreach"}
    if unknown:
        raise ConfigError(f"{path}: unknown rules {sorted(unknown)} (known: {', '.join(RULES)})")
    rules = {}
    for name, module in RULES.items():
        table = dict(data.get(name, {}))
        defaults = {**module.DEFAULTS, "enabled": 1.0}
        overrides = {kind: table.pop(kind, {}) for kind in ("channel", "queue")}
        spec = {**defaults, **_numbers(f"{path.name} [{name}]", table, defaults)}
        for kind, by_name in overrides.items():
            if not isinstance(by_name, dict):
                raise ConfigError(f"{path.name} [{name}.{kind}]: want tables by {kind} name")
            if kind == "channel" and set(by_name) - set(CHANNELS):
                raise ConfigError(f"{path.name} [{name}.channel]: unknown channels {sorted(set(by_name) - set(CHANNELS))}")
            spec[kind] = {k: _numbers(f"{path.name} [{name}.{kind}.{k}]", v, defaults) for k, v in by_name.items()}
        for where in [spec, *spec["channel"].values(), *spec["queue"].values()]:
            merged = {**spec, **where}
            if "escalate_seconds" in merged and merged["escalate_seconds"] < merged.get("open_seconds", 0):
                raise ConfigError(f"{path.name} [{name}]: escalate_seconds must not be below open_seconds")
        if spec.get("business_hours") and calendar is None:
            spec["business_hours"] = 0.0  # no calendar: the clock never pauses
        rules[name] = spec
    return RuleSet(rules, calendar, _outreach(path.name, data.get("outreach", {})))


def _outreach(where: str, table: dict) -> SimpleNamespace:
    """[outreach]: claim expiry, the contact policy, the teams and the rules each one works."""
    table = dict(table)
    contact, teams = table.pop("contact", {}), table.pop("teams", {DEFAULT_TEAM: {}})
    default_team = table.pop("default_team", DEFAULT_TEAM)
    out = SimpleNamespace(**{**OUTREACH_DEFAULTS, **_numbers(f"{where} [outreach]", table, OUTREACH_DEFAULTS)})
    out.contact = _contact(f"{where} [outreach.contact]", contact)
    if not isinstance(teams, dict) or not teams or not all(isinstance(t, dict) for t in teams.values()):
        raise ConfigError(f"{where} [outreach.teams]: want one table per team, [outreach.teams.NAME]")
    out.default_team, out.capacity, out.team_of_rule = default_team, {}, {}
    for name, spec in teams.items():
        key = f"{where} [outreach.teams.{name}]"
        spec = dict(spec)
        rules = spec.pop("rules", [])
        if not isinstance(rules, list) or set(rules) - set(RULES):
            raise ConfigError(f"{key} rules: want a list of rule names (known: {', '.join(RULES)}), got {rules!r}")
        capacity = {**TEAM_DEFAULTS, **_numbers(key, spec, TEAM_DEFAULTS)}["capacity_per_hour"]
        if capacity < 1 or capacity != int(capacity):
            raise ConfigError(f"{key} capacity_per_hour: want a whole number >= 1, got {capacity!r}")
        out.capacity[name] = int(capacity)
        for rule in rules:
            if rule in out.team_of_rule:
                raise ConfigError(f"{key} rules: {rule} is worked by team {out.team_of_rule[rule]} already")
            out.team_of_rule[rule] = name
    if default_team not in teams:
        raise ConfigError(f"{where} [outreach] default_team: {default_team!r} is not a team "
                          f"(teams: {', '.join(sorted(teams))})")
    return out


def _contact(where: str, table: dict) -> ContactPolicy:
    known = {f: getattr(ContactPolicy(), f) for f in ContactPolicy.__struct_fields__}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        if key in ("per_day", "per_week") and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{where} {key}: want a whole number >= 1, got {value!r}")
        if key in ("quiet_start", "quiet_end") and not isinstance(value, dt.time):
            raise ConfigError(f"{where} {key}: want a local time like 20:00:00 (TOML time, unquoted), got {value!r}")
        if key == "default_timezone" and (not isinstance(value, str) or zone(value) is None):
            raise ConfigError(f"{where} {key}: want an IANA time zone like 'Europe/Paris', got {value!r}")
    policy = ContactPolicy(**table)
    if policy.per_week < policy.per_day:
        raise ConfigError(f"{where} per_week: must not be below per_day ({policy.per_day})")
    return policy
