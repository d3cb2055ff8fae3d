"""The real stack cannot run here (no Docker engine): check that it agrees with the code.

docker-compose.yml, the Dockerfile and the files they mount (deploy/, grafana/provisioning/,
.env.example) are checked against the settings loader (streams.config), the CLI (streams.cli),
pyproject.toml and each other. Each check is a function returning a list of problems, one sentence
each; `test_the_stack_is_consistent` runs them on the real files, and `test_a_broken_stack_is_caught`
breaks a copy of the files in one way per case and expects the matching problem, so every assertion
is shown to be able to fail.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import itertools
import json
import posixpath
import re
import shlex
import tempfile
import tomllib
import typing
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
import yaml

from streams import config as config_module
from streams.config import ConfigError, LogLevel, Settings, load_settings
from streams.gateway.auth import load_credentials, secret_variable
from streams.warehouse import board_access

ROOT = Path(__file__).resolve().parents[1]

# Subcommands that serve Prometheus metrics, and the setting that names their port.
METRICS_COMMANDS = {("worker",): ("metrics", "port"), ("simulate",): ("metrics", "port"),
                    ("gateway",): ("gateway", "metrics_port")}
# Subcommands that never touch the warehouse: their containers get no ClickHouse settings or password.
NO_WAREHOUSE_COMMANDS = {("gateway",)}
# What must have run (in a service it waits for, service_completed_successfully) before a subcommand starts.
NEEDS_FIRST = {("worker",): (("topics", "create"), ("migrate",)), ("gateway",): (("topics", "create"),)}
# The gateway's per-source secrets (streams.gateway.auth.secret_variable), outside the Settings struct.
SOURCE_SECRET = re.compile(r"CXPULSE_SOURCE_\w+_SECRET")
# Environment names that hold secrets.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY", re.IGNORECASE)
# Variables the official ClickHouse image's entrypoint turns into its own users.d/default-user.xml.
CLICKHOUSE_ENTRYPOINT_USER_VARS = ("CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT")


# --------------------------------------------------------------------------------------------
# The files, parsed fresh for every use (the mutation cases change them in place)


@dataclass
class Stack:
    compose: dict
    dockerfile: str
    prometheus: dict
    datasources: dict
    dashboards: dict
    users_xml: ET.Element
    config_xml: ET.Element
    env_example: str
    pyproject: dict
    boards: dict[str, dict]   # grafana/dashboards/*.json by file name

    @property
    def services(self) -> dict[str, dict]:
        return self.compose["services"]


def load_stack() -> Stack:
    read = lambda rel: (ROOT / rel).read_text()
    return Stack(
        compose=yaml.safe_load(read("docker-compose.yml")),
        dockerfile=read("Dockerfile"),
        prometheus=yaml.safe_load(read("deploy/prometheus/prometheus.yml")),
        datasources=yaml.safe_load(read("grafana/provisioning/datasources/datasources.yml")),
        dashboards=yaml.safe_load(read("grafana/provisioning/dashboards/dashboards.yml")),
        users_xml=ET.fromstring(read("deploy/clickhouse/users.d/cxpulse.xml")),
        config_xml=ET.fromstring(read("deploy/clickhouse/config.d/cxpulse.xml")),
        env_example=read(".env.example"),
        pyproject=tomllib.loads(read("pyproject.toml")),
        boards={p.name: json.loads(p.read_text()) for p in sorted((ROOT / "grafana/dashboards").glob("*.json"))},
    )


# --------------------------------------------------------------------------------------------
# Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
# ${VAR:+alt}, $VAR, and $$ for a literal $.

_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")
_REQUIRED_ONLY = re.compile(r"^\$\{[A-Za-z_]\w*:?\?[^}]*\}$")


def fake(name: str) -> str:
    """The stand-in value of a variable from .env (what `docker compose` would substitute)."""
    return f"fake-{name.lower()}"


def resolve(value: Any) -> str:
    def sub(m: re.Match) -> str:
        if m[0] == "$$":
            return "$"
        name, op, arg = m["name"] or m["bare"], m["op"] or "", m["arg"] or ""
        if op in (":-", "-"):
            return arg
        if op in (":+", "+"):
            return arg
        return fake(name)

    return _INTERPOLATION.sub(sub, str(value))


def variables(value: Any) -> list[str]:
    """Names of the compose variables a value interpolates."""
    return [m["name"] or m["bare"] for m in _INTERPOLATION.finditer(str(value)) if m[0] != "$$"]


def env_of(service: dict) -> dict[str, str]:
    """A service's environment as written (dict or list form), values unresolved."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def mounts_of(service: dict) -> list[tuple[str, str]]:
    """(source, target) of every volume of a service; bind sources start with . / or ~."""
    out = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            out.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            parts = str(volume).split(":")
            out.append((parts[0], parts[1]) if len(parts) > 1 else ("", parts[0]))
    return out


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def host_path(source: str) -> Path:
    return (ROOT / source).resolve()


def host_side(service: dict, container_path: str) -> Path | None:
    """The repository path a container path comes from through the service's bind mounts (file or
    directory, the deepest mount wins); None when no bind mount covers it."""
    covering = [(source, target.rstrip("/") or "/") for source, target in mounts_of(service) if is_bind(source)]
    covering = [(s, t) for s, t in covering if container_path == t or container_path.startswith(t.rstrip("/") + "/")]
    if not covering:
        return None
    source, target = max(covering, key=lambda m: len(m[1]))
    return host_path(source) / container_path[len(target):].lstrip("/")


def image_service(stack: Stack, prefix: str) -> str | None:
    return next((name for name, s in stack.services.items() if str(s.get("image", "")).startswith(prefix)), None)


def cxpulse_services(stack: Stack) -> list[str]:
    """Services built from this repository's Dockerfile."""
    def ours(service: dict) -> bool:
        build = service.get("build")
        context = build.get("context", ".") if isinstance(build, dict) else build
        return context is not None and Path(ROOT / str(context)).resolve() == ROOT

    return [name for name, s in stack.services.items() if ours(s)]


def listener_map(value: str) -> dict[str, tuple[str, int]]:
    """KAFKA_LISTENERS-style 'NAME://host:port,...' as {NAME: (host, port)}."""
    out = {}
    for item in filter(None, (i.strip() for i in value.split(","))):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


# --------------------------------------------------------------------------------------------
# The Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def dockerfile_last(text: str, keyword: str) -> str | None:
    values = [rest for k, rest in dockerfile_instructions(text) if k == keyword]
    return values[-1] if values else None


def dockerfile_exec_form(text: str, keyword: str) -> list[str] | None:
    rest = dockerfile_last(text, keyword)
    if rest is None:
        return None
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        return ["/bin/sh", "-c", rest]  # shell form
    return value if isinstance(value, list) else None


