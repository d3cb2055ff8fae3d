"""Rule thresholds from a TOML file (config/rules.toml by default), validated at start.

Each rule's table holds its thresholds; `[rule.channel.NAME]` and `[rule.queue.NAME]` override
them (a queue's override wins over its channel's). `[calendar]` sets service hours for rules
whose clock pauses outside them; `[outreach]` how work items are worked (OUTREACH_DEFAULTS). Every
mistake is a ConfigError naming the key.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

from streams.config import ConfigError, read_toml
from streams.detect.calendar import Calendar
from streams.detect.rules import RULES

CHANNELS = ("voice", "chat", "email", "sms", "whatsapp", "social", "web", "app", "self_service", "survey")
# [outreach]: a claim with no attempt for this long expires (the item goes back to the list, escalated)
OUTREACH_DEFAULTS = {"claim_expire_seconds": 900.0}
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


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
                 outreach: dict[str, float] | None = None) -> None:
        self._rules = rules
        self.calendar = calendar
        self.outreach = SimpleNamespace(**{**OUTREACH_DEFAULTS, **(outreach or {})})
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
    outreach = _numbers(f"{path.name} [outreach]", data.pop("outreach", {}), OUTREACH_DEFAULTS)
    unknown = set(data) - set(RULES)
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
    return RuleSet(rules, calendar, outreach)
