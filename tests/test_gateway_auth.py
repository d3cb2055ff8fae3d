"""Who the gateway lets in: configured sources only, secrets from the environment, never from the file."""

from __future__ import annotations

import time

import pytest

from streams.config import ConfigError, GatewaySettings, GatewaySource
from streams.gateway.auth import (
    Authenticator,
    Credential,
    Unauthorized,
    load_credentials,
    secret_variable,
)
from streams.stages.delivery import sign

CREDENTIALS = [Credential("acme-chat", "bearer", b"tok-a"), Credential("crm", "bearer", b"tok-b"),
               Credential("ivr", "hmac", b"key-i"), Credential("twilio", "twilio", b"auth-token")]


def authenticator(loopback: bool = False) -> Authenticator:
    return Authenticator(CREDENTIALS, allow_anonymous_loopback=loopback, tolerance=300)


def test_a_bearer_token_names_its_source():
    auth = authenticator()
    assert auth.source({"authorization": "Bearer tok-b"}, b"", "10.0.0.1") == "crm"
    assert auth.source({"authorization": "bearer tok-a"}, b"", "10.0.0.1") == "acme-chat"


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing_credentials"), ({"authorization": "Bearer tok-c"}, "bad_token"),
    ({"authorization": "Basic dG9rLWE="}, "bad_token"), ({"authorization": "Bearer"}, "bad_token"),
    ({"authorization": "Bearer auth-token"}, "bad_token"),  # a vendor's secret is no bearer token
    ({"authorization": "Bearer t\u00f6k"}, "bad_token"),
    ({"x-cxpulse-signature": "sha256=00", "x-cxpulse-source": "acme-chat"}, "unknown_source")])
def test_anything_else_is_refused_with_its_reason(headers, reason):
    with pytest.raises(Unauthorized) as refused:
        authenticator().source(headers, b"{}", "10.0.0.1")
    assert refused.value.reason == reason


def test_an_hmac_signature_over_the_body_and_a_fresh_timestamp():
    auth, body, stamp = authenticator(), b'{"id": 1}', str(int(time.time()))
    signed = {"x-cxpulse-source": "ivr", "x-cxpulse-timestamp": stamp, "x-cxpulse-signature": sign(b"key-i", stamp, body)}
    assert auth.source(signed, body, "10.0.0.1") == "ivr"
    for changed in ({**signed, "x-cxpulse-timestamp": str(int(stamp) - 301)}, {**signed, "x-cxpulse-signature": "sha256=\u00e9"}):
        with pytest.raises(Unauthorized, match="does not match"):
            auth.source(changed, body, "10.0.0.1")
    with pytest.raises(Unauthorized):
        auth.source(signed, body + b" ", "10.0.0.1")


def test_anonymous_only_from_loopback_and_only_when_configured():
    assert authenticator(loopback=True).source({}, b"", "127.0.0.1") == "anonymous"
    assert authenticator(loopback=True).source({}, b"", "::1") == "anonymous"
    for auth, client in ((authenticator(loopback=True), "10.0.0.1"), (authenticator(), "127.0.0.1")):
        with pytest.raises(Unauthorized):
            auth.source({}, b"", client)


def test_secrets_come_from_the_environment_or_a_file_and_a_missing_one_names_where(tmp_path):
    settings = GatewaySettings(sources={"acme-chat": GatewaySource(auth="bearer"),
                                        "zen": GatewaySource(auth="zendesk", secret_file=str(tmp_path / "zen"))})
    (tmp_path / "zen").write_text("from-file\n")
    loaded = load_credentials(settings, {secret_variable("acme-chat"): "from-env"})
    assert [(c.name, c.auth, c.secret) for c in loaded] == [("acme-chat", "bearer", b"from-env"),
                                                             ("zen", "zendesk", b"from-file")]
    assert "from-env" not in repr(loaded)
    with pytest.raises(ConfigError, match="CXPULSE_SOURCE_ACME_CHAT_SECRET"):
        load_credentials(settings, {})