def dockerfile_env(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions(text):
        if keyword == "ENV":
            for token in shlex.split(rest):
                if "=" in token:
                    key, value = token.split("=", 1)
                    env[key] = value
    return env


# --------------------------------------------------------------------------------------------
# What the code makes of a service: its cxpulse invocations and its settings


def argv_of(stack: Stack, service: dict) -> list[str]:
    """What the container runs: the entrypoint (the service's, else the image's) and the command."""
    if "entrypoint" in service:
        entrypoint = service["entrypoint"]
        entrypoint = shlex.split(entrypoint) if isinstance(entrypoint, str) else list(entrypoint or [])
        default_cmd: list[str] = []  # compose drops the image's CMD when it overrides ENTRYPOINT
    else:
        entrypoint = dockerfile_exec_form(stack.dockerfile, "ENTRYPOINT") or []
        default_cmd = dockerfile_exec_form(stack.dockerfile, "CMD") or []
    command = service.get("command", default_cmd)
    command = shlex.split(command) if isinstance(command, str) else list(command or [])
    return [resolve(a) for a in [*entrypoint, *command]]


def cxpulse_invocations(argv: list[str]) -> list[list[str]]:
    """The argument lists of every `cxpulse ...` the container runs (directly or through sh -c)."""
    if argv and Path(argv[0]).name == "cxpulse":
        return [argv[1:]]
    if len(argv) >= 3 and Path(argv[0]).name in ("sh", "bash") and argv[1] == "-c":
        out, current = [], []
        for token in [*shlex.split(argv[2]), "&&"]:
            if token in ("&&", ";", "||"):
                if current and current[0] == "exec":
                    current = current[1:]
                if current and Path(current[0]).name == "cxpulse":
                    out.append(current[1:])
                current = []
            else:
                current.append(token)
        return out
    return []


def parse_cli(args: list[str]) -> tuple[str, ...]:
    """Parse args as the `cxpulse` CLI would (options and types included), without running anything.
    Returns the subcommand path, e.g. ("topics", "create"); raises click's UsageError/BadParameter."""
    import typer.main

    from streams.cli import main as cli

    command = typer.main.get_command(cli.app)  # click, possibly the copy typer vendors: no isinstance here
    ctx = command.make_context("cxpulse", list(args))
    path = []
    while hasattr(command, "resolve_command"):  # a group
        protected = getattr(ctx, "_protected_args", None)
        rest = [*(ctx.protected_args if protected is None else protected), *ctx.args]
        if not rest:
            raise ValueError("no subcommand given")
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    return tuple(path)


def service_commands(stack: Stack, name: str) -> tuple[list[tuple[str, ...]], list[str]]:
    paths, problems = [], []
    for args in cxpulse_invocations(argv_of(stack, stack.services[name])):
        try:
            paths.append(parse_cli(args))
        except Exception as exc:  # noqa: BLE001 - click's UsageError/BadParameter, from the click typer vendors
            problems.append(f"{name}: `cxpulse {' '.join(args)}` is not a valid cxpulse command line: {exc}")
    return paths, problems


def uses_warehouse(stack: Stack, name: str) -> bool:
    """Whether a cxpulse service runs anything that reads or writes ClickHouse."""
    paths, _ = service_commands(stack, name)
    return not paths or not set(paths) <= NO_WAREHOUSE_COMMANDS


def setting_names() -> dict[str, tuple[str, ...]]:
    """Every environment variable the settings loader can know, from the Settings struct itself."""
    defaults = Settings()
    names = {}
    for field in msgspec.structs.fields(Settings):
        value = getattr(defaults, field.name)
        if isinstance(value, msgspec.Struct):
            for sub in msgspec.structs.fields(type(value)):
                names[f"CXPULSE_{field.name}_{sub.name}".upper()] = (field.name, sub.name)
        else:
            names[f"CXPULSE_{field.name}".upper()] = (field.name,)
    return names


def setting_value(settings: Settings, path: tuple[str, ...]) -> Any:
    return functools.reduce(getattr, path, settings)


def expected_value(raw: str, default: Any) -> Any:
    if isinstance(default, list):
        return [v.strip() for v in raw.split(",") if v.strip()]
    return msgspec.convert(raw, type(default), strict=False)


def perturbed(raw: str, default: Any) -> str:
    """A different value of the same type, to see the setting follow the variable."""
    if isinstance(default, list):
        return f"{raw},cx.perturbed"
    if isinstance(default, bool):
        return "false" if expected_value(raw, default) else "true"
    if isinstance(default, (int, float)):
        return str(expected_value(raw, default) + 1)
    if raw in typing.get_args(LogLevel):  # an enumerated setting: another member, not a new string
        return "debug" if raw != "debug" else "info"
    return f"{raw}-perturbed"


def cxpulse_env(stack: Stack, name: str) -> dict[str, str]:
    """CXPULSE_* variables a cxpulse container sees: the image's ENV, then the service's environment."""
    env = {k: v for k, v in dockerfile_env(stack.dockerfile).items() if k.startswith("CXPULSE_")}
    env.update({k: v for k, v in env_of(stack.services[name]).items() if k.startswith("CXPULSE_")})
    return env


def load_service_settings(stack: Stack, name: str, env: dict[str, str]) -> Settings:
    """load_settings(path=None, environ=...) as the container would run it; a CXPULSE_CONFIG path must be
    a file mounted from the repository, which is then read from the host side."""
    env = dict(env)
    if "CXPULSE_CONFIG" in env:
        target = env["CXPULSE_CONFIG"]
        sources = [src for src, dst in mounts_of(stack.services[name]) if dst == target and is_bind(src)]
        if not sources:
            raise ConfigError(f"CXPULSE_CONFIG={target} is not a file mounted into the container")
        env["CXPULSE_CONFIG"] = str(host_path(sources[0]))
    with tempfile.TemporaryDirectory() as empty, contextlib.chdir(empty):  # no ./cxpulse.toml
        return load_settings(path=None, environ=env)


def service_settings(stack: Stack, name: str) -> Settings:
    return load_service_settings(stack, name, {k: resolve(v) for k, v in cxpulse_env(stack, name).items()})


# --------------------------------------------------------------------------------------------
# The checks


def check_cxpulse_settings(stack: Stack) -> list[str]:
    """Every CXPULSE_* variable is a setting the loader knows and actually sets, or the secret of a
    configured gateway source; the cxpulse services agree on Kafka, and those that use it on ClickHouse."""
    problems = []
    known = setting_names()
    defaults = msgspec.to_builtins(Settings())
    services = cxpulse_services(stack)
    if not services:
        return ["no service is built from this repository (build: .)"]
    loaded = {}
    for name in services:
        raw_env = cxpulse_env(stack, name)
        env = {k: resolve(v) for k, v in raw_env.items()}
        for var in env:
            if var != "CXPULSE_CONFIG" and var not in known and not SOURCE_SECRET.fullmatch(var):
                hint = difflib.get_close_matches(var, known, n=1)
                problems.append(f"{name}: {var} is not a setting the loader knows"
                                + (f" (did you mean {hint[0]}?)" if hint else "") + "; it would be ignored silently")
        try:
            settings = load_service_settings(stack, name, env)
        except ConfigError as exc:
            problems.append(f"{name}: the settings loader refuses its environment: {exc}")
            continue
        loaded[name] = settings
        sources = {secret_variable(source): source for source in settings.gateway.sources}
        for var in sorted(v for v in env if SOURCE_SECRET.fullmatch(v) and v not in sources):
            problems.append(f"{name}: {var} is the secret of no gateway source (configured: "
                            f"{', '.join(sorted(settings.gateway.sources)) or 'none'}); it would be ignored silently")
        for var, raw in env.items():
            if var not in known:
                continue
            path = known[var]
            default = functools.reduce(lambda d, k: d[k], path, defaults)
            try:
                want = expected_value(raw, default)
            except msgspec.ValidationError as exc:
                problems.append(f"{name}: {var}={raw!r} is not a valid {type(default).__name__}: {exc}")
                continue
            got = setting_value(settings, path)
            if got != want:
                problems.append(f"{name}: {var}={raw!r} but the loader made settings.{'.'.join(path)} = {got!r}")
                continue
            other = perturbed(raw, default)
            try:
                moved = setting_value(load_service_settings(stack, name, {**env, var: other}), path)
            except ConfigError as exc:
                problems.append(f"{name}: {var}={other!r} is refused by the loader: {exc}")
                continue
            if moved != expected_value(other, default):
                problems.append(f"{name}: {var} is not read by the settings loader "
                                f"(settings.{'.'.join(path)} stays {moved!r} when it is {other!r})")
    for section in ("kafka", "clickhouse"):
        names = [n for n in loaded if section != "clickhouse" or uses_warehouse(stack, n)]
        for a, b in itertools.pairwise(names):
            left, right = (msgspec.to_builtins(getattr(loaded[n], section)) for n in (a, b))
            # the board user's password goes only to the service that creates the user (check_grafana)
            differ = {k: (left[k], right[k]) for k in left if left[k] != right[k] and k != "boards_password"}
            if differ:
                problems.append(f"{a} and {b} differ in their {section} settings: "
                                + ", ".join(f"{k} {x!r} vs {y!r}" for k, (x, y) in differ.items()))
    return problems


def check_cli_commands(stack: Stack) -> list[str]:
    """The cxpulse services run valid `cxpulse` command lines; topics and migrations come before the workers,
    topics before the gateway."""
    problems = []
    commands = {}
    for name in cxpulse_services(stack):
        paths, errors = service_commands(stack, name)
        problems += errors
        if not paths and not errors:
            problems.append(f"{name}: runs no `cxpulse` command ({argv_of(stack, stack.services[name])})")
        commands[name] = paths
    runs = lambda path: [n for n, paths in commands.items() if path in paths]
    if not runs(("worker",)):
        problems.append("no service runs `cxpulse worker`")
    if not runs(("simulate",)):
        problems.append("no service runs `cxpulse simulate`")
    if not runs(("gateway",)):
        problems.append("no service runs `cxpulse gateway`")
    for name, needs in ((n, needs) for command, needs in NEEDS_FIRST.items() for n in runs(command)):
        deps = stack.services[name].get("depends_on") or {}
        done_first = [d for d, spec in deps.items() if isinstance(spec, dict)
                      and spec.get("condition") == "service_completed_successfully"] if isinstance(deps, dict) else []
        steps = [p for d in done_first for p in commands.get(d, [])]
        for needed in needs:
            if needed not in steps:
                problems.append(f"{name}: does not wait (service_completed_successfully) for a service that "
                                f"runs `cxpulse {' '.join(needed)}`")
        if ("topics", "create") in steps and ("migrate",) in steps and steps.index(("topics", "create")) > steps.index(("migrate",)):
            problems.append(f"{name}: topics should be created before the migrations run")
    return problems


def check_kafka(stack: Stack) -> list[str]:
    """The bootstrap servers name the Kafka service and a PLAINTEXT listener it binds and advertises."""
    kafka = image_service(stack, "apache/kafka")
    if kafka is None:
        return ["no apache/kafka service"]
    service = stack.services[kafka]
    env = {k: resolve(v) for k, v in env_of(service).items()}
    problems = []
    if "broker" not in env.get("KAFKA_PROCESS_ROLES", "") or "controller" not in env.get("KAFKA_PROCESS_ROLES", ""):
        problems.append(f"{kafka}: KAFKA_PROCESS_ROLES should be broker,controller (single-node KRaft)")
    listeners = listener_map(env.get("KAFKA_LISTENERS", ""))
    advertised = listener_map(env.get("KAFKA_ADVERTISED_LISTENERS", ""))
    protocols = dict(p.split(":", 1) for p in env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(",") if ":" in p)
    controllers = set(env.get("KAFKA_CONTROLLER_LISTENER_NAMES", "").split(","))
    names = {kafka, service.get("hostname"), service.get("container_name")} - {None}
    for name in cxpulse_services(stack):
        try:
            settings = service_settings(stack, name)
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
            continue
        for server in settings.bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            if host not in names:
                problems.append(f"{name}: bootstrap server {server} is not the Kafka service ({kafka})")
                continue
            listener = next((n for n, address in advertised.items() if address == (host, int(port))), None)
            if listener is None:
                problems.append(f"{name}: bootstrap server {server}: {kafka} advertises no listener {host}:{port} "
                                f"(KAFKA_ADVERTISED_LISTENERS={env.get('KAFKA_ADVERTISED_LISTENERS')})")
                continue
            if listener in controllers:
                problems.append(f"{name}: bootstrap server {server} is the controller listener {listener}")
            if listener not in listeners or listeners[listener][1] != int(port):
                problems.append(f"{name}: {kafka} advertises {listener}://{server} but KAFKA_LISTENERS does not "
                                f"bind {listener} on port {port} ({env.get('KAFKA_LISTENERS')})")
            if protocols.get(listener, listener) != settings.kafka.security_protocol:
                problems.append(f"{name}: listener {listener} speaks {protocols.get(listener, listener)}, the settings "
                                f"say security_protocol={settings.kafka.security_protocol}")
    published = [str(p.get("published", "")) if isinstance(p, dict) else str(p) for p in service.get("ports") or []]
    for listener, (host, port) in advertised.items():
        if host not in names and not any(p.split(":")[-2:-1] == [str(port)] or p == str(port) for p in published):
            problems.append(f"{kafka}: listener {listener} advertises {host}:{port} to the host, but port {port} is not "
                            f"published (ports: {published})")
    log_dirs = env.get("KAFKA_LOG_DIRS")
    named_targets = [dst for src, dst in mounts_of(service) if src and not is_bind(src)]
    if not log_dirs or not any(log_dirs.rstrip("/").startswith(t.rstrip("/")) for t in named_targets):
        problems.append(f"{kafka}: KAFKA_LOG_DIRS ({log_dirs}) is not on a named volume ({named_targets}); "
                        "the broker's log.dirs would fall back to a path inside the container")
    return problems


def _users(stack: Stack) -> dict[str, ET.Element]:
    users = stack.users_xml.find("users")
    return {u.tag: u for u in (users if users is not None else []) if u.get("remove") != "remove"}


def _native_port(stack: Stack) -> int:
    return int(stack.config_xml.findtext("tcp_port") or 9000)


def check_clickhouse(stack: Stack) -> list[str]:
    """CXPULSE_CLICKHOUSE_URL points at the ClickHouse service's native port as a user that exists, and
    CXPULSE_CLICKHOUSE_PASSWORD comes from the .env variable the server reads the user's password from."""
    from clickhouse_driver import Client

    ch = image_service(stack, "clickhouse/clickhouse-server")
    if ch is None:
        return ["no clickhouse/clickhouse-server service"]
    service = stack.services[ch]
    ch_env = env_of(service)
    problems = []
    mounts = {dst: src for src, dst in mounts_of(service)}
    for kind, rel in (("config.d", "deploy/clickhouse/config.d/cxpulse.xml"), ("users.d", "deploy/clickhouse/users.d/cxpulse.xml")):
        target = next((dst for dst, src in mounts.items() if is_bind(src) and host_path(src) == ROOT / rel), None)
        if target is None or not re.fullmatch(rf"/etc/clickhouse-server/{kind}/[^/]+\.xml", target):
            problems.append(f"{ch}: {rel} is not mounted into /etc/clickhouse-server/{kind}/ (mounted at {target})")
    listen = [e.text for e in stack.config_xml.findall("listen_host")]
    if not {"0.0.0.0", "::"} & set(listen):
        problems.append(f"{ch}: config.d listens on {listen or 'localhost only'}, not 0.0.0.0 or ::")
    for var in CLICKHOUSE_ENTRYPOINT_USER_VARS:
        if var in ch_env:
            problems.append(f"{ch}: sets {var}: the image's entrypoint then writes its own users.d/default-user.xml "
                            "(with the password in clear), overriding users.d/cxpulse.xml")
    users = _users(stack)
    native = _native_port(stack)
    for user_name, user in users.items():
        password = user.find("password")
        server_var = password.get("from_env") if password is not None else None
        if server_var is None:
            problems.append(f"{ch}: user {user_name} has no <password from_env=...> in users.d")
        elif server_var not in ch_env:
            problems.append(f"{ch}: users.d reads the password of {user_name} from {server_var}, which the service "
                            "does not set")
    for name in cxpulse_services(stack):
        raw = cxpulse_env(stack, name).get("CXPULSE_CLICKHOUSE_URL", "")
        if not uses_warehouse(stack, name):
            if raw or "CXPULSE_CLICKHOUSE_PASSWORD" in cxpulse_env(stack, name):
                problems.append(f"{name}: gets ClickHouse settings (and its password) though it never uses the "
                                "warehouse; least privilege: leave them out")
            continue
        if not raw:
            problems.append(f"{name}: no CXPULSE_CLICKHOUSE_URL: the container would use an embedded chDB of its own")
            continue
        url = resolve(raw)
        try:
            connection = Client.from_url(url).connection
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"{name}: clickhouse-driver cannot parse CXPULSE_CLICKHOUSE_URL ({url}): {exc}")
            continue
        host, port = connection.hosts[0]
        if urlsplit(url).scheme != "clickhouse":
            problems.append(f"{name}: CXPULSE_CLICKHOUSE_URL scheme is {urlsplit(url).scheme}, not clickhouse (plain native)")
        if host != ch:
            problems.append(f"{name}: CXPULSE_CLICKHOUSE_URL host {host} is not the ClickHouse service ({ch})")
        if port != native:
            problems.append(f"{name}: CXPULSE_CLICKHOUSE_URL port {port} is not the native port {native} of {ch}")
        if connection.database not in ("", "default"):
            problems.append(f"{name}: CXPULSE_CLICKHOUSE_URL database {connection.database} must exist when the client "
                            "connects; `cx` is created by `cxpulse migrate`, so connect to `default`")
        user = users.get(connection.user)
        if user is None:
            problems.append(f"{name}: CXPULSE_CLICKHOUSE_URL user {connection.user} is not a user of users.d ({sorted(users)})")
            continue
        if connection.password:
            problems.append(f"{name}: CXPULSE_CLICKHOUSE_URL carries a password; set CXPULSE_CLICKHOUSE_PASSWORD")
        raw_password = cxpulse_env(stack, name).get("CXPULSE_CLICKHOUSE_PASSWORD", "")
        if not raw_password:
            problems.append(f"{name}: no CXPULSE_CLICKHOUSE_PASSWORD, but user {connection.user} needs its password")
            continue
        password = user.find("password")
        server_var = password.get("from_env") if password is not None else None
        if server_var in ch_env and variables(raw_password) != variables(ch_env[server_var]):
            problems.append(f"{name}: CXPULSE_CLICKHOUSE_PASSWORD={raw_password} is not the server's "
                            f"{server_var}={ch_env[server_var]}")
    return problems


