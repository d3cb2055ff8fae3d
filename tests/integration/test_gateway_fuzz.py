"""Fuzzed requests to the gateway (hypothesis: bodies, headers, content types, paths) never get a 5xx.

The application runs in this process on Starlette's test client, its producer connected to the real
broker of the suite, so a request that happens to be valid is published and answered 202 for real.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from streams.adapters import ADAPTERS
from streams.config import load_settings
from streams.gateway.app import build

pytestmark = [pytest.mark.integration,
              pytest.mark.same_on_any_broker(reason="requests refused or answered in-process; "
                                                    "a valid one is published like any other")]

TOKEN = "fuzz-token-5d0c-never-logged"

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=40)
content_types = st.sampled_from(["application/cloudevents+json", "application/cloudevents-batch+json",
                                 "application/json", "text/plain", "application/x-www-form-urlencoded", "",
                                 "application/cloudevents+json; charset=utf-8"]) | header_text
json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
                           max_leaves=20)


def valid_event() -> dict:
    return {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/fuzz", "type": "cx.contact.queued",
            "time": dt.datetime.now(dt.UTC).isoformat(), "data": {"channel": "voice", "contact_id": "c-1",
                                                                   "customer": {"phone": "+14155550123"}}}


def mutated_events():
    """Valid events with one field replaced by anything: the near misses real systems send."""
    def mutate(pair):
        (path, value) = pair
        event = valid_event()
        target = event
        for name in path[:-1]:
            target = target[name]
        target[path[-1]] = value
        return event
    paths = st.sampled_from([("id",), ("time",), ("type",), ("specversion",), ("data", "channel"), ("data",),
                             ("data", "customer"), ("data", "customer", "phone"), ("data", "customer", "email")])
    return st.tuples(paths, json_values).map(mutate)


bodies = st.one_of(st.binary(max_size=300), json_values.map(orjson.dumps), mutated_events().map(orjson.dumps),
                   st.lists(mutated_events(), max_size=4).map(orjson.dumps))
ce_headers = st.dictionaries(st.sampled_from(["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time",
                                              "ce-subject", "ce-x"]), header_text, max_size=6)
paths = st.sampled_from(["/v1/events"] + [f"/v1/vendors/{name}" for name in ADAPTERS] + ["/v1/vendors/x"])


@pytest.fixture(scope="module")
def client(kafka_bootstrap, tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        for name, secret in (("FUZZER", TOKEN), ("TWILIO", TOKEN + "-t"), ("ZENDESK", TOKEN + "-z")):
            env.setenv(f"CXPULSE_SOURCE_{name}_SECRET", secret)
        yield from _client(kafka_bootstrap, tmp_path_factory)


def _client(kafka_bootstrap, tmp_path_factory):
    config = tmp_path_factory.mktemp("fuzz") / "gateway.toml"
    config.write_text('[gateway.sources.fuzzer]\nauth = "bearer"\n[gateway.sources.twilio]\nauth = "twilio"\n'
                      '[gateway.sources.zendesk]\nauth = "zendesk"\n')
    settings_ = load_settings(config, environ={"CXPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
                                               "CXPULSE_KAFKA_INPUT_TOPICS": f"cx.fuzz.{uuid.uuid4().hex[:8]}"})
    with TestClient(build(settings_), raise_server_exceptions=True) as test_client:
        deadline = dt.datetime.now() + dt.timedelta(seconds=60)
        while test_client.get("/readyz").status_code != 200:
            assert dt.datetime.now() < deadline, "gateway producer not connected"
        yield test_client


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, body=bodies, content_type=content_types, extra=ce_headers, authorized=st.booleans())
def test_fuzzed_requests_never_get_a_5xx_and_never_log_a_token(client, caplog, path, body, content_type, extra,
                                                              authorized):
    headers = {**extra, "content-type": content_type}
    if authorized:
        headers["authorization"] = f"Bearer {TOKEN}"
    headers = {name: value.encode("latin-1") for name, value in headers.items()}  # any byte a client may send
    with caplog.at_level(logging.DEBUG):
        answer = client.post(path, content=body, headers=headers)
    assert answer.status_code < 500, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/json"
    assert TOKEN not in caplog.text


def test_a_valid_event_among_the_fuzz_is_accepted(client):
    """The fuzz above could pass by refusing everything: a valid event must still get its 202."""
    answer = client.post("/v1/events", content=orjson.dumps(valid_event()),
                         headers={"content-type": "application/cloudevents+json", "authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 202 and answer.json() == {"accepted": 1}
