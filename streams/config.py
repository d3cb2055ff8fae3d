"""Settings: one TOML file plus CXPULSE_* environment variables.

The file (``--config``/``CXPULSE_CONFIG``, else ``./cxpulse.toml`` when present) overrides the
defaults below; an environment variable ``CXPULSE_<SECTION>_<KEY>`` overrides the file, so a
container can be configured without a file. ``config/cxpulse.toml`` documents every key, and a
test keeps it equal to these defaults.

Secrets (SECRETS below) come only from the environment or from a file named by ``<key>_file``
(``CXPULSE_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka-password``, the Docker/Kubernetes secrets
convention); one written in the config file is refused with its key named.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from streams.domain.channels import REGISTRY

# Value constraints, so a setting that cannot work fails at start with its key named
# instead of deep inside a stage (an infinite max age overflows timedelta on every event).
Count = Annotated[int, Meta(ge=1)]
Port = Annotated[int, Meta(ge=0, le=65535)]
Seconds = Annotated[float, Meta(ge=0, le=10 * 365 * 24 * 3600.0)]
Positive = Annotated[float, Meta(gt=0, le=10 * 365 * 24 * 3600.0)]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


class KafkaSettings(msgspec.Struct, forbid_unknown_fields=True):
    # Empty means "not configured": `cxpulse demo` then starts the embedded broker,
    # other commands use 127.0.0.1:9092.
    bootstrap: str = ""
    input_topics: list[str] = msgspec.field(default_factory=lambda: ["cx.events"])
    dlq_topic: str = "cx.events.dlq"
    validated_topic: str = "cx.events.validated"
    identity_topic: str = "cx.identity.graph"
    links_topic: str = "cx.identity.links"
    resolved_topic: str = "cx.events.resolved"
    alerts_topic: str = "cx.alerts"
    work_items_topic: str = "cx.work_items"
    outreach_queue_topic: str = "cx.outreach.queue"        # work item versions keyed by team (streams.stages.dispatch)
    dispatch_topic: str = "cx.outreach.dispatch"           # each item's place: waiting, listed, closed
    ticks_topic: str = "cx.detect.ticks"
    undelivered_topic: str = "cx.alerts.undelivered"
    privacy_topic: str = "cx.privacy.requests"             # erasure requests, from ingest (streams.stages.privacy)
    erasures_topic: str = "cx.privacy.erasures"            # erasure receipts (docs/erasure.md)
    partitions: Count = 4
    replication_factor: Count = 1
    app_id: str = "cxpulse"
    # Tansu takes about half the session timeout to form a group; keep joins short.
    session_timeout: Positive = 6.0
    heartbeat_interval: Positive = 1.0
    rebalance_timeout: Positive = 6.0
    # Longest a stage's handled records wait for their offsets to be committed (streams.runtime.batch_source).
    commit_interval: Positive = 1.0
    # Longest a fetch waits at the broker for new records. Apache Kafka answers as soon as a record
    # arrives; the embedded broker waits out about a quarter of it even then, once per stage hop.
    fetch_max_wait: Positive = 0.1
    # Every Kafka client cxpulse creates (Faust/aiokafka, kafka-python) connects with these.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = ""
    sasl_username: str = ""
    sasl_password: str = ""              # secret
    sasl_password_file: str = ""
    ssl_cafile: str = ""                 # CA bundle to verify the brokers; empty: the system's
    ssl_certfile: str = ""               # client certificate (mutual TLS)
    ssl_keyfile: str = ""
    ssl_key_password: str = ""           # secret, for an encrypted ssl_keyfile
    ssl_key_password_file: str = ""
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        sasl, tls = self.security_protocol.startswith("SASL_"), self.security_protocol.endswith("SSL")
        if sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_mechanism, sasl_username "
                             "and sasl_password (CXPULSE_KAFKA_SASL_PASSWORD or CXPULSE_KAFKA_SASL_PASSWORD_FILE)")
        if not sasl and self.sasl_mechanism:
            raise ValueError(f"sasl_mechanism {self.sasl_mechanism} needs security_protocol SASL_PLAINTEXT or SASL_SSL")
        if self.sasl_mechanism == "PLAIN" and not tls:
            raise ValueError("sasl_mechanism PLAIN over SASL_PLAINTEXT sends the password in clear: "
                             "use SASL_SSL, or SCRAM-SHA-256/512")
        files = [n for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if getattr(self, n)]
        if files and not tls:
            raise ValueError(f"{', '.join(files)} set, but security_protocol {self.security_protocol} uses no TLS")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("ssl_keyfile needs ssl_certfile")


class ClickHouseSettings(msgspec.Struct, forbid_unknown_fields=True):
    # Empty means the embedded chDB engine under data_dir; else clickhouse://user@host:9000/default
    # (clickhouses://... or secure = true for TLS, port 9440 by default).
    url: str = ""
    password: str = ""                   # secret; overrides a password in the URL
    password_file: str = ""
    # secret: the read-only board user cx_boards (schemas/clickhouse/access/cx_boards.sql), created
    # or updated by `cxpulse migrate` on a server; empty: not managed here (docs/security.md)
    boards_password: str = ""
    boards_password_file: str = ""
    secure: bool = False                 # TLS
    ca_certs: str = ""                   # CA bundle to verify the server; empty: the system's
    verify: bool = True                  # verify the server's certificate and host name
    # the embedded chDB keeps its own query, view and part logs (what each insert, view and merge
    # cost; benchmarks/profile_pipeline.py reads them): profiling only, the logs cost CPU themselves
    chdb_query_log: bool = False

    @property
    def tls(self) -> bool:
        return self.secure or self.url.startswith("clickhouses://")

    def __post_init__(self) -> None:
        if not self.url and (self.password or self.boards_password or self.secure or self.ca_certs):
            raise ValueError("password, boards_password, secure and ca_certs need url (the embedded chDB takes none)")
        if self.password and urlsplit(self.url).password:
            raise ValueError("a password both in url and in password: keep one (password)")
        if self.ca_certs and not self.tls:
            raise ValueError("ca_certs set, but the connection uses no TLS (secure = true or clickhouses://)")


class IngestSettings(msgspec.Struct, forbid_unknown_fields=True):
    max_event_bytes: Count = 65536
    max_future_skew_seconds: Seconds = 300.0
    max_age_seconds: Positive = 7 * 24 * 3600.0
    default_phone_region: str = "US"
    dedup_window_seconds: Positive = 3600.0
    # Each stage reads up to batch_size records, or what arrived within batch_seconds of the first:
    # larger batches cost less per event, shorter waits cost less latency.
    batch_size: Count = 5000
    batch_seconds: Positive = 0.05
    dedup_batch_size: Count = 5000
    dedup_batch_seconds: Positive = 0.05
    # Caller IDs that say the number was withheld (matched lowercased, ignoring spaces, dashes, dots and
    # brackets; a blank phone is withheld too): kept raw on the event, never stitched. Sources in
    # config/cxpulse.toml.
    withheld_caller_ids: list[str] = msgspec.field(default_factory=lambda: [
        "anonymous", "private", "private number", "restricted", "unknown", "unavailable", "withheld", "blocked",
        "sip:anonymous@anonymous.invalid", "+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253",
        "0000000000"])


IDENTIFIER_KINDS = ("customer_id", "account_id", "email", "phone", "social", "device_id", "visitor_id")


class IdentitySettings(msgspec.Struct, forbid_unknown_fields=True):
    # An identifier linked to more identifiers at least as strong as itself than its cap (by kind,
    # else "default") joins no one: a switchboard number, a shared tablet, a family's cookie.
    caps: dict[str, Count] = msgspec.field(
        default_factory=lambda: {"default": 10, "device_id": 5, "visitor_id": 5})
    # Values that identify no one (compared lowercased, bare or as kind:value).
    blocked_values: list[str] = msgspec.field(default_factory=lambda: [
        "", "null", "none", "nil", "unknown", "undefined", "n/a", "na", "-", "anonymous", "guest", "test"])
    # Full-match regular expressions on the bare value or on kind:value: all zeros, no-reply mail.
    # Add shared test numbers here (the simulator's customers use 555-01xx and example.com).
    blocked_patterns: list[str] = msgspec.field(default_factory=lambda: [
        r"[0\s+-]+", r"phone:\+\d{1,3}0{6,}", r"email:(test|noreply|no-reply|donotreply)@.*"])
    cached_nodes: Annotated[int, Meta(ge=0)] = 4_000  # graph nodes kept decoded between batches; 0: none
    batch_size: Count = 5000                 # the graph stage (dedup routes to it: ingest.dedup_batch_size)
    batch_seconds: Positive = 0.05

    def __post_init__(self) -> None:
        import re

        unknown = set(self.caps) - {"default", *IDENTIFIER_KINDS}
        if unknown:
            raise ValueError(f"identity.caps: unknown identifier kinds {sorted(unknown)}")
        for pattern in self.blocked_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"identity.blocked_patterns: {pattern!r}: {exc}") from None


class TimelineSettings(msgspec.Struct, forbid_unknown_fields=True):
    journey_gap_seconds: Positive = 1800.0      # a journey ends after this much inactivity
    repeat_window_seconds: Positive = 7 * 24 * 3600.0  # a contact within this of the previous one is a repeat


class KpiSettings(msgspec.Struct, forbid_unknown_fields=True):
    service_level_seconds: Positive = 20.0      # answered within this = within service level
    # per channel overrides (asynchronous channels have longer targets)
    service_level_seconds_by_channel: dict[str, Positive] = msgspec.field(default_factory=lambda: {
        c.name: c.service_level_seconds for c in REGISTRY.values() if c.service_level_seconds != 20.0})
    short_abandon_seconds: Seconds = 5.0        # abandons quicker than this are not offered contacts
    # what a customer did next is watched this long after their work item opened (cx.outreach_effect)
    outreach_effect_window_seconds: Positive = 24 * 3600.0


Days = Annotated[int, Meta(ge=0, le=36500)]  # 0: keep for ever


class RetentionSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Days each ClickHouse table keeps its rows (TTLs set by `cxpulse migrate` and at worker start),
    and the retention.ms `cxpulse topics create` gives the topics that feed them; 0 keeps everything.
    Which time each table counts from: docs/retention.md."""

    events_days: Days = 90                 # cx.events (event time); the input topics
    contacts_days: Days = 400              # cx.contact_facts, behind cx.contacts and cx.kpis (last event time)
    identity_links_days: Days = 400        # cx.identity_links (change time); the links topic
    alerts_days: Days = 180                # cx.alerts (change time); the alerts topic
    work_items_days: Days = 180            # cx.work_items (change time); the work items topic
    dead_letters_days: Days = 90           # cx.dead_letters rows: reason, detail, origin (rejection time)
    dead_letter_payloads_days: Days = 14   # their payload, key and headers, blanked; the dead-letter topics
    rollups_days: Days = 1100              # the boards' rollups (cx.*_per_minute, cx.customer_channels_daily)

    def __post_init__(self) -> None:
        def longer(a: int, b: int) -> bool:  # a keeps rows longer than b (0: for ever)
            return (a == 0 and b != 0) or (b != 0 and a > b)

        if longer(self.dead_letter_payloads_days, self.dead_letters_days):
            raise ValueError(f"dead_letter_payloads_days ({self.dead_letter_payloads_days or 'for ever'}) must not "
                             f"exceed dead_letters_days ({self.dead_letters_days}): a payload outlives only its row")
        for key in ("events_days", "contacts_days"):
            if longer(getattr(self, key), self.identity_links_days):
                raise ValueError(f"identity_links_days ({self.identity_links_days}) must be 0 or at least {key} "
                                 f"({getattr(self, key) or 'for ever'}): cx.events_resolved and cx.contacts map the "
                                 "customer ids they keep through the links")

    def event_time_keys(self) -> dict[str, int]:
        """The settings of tables whose rows are dated by event time, which ingest accepts up to max_age late."""
        return {k: getattr(self, k) for k in ("events_days", "contacts_days", "alerts_days", "work_items_days",
                                              "rollups_days")}