def _scrape_targets(stack: Stack) -> list[tuple[str, str, int | None, str]]:
    """(job, host, port, sd type) of every scrape target."""
    out = []
    for job in stack.prometheus.get("scrape_configs") or []:
        for sd in job.get("dns_sd_configs") or []:
            for name in sd.get("names") or []:
                out.append((job["job_name"], name, sd.get("port"), sd.get("type", "SRV")))
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = str(target).rpartition(":")
                out.append((job["job_name"], host, int(port), "static"))
    return out


def _rule_file_problems(stack: Stack, prom: str, config_dir: str) -> list[str]:
    """Every rule_files glob (relative to the config file, as Prometheus reads it) reaches rule files
    of the repository through the container's mounts."""
    problems = []
    for pattern in stack.prometheus.get("rule_files") or []:
        path = posixpath.join(config_dir, pattern)
        parts = path.split("/")
        fixed = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), len(parts) - 1)
        base = "/".join(parts[:fixed]) or "/"
        host = host_side(stack.services[prom], base)
        if host is None:
            problems.append(f"prometheus.yml: rule_files {pattern}: {base} is not mounted into {prom}")
            continue
        files = sorted(p for p in host.glob("/".join(parts[fixed:])) if p.is_file())
        if not files:
            problems.append(f"prometheus.yml: rule_files {pattern} matches no file under {host.relative_to(ROOT)}")
        for file in files:
            rules = yaml.safe_load(file.read_text()) or {}
            if not isinstance(rules.get("groups"), list):
                problems.append(f"{file.relative_to(ROOT)}: not a Prometheus rule file (no groups:)")
    return problems


