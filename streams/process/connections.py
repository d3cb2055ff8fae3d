"""How every client connects: Kafka (Faust over aiokafka, kafka-python) and ClickHouse (clickhouse-driver).

One place turns the [kafka] and [clickhouse] settings into client options, so SASL/SCRAM, TLS and
passwords reach every client the same way: the worker's Faust app (its aiokafka consumer, producer
and admin), the kafka-python admin, producers and consumers (topic creation, simulator, replay,
DLQ replay, lag probe, alert outbox, `cxpulse alerts`) and the warehouse's server backend. All
Kafka clients share one TLS context built from the same files.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

from streams.config import ClickHouseSettings, KafkaSettings, Settings


@functools.lru_cache(maxsize=8)
def _tls_context(cafile: str, certfile: str, keyfile: str, key_password: str, check_hostname: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile or None)  # verifies the broker's certificate chain
    context.check_hostname = check_hostname
    if certfile:
        context.load_cert_chain(certfile, keyfile or None, key_password or None)
    return context


def kafka_tls_context(k: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (None otherwise); cached, since lag probes ask every few seconds."""
    if not k.security_protocol.endswith("SSL"):
        return None
    return _tls_context(k.ssl_cafile, k.ssl_certfile, k.ssl_keyfile, k.ssl_key_password, k.ssl_check_hostname)


def kafka_security_config(settings: Settings) -> dict[str, Any]:
    """kafka-python options for the security protocol, SASL and TLS (no bootstrap servers)."""
    k = settings.kafka
    config: dict[str, Any] = {"security_protocol": k.security_protocol}
    if k.sasl_mechanism:
        config |= {"sasl_mechanism": k.sasl_mechanism, "sasl_plain_username": k.sasl_username,
                   "sasl_plain_password": k.sasl_password}
    context = kafka_tls_context(k)
    if context is not None:
        config["ssl_context"] = context
    return config


def kafka_client_config(settings: Settings) -> dict[str, Any]:
    """kafka-python connection options: bootstrap servers plus kafka_security_config."""
    return {"bootstrap_servers": settings.bootstrap.split(","), **kafka_security_config(settings)}


def faust_credentials(settings: Settings):
    """Faust's broker_credentials (it hands them to every aiokafka client it makes); None for PLAINTEXT."""
    import faust

    k = settings.kafka
    context = kafka_tls_context(k)
    if k.sasl_mechanism:
        # SASL_SSL when a context is given, SASL_PLAINTEXT otherwise (faust.auth.SASLCredentials)
        return faust.SASLCredentials(username=k.sasl_username, password=k.sasl_password,
                                     mechanism=k.sasl_mechanism, ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def clickhouse_client(c: ClickHouseSettings):
    """A clickhouse-driver Client for clickhouse.url with the password and TLS settings applied."""
    from clickhouse_driver import Client
    from clickhouse_driver.util.helpers import parse_url

    host, options = parse_url(c.url)
    if c.password:
        options["password"] = c.password
    if c.tls:
        options |= {"secure": True, "verify": c.verify}
        if c.ca_certs:
            options["ca_certs"] = c.ca_certs
    return Client(host, **options)