class DetectSettings(msgspec.Struct, forbid_unknown_fields=True):
    rules_file: str = ""                 # empty: config/rules.toml shipped with cxpulse
    # live: the watermark also follows the wall clock, so a customer waiting alone still gets an
    # alert on time; event: event time only (replays give the same alerts at any speed).
    clock: Literal["live", "event"] = "live"
    allowed_lateness_seconds: Seconds = 10.0  # events this late still count; alerts wait this long
    tick_seconds: Positive = 0.5              # how often idle partitions are checked
    forget_after_seconds: Positive = 8 * 24 * 3600.0  # per-customer state older than this is dropped
    cached_customers: Annotated[int, Meta(ge=0)] = 2_000  # states kept decoded between batches; 0: none
    batch_size: Count = 5000                 # see ingest.batch_size
    batch_seconds: Positive = 0.05
    # the outreach stage (work items routed by team, team capacity), which reads the same rules file
    outreach_batch_size: Count = 5000
    outreach_batch_seconds: Positive = 0.05


class WebhookSettings(msgspec.Struct, forbid_unknown_fields=True):
    urls: list[str] = msgspec.field(default_factory=list)  # every outreach alert change is POSTed to each
    # HMAC-SHA256 key for the X-Cxpulse-Signature header: from CXPULSE_WEBHOOK_SECRET or a file
    # (secret_file, e.g. a mounted secret), never from the config file.
    secret: str = ""
    secret_file: str = ""
    timeout_seconds: Positive = 5.0
    max_attempts: Count = 8             # then the alert goes to kafka.undelivered_topic
    retry_initial_seconds: Positive = 0.5
    retry_max_seconds: Positive = 60.0

    def key(self) -> bytes:
        return self.secret.encode()