def check_prometheus(stack: Stack) -> list[str]:
    """Prometheus scrapes every metrics-serving cxpulse service on the port it serves (CXPULSE_METRICS_PORT,
    the gateway's CXPULSE_GATEWAY_METRICS_PORT)."""
    prom = image_service(stack, "prom/prometheus")
    if prom is None:
        return ["no prom/prometheus service"]
    problems = []
    args = [str(a) for a in stack.services[prom].get("command") or []]
    config_file = next((a.split("=", 1)[1] for a in args if a.startswith("--config.file=")), "/etc/prometheus/prometheus.yml")
    if host_side(stack.services[prom], config_file) != ROOT / "deploy/prometheus/prometheus.yml":
        problems.append(f"{prom}: deploy/prometheus/prometheus.yml is not mounted at --config.file ({config_file})")
    problems += _rule_file_problems(stack, prom, posixpath.dirname(config_file))
    targets = _scrape_targets(stack)
    for job, host, port, kind in targets:
        service = host.removeprefix("tasks.")
        if host not in ("localhost", "127.0.0.1") and service not in stack.services:
            problems.append(f"prometheus job {job}: target {host} is not a compose service")
    for name in cxpulse_services(stack):
        paths, _ = service_commands(stack, name)
        serving = [path for path in paths if path in METRICS_COMMANDS]
        if not serving:
            continue
        try:
            settings = service_settings(stack, name)
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
            continue
        setting = METRICS_COMMANDS[serving[0]]
        port = setting_value(settings, setting)
        variable = f"CXPULSE_{'_'.join(setting)}".upper()
        if port == 0:
            problems.append(f"{name}: {variable}=0 disables the metrics Prometheus should scrape")
        if settings.metrics.host not in ("0.0.0.0", "::"):
            problems.append(f"{name}: metrics served on {settings.metrics.host}, unreachable from {prom} "
                            "(set CXPULSE_METRICS_HOST=0.0.0.0)")
        mine = [t for t in targets if t[1].removeprefix("tasks.") == name]
        if not mine:
            problems.append(f"{name}: serves metrics on :{port} but no prometheus job scrapes it")
        for job, host, target_port, kind in mine:
            if target_port != port:
                problems.append(f"prometheus job {job} scrapes {host}:{target_port}, {name} serves metrics on :{port}")
            if kind not in ("A", "AAAA", "static"):
                problems.append(f"prometheus job {job}: dns_sd type {kind} for {host}; Docker DNS answers A records "
                                "(one per replica), so use type: A")
        health = " ".join(str(t) for t in (stack.services[name].get("healthcheck") or {}).get("test") or [])
        if setting != ("metrics", "port"):  # the gateway's healthcheck is its /readyz (check_gateway)
            continue
        if health and f":{port}" not in health and "CXPULSE_METRICS_PORT" not in health:
            problems.append(f"{name}: its healthcheck does not probe the metrics port {port}: {health}")
    return problems


def _published(service: dict) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) of every published port (short and long syntax)."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), str(port.get("published", "")), str(port["target"])))
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        out.append(tuple([""] * (3 - len(parts)) + parts) if len(parts) > 1 else ("", "", parts[0]))
    return out


def check_gateway(stack: Stack) -> list[str]:
    """The gateway listens on all interfaces of its container, is published on the host's loopback on its port,
    is healthy once /readyz says the broker is connected, and every source it declares has its secret
    (streams.gateway.auth.load_credentials); no anonymous access."""
    problems = []
    gateways = [n for n in cxpulse_services(stack) if ("gateway",) in service_commands(stack, n)[0]]
    if not gateways:
        return ["no service runs `cxpulse gateway`"]
    for name in gateways:
        service = stack.services[name]
        env = {k: resolve(v) for k, v in cxpulse_env(stack, name).items()}
        try:
            settings = load_service_settings(stack, name, env)
        except ConfigError as exc:
            problems.append(f"{name}: the settings loader refuses its environment: {exc}")
            continue
        gateway = settings.gateway
        if gateway.host not in ("0.0.0.0", "::"):
            problems.append(f"{name}: listens on {gateway.host}, unreachable through its published port "
                            "(set CXPULSE_GATEWAY_HOST=0.0.0.0)")
        published = _published(service)
        mine = [(ip, host) for ip, host, target in published if target == str(gateway.port)]
        if not mine:
            problems.append(f"{name}: its port {gateway.port} (gateway.port) is not published (ports: {published})")
        for ip, host in mine:
            if ip not in ("127.0.0.1", "::1"):
                problems.append(f"{name}: port {gateway.port} is published on {ip or 'every interface'}; publish it on "
                                "127.0.0.1 and put a TLS proxy in front for the outside")
        health = " ".join(str(t) for t in (service.get("healthcheck") or {}).get("test") or [])
        if "/readyz" not in health or (f":{gateway.port}/" not in health and "CXPULSE_GATEWAY_PORT" not in health):
            problems.append(f"{name}: its healthcheck does not probe /readyz on the gateway port {gateway.port}: "
                            f"{health or 'none'}")
        if gateway.allow_anonymous_loopback:
            problems.append(f"{name}: gateway.allow_anonymous_loopback is on: anything in the container (and "
                            "healthchecks) posts without credentials")
        try:
            credentials = load_credentials(gateway, env)
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if not credentials:
            problems.append(f"{name}: no [gateway.sources.<name>] is configured: every request would be refused")
    return problems


def _grafana_env_reference(value: Any) -> str | None:
    m = re.fullmatch(r"\$(?:\{(\w+)\}|(\w+))", str(value).strip())
    return (m[1] or m[2]) if m else None


def _board_datasource_uids(node: Any) -> set[str]:
    """uids of every datasource reference in a dashboard ({"type": ..., "uid": ...} objects), template
    variables such as ${datasource} excepted."""
    found = set()
    if isinstance(node, dict):
        ref = node.get("datasource")
        if isinstance(ref, dict) and isinstance(ref.get("uid"), str) and not ref["uid"].startswith("$"):
            found.add(ref["uid"])
        for value in node.values():
            found |= _board_datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= _board_datasource_uids(value)
    return found


def _board_user_problems(stack: Stack, grafana_password: list[str]) -> list[str]:
    """The board user exists with Grafana's password: a service that runs `cxpulse migrate` gets it as
    CXPULSE_CLICKHOUSE_BOARDS_PASSWORD (so migrate creates cx_boards), as a user of users.d that may
    manage access; no other cxpulse service gets it (least privilege)."""
    problems = []
    creators = [name for name in cxpulse_services(stack)
                if ("migrate",) in service_commands(stack, name)[0]
                and variables(cxpulse_env(stack, name).get("CXPULSE_CLICKHOUSE_BOARDS_PASSWORD", "")) == grafana_password]
    if not creators:
        problems.append(f"no service runs `cxpulse migrate` with CXPULSE_CLICKHOUSE_BOARDS_PASSWORD={grafana_password}: "
                        f"nothing creates {board_access.USER} with Grafana's password")
    for name in creators:
        from clickhouse_driver import Client

        user = _users(stack).get(Client.from_url(resolve(cxpulse_env(stack, name)["CXPULSE_CLICKHOUSE_URL"])).connection.user)
        if user is None or user.findtext("access_management") != "1":
            problems.append(f"{name}: its ClickHouse user cannot manage access (users.d access_management), so "
                            f"`cxpulse migrate` cannot create {board_access.USER}")
    for name in cxpulse_services(stack):
        if name not in creators and "CXPULSE_CLICKHOUSE_BOARDS_PASSWORD" in cxpulse_env(stack, name):
            problems.append(f"{name}: gets the board user's password though it does not create the user")
    return problems


def check_grafana(stack: Stack) -> list[str]:
    """Grafana gets the ClickHouse plugin, its provisioning, and datasources pointing at the services."""
    grafana = image_service(stack, "grafana/grafana")
    if grafana is None:
        return ["no grafana/grafana service"]
    service = stack.services[grafana]
    env = env_of(service)
    problems = []
    plugin = "grafana-clickhouse-datasource"
    if plugin not in env.get("GF_PLUGINS_PREINSTALL_SYNC", ""):
        later = [k for k in ("GF_INSTALL_PLUGINS", "GF_PLUGINS_PREINSTALL") if plugin in env.get(k, "")]
        problems.append(f"{grafana}: {plugin} is installed by {later[0]}, not before Grafana starts; provisioning "
                        "needs it at start: GF_PLUGINS_PREINSTALL_SYNC" if later else
                        f"{grafana}: the {plugin} plugin is not installed (GF_PLUGINS_PREINSTALL_SYNC)")
    mounts = mounts_of(service)
    if not any(is_bind(s) and host_path(s) == ROOT / "grafana/provisioning" and d == "/etc/grafana/provisioning" for s, d in mounts):
        problems.append(f"{grafana}: grafana/provisioning is not mounted at /etc/grafana/provisioning")
    for provider in stack.dashboards.get("providers") or []:
        path = (provider.get("options") or {}).get("path")
        if not any(is_bind(s) and host_path(s) == ROOT / "grafana/dashboards" and d == path for s, d in mounts):
            problems.append(f"{grafana}: dashboard provider {provider.get('name')} loads {path}, where grafana/dashboards "
                            "is not mounted")
        if provider.get("type") != "file" or provider.get("folder") != "cxpulse":
            problems.append(f"dashboards.yml: provider {provider.get('name')} should be type file, folder cxpulse")
    if not stack.dashboards.get("providers"):
        problems.append("dashboards.yml: no dashboard provider")
    provisioned = {s.get("uid") for s in stack.datasources.get("datasources") or []}
    for file, board in stack.boards.items():
        for uid in sorted(_board_datasource_uids(board) - provisioned):
            problems.append(f"grafana/dashboards/{file}: uses datasource uid {uid}, which datasources.yml does not "
                            f"provision ({sorted(provisioned)})")

    sources = {s.get("uid"): s for s in stack.datasources.get("datasources") or []}
    ch = image_service(stack, "clickhouse/clickhouse-server")
    source = sources.get("clickhouse")
    if source is None:
        problems.append("datasources.yml: no datasource with uid clickhouse")
    else:
        data = source.get("jsonData") or {}
        if source.get("type") != "grafana-clickhouse-datasource":
            problems.append(f"datasources.yml: uid clickhouse has type {source.get('type')}")
        if data.get("host") != ch:
            problems.append(f"datasources.yml: ClickHouse host {data.get('host')} is not the ClickHouse service ({ch})")
        if data.get("protocol") != "native" or data.get("port") != _native_port(stack):
            problems.append(f"datasources.yml: ClickHouse {data.get('protocol')}:{data.get('port')} is not the native "
                            f"port {_native_port(stack)} of {ch}")
        if data.get("username") != board_access.USER:
            problems.append(f"datasources.yml: ClickHouse username {data.get('username')} is not the read-only board "
                            f"user {board_access.USER}")
        reference = _grafana_env_reference((source.get("secureJsonData") or {}).get("password", ""))
        if reference is None:
            problems.append("datasources.yml: the ClickHouse password is not a $VARIABLE from Grafana's environment")
        elif reference not in env:
            problems.append(f"datasources.yml: the ClickHouse password reads ${reference}, which {grafana} does not set")
        else:
            problems += _board_user_problems(stack, variables(env[reference]))

    prom = image_service(stack, "prom/prometheus")
    source = sources.get("prometheus")
    if source is None:
        problems.append("datasources.yml: no datasource with uid prometheus")
    else:
        args = [str(a) for a in (stack.services[prom].get("command") if prom else None) or []]
        listen = next((a.split("=", 1)[1] for a in args if a.startswith("--web.listen-address=")), ":9090")
        url = urlsplit(str(source.get("url", "")))
        if source.get("type") != "prometheus":
            problems.append(f"datasources.yml: uid prometheus has type {source.get('type')}")
        if url.hostname != prom or url.port != int(listen.rpartition(":")[2]):
            problems.append(f"datasources.yml: Prometheus url {source.get('url')} is not the prometheus service "
                            f"({prom}{listen})")
    return problems


def check_secrets(stack: Stack) -> list[str]:
    """No literal or defaulted secret anywhere: each is a required interpolation (${VAR:?message}) from .env,
    and .env.example lists them empty."""
    problems = []
    required: set[str] = set()
    for name, service in stack.services.items():
        for key, value in env_of(service).items():
            for m in _INTERPOLATION.finditer(value):
                if m["op"] in (":?", "?"):
                    required.add(m["name"])
            if SECRET_NAME.search(key) and not _REQUIRED_ONLY.match(value.strip()):
                problems.append(f"{name}: {key} is a literal or defaulted secret ({value!r}); "
                                "use ${VAR:?message} from .env")
            for secret in re.findall(r"://[^/@\s:]+:(\$\{[^}]*\}|[^@\s]*)@", value):
                if not _REQUIRED_ONLY.match(secret):
                    problems.append(f"{name}: {key} carries a literal or defaulted password in its URL; "
                                    "use ${VAR:?message} from .env")
    for key, value in dockerfile_env(stack.dockerfile).items():
        if SECRET_NAME.search(key):
            problems.append(f"Dockerfile: ENV {key} bakes a secret into the image")
    for source in stack.datasources.get("datasources") or []:
        for key, value in (source.get("secureJsonData") or {}).items():
            if _grafana_env_reference(value) is None:
                problems.append(f"datasources.yml: {source.get('uid')} secureJsonData.{key} is a literal, not a $VARIABLE")
    example = {}
    for line in stack.env_example.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            example[key.strip()] = value.strip()
    for var in sorted(required - set(example)):
        problems.append(f".env.example does not list {var}, which docker-compose.yml requires")
    for key, value in example.items():
        if SECRET_NAME.search(key) and value:
            problems.append(f".env.example gives {key} a value; leave secrets empty there")
    return problems


def check_scaling(stack: Stack) -> list[str]:
    """`docker compose up --scale worker=N` works: no fixed name, no host port, no shared named volume."""
    problems = []
    workers = [n for n in cxpulse_services(stack) if ("worker",) in service_commands(stack, n)[0]]
    for name in workers:
        service = stack.services[name]
        if "container_name" in service:
            problems.append(f"{name}: container_name {service['container_name']} allows one replica only")
        if service.get("ports"):
            problems.append(f"{name}: publishes host ports {service['ports']}; a second replica could not bind them")
        shared = [src for src, dst in mounts_of(service) if src and not is_bind(src)]
        if shared:
            problems.append(f"{name}: mounts named volume(s) {shared}, shared by every replica")
    return problems