class SinkSettings(msgspec.Struct, forbid_unknown_fields=True):
    batch_size: Count = 5000
    batch_seconds: Positive = 0.5          # cx.events: what the end-to-end latency waits for
    records_batch_seconds: Positive = 2.0  # identity links, alerts, work items, dispatch, dead letters
    retry_initial_seconds: Positive = 0.5
    retry_max_seconds: Positive = 30.0


class GatewaySource(msgspec.Struct, forbid_unknown_fields=True):
    """One credential of the HTTP gateway: a channel system, or a vendor's webhook signing secret."""

    # bearer: Authorization: Bearer <secret>; hmac: X-Cxpulse-Source/-Timestamp/-Signature (as our webhooks
    # sign); twilio, zendesk: the vendor's own webhook signature, on /v1/vendors/<vendor> only.
    auth: Literal["bearer", "hmac", "twilio", "zendesk"] = "bearer"
    # The secret comes from CXPULSE_SOURCE_<NAME>_SECRET (name upper-cased, - as _) or this file; never the config.
    secret_file: str = ""


class GatewaySettings(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8088
    metrics_port: Port = 9465
    # Requests from 127.0.0.1/::1 need no credentials (the demo); never behind a proxy on the same host.
    allow_anonymous_loopback: bool = False
    # The address vendors call, e.g. https://cx.example.com (Twilio signs the URL it called); empty: the request's.
    public_url: str = ""
    max_body_bytes: Count = 1_048_576
    max_batch_events: Count = 1000
    ack_timeout_seconds: Positive = 5.0    # longest a request waits for the broker's acknowledgement, then 503
    retry_after_seconds: Count = 5         # the Retry-After of a 503
    hmac_tolerance_seconds: Positive = 300.0
    sources: dict[str, GatewaySource] = msgspec.field(default_factory=dict)


class MetricsSettings(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 9464
    floor_kpis_seconds: Seconds = 0.0  # > 0: the worker exposes the live floor's headline KPIs (streams/warehouse/floor_kpis.py)


class PrivacySettings(msgspec.Struct, forbid_unknown_fields=True):
    """docs/pseudonymization.md: identifiers stored as keyed hashes, masks for people."""

    pseudonymize: bool = False
    # HMAC-SHA256 key of the pseudonyms: CXPULSE_PRIVACY_KEY or a file (key_file), never the config file.
    # Changing it gives every identifier a new pseudonym: existing customers are not found again.
    key: str = ""
    key_file: str = ""

    def __post_init__(self) -> None:
        if self.pseudonymize and len(self.key) < 16:
            raise ValueError("privacy.pseudonymize needs a key of at least 16 characters: set CXPULSE_PRIVACY_KEY "
                             "or CXPULSE_PRIVACY_KEY_FILE" + (" (the one given is too short)" if self.key else ""))


class SimulatorSettings(msgspec.Struct, forbid_unknown_fields=True):
    # Share of simulated customers calling from a switchboard number they share with others (an
    # office, a care home); the rest have a number of their own. `simulate`/`demo --shared-phone-fraction`.
    shared_phone_fraction: Annotated[float, Meta(ge=0, le=1)] = 0.03


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    data_dir: str = ".cxpulse"
    log_level: LogLevel = "info"
    # Logs never show customer identifiers (emails, phones, handles, kind:value ids) unless this is true.
    log_identifiers: bool = False
    kafka: KafkaSettings = msgspec.field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = msgspec.field(default_factory=ClickHouseSettings)
    ingest: IngestSettings = msgspec.field(default_factory=IngestSettings)
    identity: IdentitySettings = msgspec.field(default_factory=IdentitySettings)
    timeline: TimelineSettings = msgspec.field(default_factory=TimelineSettings)
    kpi: KpiSettings = msgspec.field(default_factory=KpiSettings)
    retention: RetentionSettings = msgspec.field(default_factory=RetentionSettings)
    detect: DetectSettings = msgspec.field(default_factory=DetectSettings)
    webhook: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    sink: SinkSettings = msgspec.field(default_factory=SinkSettings)
    gateway: GatewaySettings = msgspec.field(default_factory=GatewaySettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    simulator: SimulatorSettings = msgspec.field(default_factory=SimulatorSettings)
    privacy: PrivacySettings = msgspec.field(default_factory=PrivacySettings)

    def __post_init__(self) -> None:
        if self.log_identifiers and self.privacy.pseudonymize:
            raise ValueError("log_identifiers = true would log the raw identifiers privacy.pseudonymize keeps out "
                             "of every store: keep one")
        for key, days in self.retention.event_time_keys().items():
            if days and days * 86400 <= self.ingest.max_age_seconds:
                raise ValueError(f"retention.{key} ({days} days) must exceed ingest.max_age_seconds "
                                 f"({self.ingest.max_age_seconds:g} s): accepted events would be expired at once")

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap or "127.0.0.1:9092"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()


ENV_PREFIX = "CXPULSE_"
_SECTIONS = {name for name, value in msgspec.structs.asdict(Settings()).items() if isinstance(value, msgspec.Struct)}


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """Map CXPULSE_SECTION_KEY=value to {"section": {"key": value}} (lists are comma-separated).

    Sections may contain underscores (the longest matching section wins). A variable naming a
    known section but no key of it is a typo and an error; other CXPULSE_* variables belong to
    the scripts (CXPULSE_CACHE_DIR, CXPULSE_APACHE_KAFKA_VERSION) and are left alone.
    """
    defaults = msgspec.to_builtins(Settings())
    sections = sorted(_SECTIONS, key=len, reverse=True)
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "CXPULSE_CONFIG":
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is not None:
            key = rest[len(section) + 1:]
            if key not in defaults[section]:
                raise ConfigError(f"{name}: [{section}] has no key {key!r} "
                                  f"(known: {', '.join(sorted(defaults[section]))})")
            target, default = out.setdefault(section, {}), defaults[section][key]
        elif rest in defaults:
            target, key, default = out, rest, defaults[rest]
        else:
            continue
        target[key] = [v.strip() for v in raw.split(",") if v.strip()] if isinstance(default, list) else raw
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def config_path(explicit: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("CXPULSE_CONFIG"):
        return Path(environ["CXPULSE_CONFIG"])
    local = Path("cxpulse.toml")
    return local if local.exists() else None


def read_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file as a dict; ConfigError naming the file when it is missing or malformed."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


# (section, key) of every secret: set from CXPULSE_<SECTION>_<KEY> or read from the file named by
# <key>_file (CXPULSE_<SECTION>_<KEY>_FILE), never from the config file.
SECRETS = (("kafka", "sasl_password"), ("kafka", "ssl_key_password"), ("clickhouse", "password"),
           ("clickhouse", "boards_password"), ("webhook", "secret"), ("privacy", "key"))


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    """data[name] when it is a table (a malformed one is reported by the type check later)."""
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _refuse_secrets(data: dict[str, Any], file: Path) -> None:
    for section, key in SECRETS:
        if _section(data, section).get(key):
            env = f"CXPULSE_{section}_{key}".upper()
            raise ConfigError(f"{section}.{key} is a secret and must not be written in {file}: set {env}, or name "
                              f"a file holding it ({section}.{key}_file or {env}_FILE)")
    if urlsplit(str(_section(data, "clickhouse").get("url", ""))).password:
        raise ConfigError(f"clickhouse.url in {file} carries a password: set CXPULSE_CLICKHOUSE_PASSWORD or "
                          "CXPULSE_CLICKHOUSE_PASSWORD_FILE instead")


def _read_secret_files(data: dict[str, Any]) -> None:
    """Fill each secret from its <key>_file; both set is an error, so the source is never ambiguous."""
    for section, key in SECRETS:
        values = _section(data, section)
        path = values.get(f"{key}_file")
        if not path or not isinstance(path, str):  # a non-string is reported by the type check
            continue
        if values.get(key):
            raise ConfigError(f"{section}.{key} is set both directly and from {section}.{key}_file ({path}); "
                              "keep one")
        try:
            secret = Path(path).read_text().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{section}.{key}_file: cannot read {path}: {exc}") from exc
        if not secret:
            raise ConfigError(f"{section}.{key}_file: {path} is empty")
        data[section] = {**values, key: secret}


def load_settings(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then the file, then the environment, then secret files; ConfigError names the bad key."""
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    file = config_path(path, environ)
    if file is not None:
        data = read_toml(file)
        _refuse_secrets(data, file)
    data = _merge(data, _env_overrides(environ))
    _read_secret_files(data)
    try:
        return msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration ({file or 'environment'}): {exc}") from exc