def check_dependencies(stack: Stack) -> list[str]:
    """depends_on names existing services with conditions they can meet; the key services have health checks."""
    problems = []
    services = stack.services
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        deps = {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
        for dep, spec in deps.items():
            condition = (spec or {}).get("condition", "service_started")
            if dep not in services:
                problems.append(f"{name}: depends_on {dep}, which is not a service")
                continue
            target = services[dep]
            if condition not in ("service_started", "service_healthy", "service_completed_successfully"):
                problems.append(f"{name}: depends_on {dep} with unknown condition {condition}")
            if condition == "service_healthy" and not (target.get("healthcheck") or {}).get("test"):
                problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            if condition == "service_completed_successfully" and target.get("restart") in ("always", "unless-stopped"):
                problems.append(f"{name}: waits for {dep} to complete, but {dep} restarts {target.get('restart')}")
            if target.get("profiles") and not service.get("profiles"):
                problems.append(f"{name}: depends on {dep}, which only starts in profile(s) {target['profiles']}")
    roles = {"kafka": image_service(stack, "apache/kafka"), "clickhouse": image_service(stack, "clickhouse/clickhouse-server"),
             "grafana": image_service(stack, "grafana/grafana"), "prometheus": image_service(stack, "prom/prometheus")}
    for name in cxpulse_services(stack):
        for command in (("worker",), ("gateway",)):
            if command in service_commands(stack, name)[0]:
                roles[f"{command[0]} ({name})"] = name
    for role, name in roles.items():
        health = (services.get(name) or {}).get("healthcheck") or {}
        if name is None or not health.get("test") or health.get("disable") or health.get("test") == ["NONE"]:
            problems.append(f"{role}: no healthcheck")
    return problems


def one_shot(stack: Stack, name: str) -> bool:
    """A service that runs to completion: restart "no", and another service waits for it to complete."""
    waited = any(isinstance(s.get("depends_on"), dict) and (s["depends_on"].get(name) or {}).get("condition")
                 == "service_completed_successfully" for s in stack.services.values())
    return waited and str(stack.services[name].get("restart", "no")) == "no"


def check_operations(stack: Stack) -> list[str]:
    """Every long-running service has a healthcheck and a restart policy that brings it back; one-shot
    services (init) say restart "no" and are exempt from health checks."""
    problems = []
    for name, service in stack.services.items():
        restart = service.get("restart")
        if one_shot(stack, name):
            continue
        health = service.get("healthcheck") or {}
        if not health.get("test") or health.get("disable") or health.get("test") == ["NONE"]:
            problems.append(f"{name}: no healthcheck")
        elif not health.get("interval") or not health.get("retries"):
            problems.append(f"{name}: its healthcheck sets no interval/retries (Docker's 30 s x 3 defaults)")
        if restart not in ("always", "unless-stopped", "on-failure") and not str(restart).startswith("on-failure:"):
            problems.append(f"{name}: restart is {restart!r}; a long-running service needs always, unless-stopped "
                            "or on-failure")
    return problems


# Where each stateful image keeps its data (Kafka's log.dirs is checked by check_kafka).
STATE_DIRS = {"clickhouse/clickhouse-server": "/var/lib/clickhouse", "grafana/grafana": "/var/lib/grafana"}


def check_persistence(stack: Stack) -> list[str]:
    """ClickHouse, Grafana and Prometheus keep their data on named volumes (a recreated container keeps it)."""
    problems = []
    wanted = dict(STATE_DIRS)
    prom = image_service(stack, "prom/prometheus")
    if prom:
        args = [str(a) for a in stack.services[prom].get("command") or []]
        wanted["prom/prometheus"] = next((a.split("=", 1)[1] for a in args if a.startswith("--storage.tsdb.path=")),
                                         "/prometheus")
    for image, path in wanted.items():
        name = image_service(stack, image)
        if name is None:
            continue
        named = [dst.rstrip("/") for src, dst in mounts_of(stack.services[name]) if src and not is_bind(src)]
        if not any(path.rstrip("/") == d or path.startswith(d + "/") for d in named):
            problems.append(f"{name}: {path} is not on a named volume (mounted: {named})")
    return problems


def check_volumes(stack: Stack) -> list[str]:
    """Bind mounts exist in the repository; named volumes are declared."""
    problems = []
    declared = set(stack.compose.get("volumes") or {})
    for name, service in stack.services.items():
        for source, target in mounts_of(service):
            if is_bind(source) and not host_path(source).exists():
                problems.append(f"{name}: bind mount source {source} does not exist")
            elif source and not is_bind(source) and source not in declared:
                problems.append(f"{name}: named volume {source} is not declared under volumes:")
    return problems


def check_dockerfile(stack: Stack) -> list[str]:
    """python:3.11-slim, a plain `pip install .` of everything the wheel needs, a non-root user, ENTRYPOINT cxpulse."""
    problems = []
    text = stack.dockerfile
    base = dockerfile_last(text, "FROM") or ""
    if not base.startswith("python:3.11-slim"):
        problems.append(f"Dockerfile: FROM {base}, expected python:3.11-slim")
    if dockerfile_exec_form(text, "ENTRYPOINT") != ["cxpulse"]:
        problems.append(f"Dockerfile: ENTRYPOINT is {dockerfile_last(text, 'ENTRYPOINT')}, expected [\"cxpulse\"]")
    user = (dockerfile_last(text, "USER") or "root").split(":")[0]
    if user in ("root", "0"):
        problems.append("Dockerfile: the image runs as root (add a USER)")
    runs = " && ".join(rest for k, rest in dockerfile_instructions(text) if k == "RUN")
    if not re.search(r"pip install (--[\w-]+ )*\.(\s|$)", runs) or re.search(r"pip install[^&]*(-e|--editable)\b", runs):
        problems.append("Dockerfile: the project is not installed with a plain `pip install .`")
    copied = set()
    for keyword, rest in dockerfile_instructions(text):
        if keyword in ("COPY", "ADD"):
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            copied |= {p.rstrip("/") for p in parts[:-1]}
    wheel = stack.pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", stack.pyproject["project"].get("readme", "README.md"),
              *wheel.get("packages", []), *wheel.get("force-include", {})}
    for path in sorted(needed - copied - {"."}):
        if "." not in copied:
            problems.append(f"Dockerfile: {path} is not copied, but the wheel build needs it (pyproject.toml)")
    return problems


CHECKS: list[Callable[[Stack], list[str]]] = [
    check_cxpulse_settings, check_cli_commands, check_kafka, check_clickhouse, check_prometheus, check_gateway,
    check_grafana,
    check_secrets, check_scaling, check_dependencies, check_operations, check_persistence, check_volumes,
    check_dockerfile,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_stack_is_consistent(check):
    problems = check(load_stack())
    assert not problems, f"{check.__name__}: {check.__doc__}\n  - " + "\n  - ".join(problems)


# --------------------------------------------------------------------------------------------
# Every check can fail: break one thing, expect the problem


def set_env(stack: Stack, service: str, **values: str | None) -> None:
    """Change a service's environment without touching the YAML anchor other services share."""
    env = dict(env_of(stack.services[service]))
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    stack.services[service]["environment"] = env


def set_in(mapping: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        mapping = mapping[key]
    if value is None:
        mapping.pop(last, None)
    else:
        mapping[last] = value


def datasource(stack: Stack, uid: str) -> dict:
    return next(s for s in stack.datasources["datasources"] if s["uid"] == uid)


def scrape_job(stack: Stack, name: str) -> dict:
    return next(j for j in stack.prometheus["scrape_configs"] if j["job_name"] == name)


def ignore_all_env(monkeypatch):
    monkeypatch.setattr(config_module, "_env_overrides", lambda environ: {})


def ignore_env_var(monkeypatch, name: str):
    real = config_module._env_overrides
    monkeypatch.setattr(config_module, "_env_overrides", lambda environ: real({k: v for k, v in environ.items() if k != name}))


URL = "clickhouse://cxpulse@clickhouse:9000/default"

BREAKAGES: list[tuple[str, Callable, Callable[..., Any], str]] = [
    # settings
    ("typo in a CXPULSE variable", check_cxpulse_settings,
     lambda s, mp: set_env(s, "worker", CXPULSE_KAFKA_BOOTSTRAPS="kafka:9092"), "did you mean CXPULSE_KAFKA_BOOTSTRAP"),
    ("unknown CXPULSE variable", check_cxpulse_settings,
     lambda s, mp: set_env(s, "init", CXPULSE_SINK_FLUSH_EVERY="5"), "not a setting the loader knows"),
    ("a value the loader refuses", check_cxpulse_settings,
     lambda s, mp: set_env(s, "worker", CXPULSE_METRICS_PORT="many"), "refuses its environment"),
    ("the loader ignores the environment", check_cxpulse_settings,
     lambda s, mp: ignore_all_env(mp), "but the loader made settings.kafka.bootstrap = ''"),
    ("a variable the loader does not read", check_cxpulse_settings,
     # 9464 is also the default, so only the perturbed second load can see that the variable is ignored
     lambda s, mp: ignore_env_var(mp, "CXPULSE_METRICS_PORT"), "CXPULSE_METRICS_PORT is not read by the settings loader"),
    ("services disagree on partitions", check_cxpulse_settings,
     lambda s, mp: set_env(s, "init", CXPULSE_KAFKA_PARTITIONS="4"), "differ in their kafka settings: partitions 4 vs 12"),
    ("CXPULSE_CONFIG not mounted", check_cxpulse_settings,
     lambda s, mp: set_env(s, "worker", CXPULSE_CONFIG="/etc/cxpulse.toml"), "is not a file mounted"),
    ("secret of a source the gateway does not declare", check_cxpulse_settings,
     lambda s, mp: set_env(s, "gateway", CXPULSE_SOURCE_CHANELS_SECRET="${GATEWAY_TOKEN:?x}"), "secret of no gateway source"),
    # CLI
    ("unknown subcommand", check_cli_commands,
     lambda s, mp: set_in(s.services, "worker.command", ["wrker"]), "not a valid cxpulse command line"),
    ("unknown option", check_cli_commands,
     lambda s, mp: set_in(s.services, "simulator.command", ["simulate", "--ratee", "5"]), "No such option"),
    ("bad option value", check_cli_commands,
     lambda s, mp: set_in(s.services, "simulator.command", ["simulate", "--rate", "fast"]), "not a valid cxpulse command line"),
    ("init skips the migrations", check_cli_commands,
     lambda s, mp: set_in(s.services, "init.command", ["cxpulse topics create"]), "runs `cxpulse migrate`"),
    ("gateway starts before the topics exist", check_cli_commands,
     lambda s, mp: set_in(s.services, "gateway.depends_on", {"kafka": {"condition": "service_healthy"}}),
     "gateway: does not wait (service_completed_successfully) for a service that runs `cxpulse topics create`"),
    ("no gateway", check_cli_commands,
     lambda s, mp: s.services.pop("gateway"), "no service runs `cxpulse gateway`"),
    ("worker does not wait for init", check_cli_commands,
     lambda s, mp: set_in(s.services, "worker.depends_on", {"init": {"condition": "service_started"}}),
     "runs `cxpulse topics create`"),
    # Kafka
    ("bootstrap on a port kafka does not advertise", check_kafka,
     lambda s, mp: set_env(s, "worker", CXPULSE_KAFKA_BOOTSTRAP="kafka:29092"), "advertises no listener kafka:29092"),
    ("bootstrap host is not a service", check_kafka,
     lambda s, mp: set_env(s, "worker", CXPULSE_KAFKA_BOOTSTRAP="kafak:9092"), "is not the Kafka service"),
    ("advertised listener not bound", check_kafka,
     lambda s, mp: set_env(s, "kafka", KAFKA_LISTENERS="PLAINTEXT://0.0.0.0:9094,CONTROLLER://0.0.0.0:9093,HOST://0.0.0.0:19092"),
     "does not bind PLAINTEXT on port 9092"),
    ("listener speaks another protocol", check_kafka,
     lambda s, mp: set_env(s, "kafka", KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="PLAINTEXT:SSL,CONTROLLER:PLAINTEXT,HOST:PLAINTEXT"),
     "speaks SSL"),
    ("host listener not published", check_kafka,
     lambda s, mp: set_in(s.services, "kafka.ports", None), "is not published"),
    ("log.dirs off the volume", check_kafka,
     lambda s, mp: set_env(s, "kafka", KAFKA_LOG_DIRS=None), "KAFKA_LOG_DIRS"),
    # ClickHouse
    ("URL host is not the clickhouse service", check_clickhouse,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_URL=URL.replace("@clickhouse:", "@localhost:")),
     "host localhost is not the ClickHouse service"),
    ("URL on the HTTP port", check_clickhouse,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_URL=URL.replace(":9000", ":8123")), "port 8123 is not the native port"),
    ("URL database created later by the migrations", check_clickhouse,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_URL=URL.replace("/default", "/cx")), "must exist when the client connects"),
    ("URL user unknown to the server", check_clickhouse,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_URL=URL.replace("cxpulse@", "default@")), "user default is not a user"),
    ("password from another variable", check_clickhouse,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_PASSWORD="${CH_PASS:?x}"), "is not the server's"),
    ("no password", check_clickhouse,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_PASSWORD=None), "no CXPULSE_CLICKHOUSE_PASSWORD"),
    ("password in the URL", check_clickhouse,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_PASSWORD=None,
                           CXPULSE_CLICKHOUSE_URL=URL.replace("cxpulse@", "cxpulse:${CLICKHOUSE_PASSWORD:?x}@")),
     "carries a password"),
    ("server reads a variable nobody sets", check_clickhouse,
     lambda s, mp: s.users_xml.find("users/cxpulse/password").set("from_env", "NOPE"), "from NOPE, which the service does not set"),
    ("entrypoint user setup", check_clickhouse,
     lambda s, mp: set_env(s, "clickhouse", CLICKHOUSE_PASSWORD="${CLICKHOUSE_PASSWORD:?x}"), "entrypoint"),
    ("the gateway gets the ClickHouse password", check_clickhouse,
     lambda s, mp: set_env(s, "gateway", CXPULSE_CLICKHOUSE_PASSWORD="${CLICKHOUSE_PASSWORD:?x}"), "least privilege"),
    ("no URL: embedded chDB per container", check_clickhouse,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_URL=None), "embedded chDB"),
    ("server on localhost only", check_clickhouse,
     lambda s, mp: [s.config_xml.remove(e) for e in s.config_xml.findall("listen_host")], "localhost only"),
    # Prometheus
    ("prometheus.yml mounted elsewhere", check_prometheus,
     lambda s, mp: s.services["prometheus"]["volumes"].__setitem__(0, "./deploy/prometheus:/etc/prom:ro"),
     "is not mounted at --config.file"),
    ("rule files outside the mounted directory", check_prometheus,
     lambda s, mp: (s.services["prometheus"]["volumes"].__setitem__(
         0, "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"),
         s.prometheus.__setitem__("rule_files", ["rules/*.yml"])), "rules is not mounted into prometheus"),
    ("rule files glob matches nothing", check_prometheus,
     lambda s, mp: s.prometheus.__setitem__("rule_files", ["rules/no-such-*.yml"]), "matches no file"),
    ("scrape port is not the metrics port", check_prometheus,
     lambda s, mp: set_env(s, "worker", CXPULSE_METRICS_PORT="9465"), "serves metrics on :9465"),
    ("scrape target is not a service", check_prometheus,
     lambda s, mp: set_in(s.prometheus["scrape_configs"][0]["dns_sd_configs"][0], "names", ["workers"]),
     "workers is not a compose service"),
    ("metrics on loopback", check_prometheus,
     lambda s, mp: set_env(s, "simulator", CXPULSE_METRICS_HOST="127.0.0.1"), "unreachable"),
    ("SRV lookup of an A name", check_prometheus,
     lambda s, mp: set_in(s.prometheus["scrape_configs"][0]["dns_sd_configs"][0], "type", None), "use type: A"),
    ("simulator not scraped", check_prometheus,
     lambda s, mp: s.prometheus["scrape_configs"].pop(1), "no prometheus job scrapes it"),
    ("gateway not scraped", check_prometheus,
     lambda s, mp: s.prometheus["scrape_configs"].remove(scrape_job(s, "cxpulse-gateway")),
     "gateway: serves metrics on :9465 but no prometheus job scrapes it"),
    ("gateway scraped on the workers' metrics port", check_prometheus,
     lambda s, mp: set_in(scrape_job(s, "cxpulse-gateway")["dns_sd_configs"][0], "port", 9464),
     "scrapes gateway:9464, gateway serves metrics on :9465"),
    ("gateway metrics off", check_prometheus,
     lambda s, mp: set_env(s, "gateway", CXPULSE_GATEWAY_METRICS_PORT="0"), "CXPULSE_GATEWAY_METRICS_PORT=0 disables"),
    # gateway
    ("gateway on loopback in its container", check_gateway,
     lambda s, mp: set_env(s, "gateway", CXPULSE_GATEWAY_HOST="127.0.0.1"), "unreachable through its published port"),
    ("gateway port not published", check_gateway,
     lambda s, mp: set_in(s.services, "gateway.ports", ["127.0.0.1:8088:8089"]), "its port 8088 (gateway.port) is not published"),
    ("gateway listens on another port than published", check_gateway,
     lambda s, mp: set_env(s, "gateway", CXPULSE_GATEWAY_PORT="8089"), "its port 8089 (gateway.port) is not published"),
    ("gateway published on every interface", check_gateway,
     lambda s, mp: set_in(s.services, "gateway.ports", ["8088:8088"]), "published on every interface"),
    ("gateway healthy before the broker is connected", check_gateway,
     lambda s, mp: set_in(s.services, "gateway.healthcheck.test", ["CMD", "python", "-c", "urlopen('http://127.0.0.1:8088/healthz')"]),
     "does not probe /readyz"),
    ("a gateway source without its secret", check_gateway,
     lambda s, mp: set_env(s, "gateway", CXPULSE_SOURCE_CHANNELS_SECRET=None), "gateway.sources.channels has no secret"),
    ("a gateway without sources", check_gateway,
     lambda s, mp: (set_env(s, "gateway", CXPULSE_SOURCE_CHANNELS_SECRET=None),
                    set_in(s.services, "gateway.volumes", []), set_env(s, "gateway", CXPULSE_CONFIG=None)),
     "no [gateway.sources.<name>] is configured"),
    ("anonymous gateway", check_gateway,
     lambda s, mp: set_env(s, "gateway", CXPULSE_GATEWAY_ALLOW_ANONYMOUS_LOOPBACK="true"), "allow_anonymous_loopback is on"),
    ("healthcheck on another port", check_prometheus,
     lambda s, mp: set_in(s.services, "worker.healthcheck", {"test": ["CMD", "curl", "http://127.0.0.1:8080/"]}),
     "does not probe the metrics port"),
    # Grafana
    ("ClickHouse datasource on localhost", check_grafana,
     lambda s, mp: set_in(datasource(s, "clickhouse"), "jsonData.host", "localhost"), "is not the ClickHouse service"),
    ("ClickHouse datasource over HTTP", check_grafana,
     lambda s, mp: set_in(datasource(s, "clickhouse"), "jsonData.protocol", "http"), "is not the native port"),
    ("Prometheus datasource elsewhere", check_grafana,
     lambda s, mp: set_in(datasource(s, "prometheus"), "url", "http://prom:9090"), "is not the prometheus service"),
    ("plugin not installed", check_grafana,
     lambda s, mp: set_env(s, "grafana", GF_PLUGINS_PREINSTALL_SYNC=None), "plugin is not installed"),
    ("plugin installed in the background", check_grafana,
     lambda s, mp: set_env(s, "grafana", GF_PLUGINS_PREINSTALL_SYNC=None, GF_PLUGINS_PREINSTALL="grafana-clickhouse-datasource"),
     "not before Grafana starts"),
    ("datasource password not in Grafana's environment", check_grafana,
     lambda s, mp: set_env(s, "grafana", CLICKHOUSE_BOARDS_PASSWORD=None), "which grafana does not set"),
    ("Grafana logs in as the cxpulse user", check_grafana,
     lambda s, mp: set_in(datasource(s, "clickhouse"), "jsonData.username", "cxpulse"), "is not the read-only board user"),
    ("nothing creates the board user", check_grafana,
     lambda s, mp: set_env(s, "init", CXPULSE_CLICKHOUSE_BOARDS_PASSWORD=None), "nothing creates cx_boards"),
    ("the board user's password differs from Grafana's", check_grafana,
     lambda s, mp: set_env(s, "grafana", CLICKHOUSE_BOARDS_PASSWORD="${OTHER:?x}"), "nothing creates cx_boards"),
    ("the migrating user cannot manage access", check_grafana,
     lambda s, mp: s.users_xml.find("users/cxpulse").remove(s.users_xml.find("users/cxpulse/access_management")),
     "cannot manage access"),
    ("the workers get the board user's password", check_grafana,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_BOARDS_PASSWORD="${CLICKHOUSE_BOARDS_PASSWORD:?x}"),
     "worker: gets the board user's password"),
    ("board uses a datasource that is not provisioned", check_grafana,
     lambda s, mp: s.boards.__setitem__("x.json", {"panels": [{"datasource": {"type": "loki", "uid": "loki"}}]}),
     "uses datasource uid loki"),
    ("dashboards not mounted", check_grafana,
     lambda s, mp: set_in(s.dashboards["providers"][0], "options.path", "/dashboards"), "is not mounted"),
    # secrets
    ("defaulted gateway token", check_secrets,
     lambda s, mp: set_env(s, "gateway", CXPULSE_SOURCE_CHANNELS_SECRET="${GATEWAY_TOKEN:-letmein}"),
     "CXPULSE_SOURCE_CHANNELS_SECRET is a literal or defaulted secret"),
    ("gateway token missing from .env.example", check_secrets,
     lambda s, mp: setattr(s, "env_example", s.env_example.replace("GATEWAY_TOKEN=", "")), "does not list GATEWAY_TOKEN"),
    ("literal admin password", check_secrets,
     lambda s, mp: set_env(s, "grafana", GF_SECURITY_ADMIN_PASSWORD="admin"), "GF_SECURITY_ADMIN_PASSWORD is a literal"),
    ("defaulted admin password", check_secrets,
     lambda s, mp: set_env(s, "grafana", GF_SECURITY_ADMIN_PASSWORD="${GRAFANA_ADMIN_PASSWORD:-admin}"), "literal or defaulted"),
    ("literal password in the URL", check_secrets,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_URL="clickhouse://cxpulse:hunter2@clickhouse:9000/default"),
     "password in its URL"),
    ("defaulted password in the URL", check_secrets,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_URL=URL.replace("cxpulse@", "cxpulse:${P:-change me}@")),
     "password in its URL"),
    ("defaulted worker password", check_secrets,
     lambda s, mp: set_env(s, "worker", CXPULSE_CLICKHOUSE_PASSWORD="${CLICKHOUSE_PASSWORD:-changeme}"),
     "CXPULSE_CLICKHOUSE_PASSWORD is a literal or defaulted secret"),
    ("literal datasource password", check_secrets,
     lambda s, mp: set_in(datasource(s, "clickhouse"), "secureJsonData.password", "hunter2"), "is a literal"),
    ("secret filled in .env.example", check_secrets,
     lambda s, mp: setattr(s, "env_example", s.env_example.replace("GRAFANA_ADMIN_PASSWORD=", "GRAFANA_ADMIN_PASSWORD=admin")),
     "gives GRAFANA_ADMIN_PASSWORD a value"),
    ("required variable missing from .env.example", check_secrets,
     lambda s, mp: setattr(s, "env_example", s.env_example.replace("CLICKHOUSE_PASSWORD=", "")), "does not list CLICKHOUSE_PASSWORD"),
    # scaling
    ("worker with a container_name", check_scaling,
     lambda s, mp: set_in(s.services, "worker.container_name", "cxpulse-worker"), "one replica only"),
    ("worker with a host port", check_scaling,
     lambda s, mp: set_in(s.services, "worker.ports", ["9464:9464"]), "publishes host ports"),
    ("worker with a shared volume", check_scaling,
     lambda s, mp: set_in(s.services, "worker.volumes", ["worker-data:/data"]), "shared by every replica"),
    # dependencies and health
    ("depends on a missing service", check_dependencies,
     lambda s, mp: set_in(s.services, "init.depends_on.zookeeper", {"condition": "service_started"}), "zookeeper, which is not a service"),
    ("waits for health that is never reported", check_dependencies,
     lambda s, mp: set_in(s.services, "kafka.healthcheck", None), "kafka has no healthcheck"),
    ("gateway without a healthcheck", check_dependencies,
     lambda s, mp: set_in(s.services, "gateway.healthcheck", None), "gateway (gateway): no healthcheck"),
    ("worker without a healthcheck", check_dependencies,
     lambda s, mp: set_in(s.services, "worker.healthcheck", None), "worker (worker): no healthcheck"),
    ("default service depends on a profiled one", check_dependencies,
     lambda s, mp: set_in(s.services, "grafana.depends_on.simulator", {"condition": "service_started"}), "only starts in profile"),
    ("waits for a long-running service to complete", check_dependencies,
     lambda s, mp: set_in(s.services, "init.restart", "unless-stopped"), "restarts unless-stopped"),
    # health, restart, persistence
    ("a service without a healthcheck", check_operations,
     lambda s, mp: set_in(s.services, "prometheus.healthcheck", None), "prometheus: no healthcheck"),
    ("a healthcheck on Docker's defaults", check_operations,
     lambda s, mp: set_in(s.services, "grafana.healthcheck.retries", None), "sets no interval/retries"),
    ("a service that is not restarted", check_operations,
     lambda s, mp: set_in(s.services, "clickhouse.restart", None), "clickhouse: restart is None"),
    ("init no longer one-shot", check_operations,
     lambda s, mp: set_in(s.services, "init.restart", "always"), "init: no healthcheck"),
    ("ClickHouse data in the container", check_persistence,
     lambda s, mp: set_in(s.services, "clickhouse.volumes", s.services["clickhouse"]["volumes"][1:]),
     "/var/lib/clickhouse is not on a named volume"),
    ("Prometheus TSDB elsewhere", check_persistence,
     lambda s, mp: s.services["prometheus"]["command"].__setitem__(1, "--storage.tsdb.path=/data"),
     "/data is not on a named volume"),
    # volumes
    ("bind mount of a missing file", check_volumes,
     lambda s, mp: s.services["prometheus"]["volumes"].__setitem__(0, "./deploy/prom:/etc/prometheus:ro"),
     "does not exist"),
    ("undeclared named volume", check_volumes,
     lambda s, mp: s.compose["volumes"].pop("kafka-data"), "kafka-data is not declared"),
    # Dockerfile
    ("ENTRYPOINT is not cxpulse", check_dockerfile,
     lambda s, mp: setattr(s, "dockerfile", s.dockerfile.replace('ENTRYPOINT ["cxpulse"]', 'ENTRYPOINT ["python", "-m", "streams"]')),
     "expected [\"cxpulse\"]"),
    ("runs as root", check_dockerfile,
     lambda s, mp: setattr(s, "dockerfile", re.sub(r"(?m)^USER .*$", "", s.dockerfile)), "runs as root"),
    ("editable install", check_dockerfile,
     lambda s, mp: setattr(s, "dockerfile", s.dockerfile.replace("pip install .", "pip install -e .")), "plain `pip install .`"),
    ("schemas not copied", check_dockerfile,
     lambda s, mp: setattr(s, "dockerfile", re.sub(r"(?m)^COPY schemas .*$", "", s.dockerfile)), "schemas is not copied"),
    ("another base image", check_dockerfile,
     lambda s, mp: setattr(s, "dockerfile", s.dockerfile.replace("python:3.11-slim", "python:3.12")), "expected python:3.11-slim"),
]


@pytest.mark.parametrize("check, breakage, expected", [(c, b, e) for _, c, b, e in BREAKAGES],
                         ids=[case[0] for case in BREAKAGES])
def test_a_broken_stack_is_caught(check, breakage, expected, monkeypatch):
    stack = load_stack()
    breakage(stack, monkeypatch)
    problems = check(stack)
    assert any(expected in p for p in problems), (
        f"{check.__name__} did not report {expected!r}; it reported: {problems or 'nothing'}")

