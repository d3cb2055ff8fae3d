"""The HTTP gateway against a real broker and a real worker: what a channel system posting over HTTPS sees.

The events are made and encoded by the official CloudEvents SDK (`cloudevents` 2.2, its HTTP binding for
binary and structured mode; it has no batch encoder, so a batch is a JSON array of the SDK's own JSON
format, as the HTTP binding spec's batched mode defines it).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from streams.stages.delivery import sign
from tests.integration.pipeline import Pipeline, wait_until
from tests.integration.test_outages import own_broker  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

TOKEN = "tok-3f9a1c2e-never-in-a-log"
HMAC_SECRET = "hmac-secret-77b1"
BATCH = "application/cloudevents-batch+json"


def gateway_config(path: Path, **gateway) -> dict[str, str]:
    """A config file with a bearer and an hmac source; the env naming it and holding their secrets."""
    extra = "".join(f"{k} = {orjson.dumps(v).decode()}\n" for k, v in gateway.items())
    path.write_text(f"[gateway]\n{extra}\n[gateway.sources.acme-chat]\nauth = \"bearer\"\n\n"
                    "[gateway.sources.ivr]\nauth = \"hmac\"\n")
    return {"CXPULSE_CONFIG": str(path), "CXPULSE_SOURCE_ACME_CHAT_SECRET": TOKEN,
            "CXPULSE_SOURCE_IVR_SECRET": HMAC_SECRET, "CXPULSE_LOG_LEVEL": "debug"}


def sdk_event(i: int, *, source: str = "/acme/chat") -> CloudEvent:
    return CloudEvent(attributes={
        "id": f"gw-{i}", "source": source, "type": "cx.contact.message", "datacontenttype": "application/json",
        "time": dt.datetime.now(dt.UTC)}, data={
        "channel": "chat", "customer": {"email": f"gw{i % 7}@example.com"}, "contact_id": f"chat-{i // 3}",
        "queue": "billing", "attributes": {"author": "customer"}})


def bearer(headers: dict[str, str] | None = None) -> dict[str, str]:
    return {**(headers or {}), "Authorization": f"Bearer {TOKEN}"}


@pytest.mark.same_on_any_broker(reason="the gateway's HTTP bindings; "
                                       "the broker outage test covers its producer on both brokers")
def test_the_cloudevents_sdk_posts_structured_binary_and_batched_events_each_stored_once(pipeline, tmp_path):
    pipeline.start_worker()
    url = pipeline.start_gateway(gateway_config(tmp_path / "gateway.toml"))
    fmt = JSONFormat()
    answers = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(10):
            message = ce_http.to_structured(sdk_event(i), fmt)
            answers.append(client.post("/v1/events", content=message.body, headers=bearer(message.headers)))
        for i in range(10, 20):
            message = ce_http.to_binary(sdk_event(i), fmt)
            answers.append(client.post("/v1/events", content=message.body, headers=bearer(message.headers)))
        for first in (20, 25):
            batch = b"[" + b",".join(fmt.write(sdk_event(i)) for i in range(first, first + 5)) + b"]"
            answers.append(client.post("/v1/events", content=batch, headers=bearer({"Content-Type": BATCH})))
        again = ce_http.to_structured(sdk_event(3), fmt)  # the channel system retries one it already sent
        answers.append(client.post("/v1/events", content=again.body, headers=bearer(again.headers)))
    assert [a.status_code for a in answers] == [202] * len(answers), [a.text for a in answers if a.status_code != 202]
    assert sum(a.json()["accepted"] for a in answers) == 31
    pipeline.wait_stored(events=30, dead_letters=1)
    pipeline.wait_drained()
    assert pipeline.stop_worker() == 0
    stored = pipeline.query("SELECT event_id, mode FROM cx.events FINAL WHERE source = '/acme/chat'")
    assert sorted(int(r["event_id"][3:]) for r in stored) == list(range(30))
    assert pipeline.scalar("SELECT count() FROM cx.events") == 30, "a row stored twice"
    modes = {r["event_id"]: r["mode"] for r in stored}
    assert modes["gw-1"] == "structured" and modes["gw-11"] == "binary" and modes["gw-21"] == "structured"
    dead = pipeline.query("SELECT reason, event_id FROM cx.dead_letters FINAL")
    assert dead == [{"reason": "duplicate", "event_id": "gw-3"}]
    print(f"gateway: 31 posts answered 202 (10 structured, 10 binary, 2 batches of 5, 1 repeat); "
          f"{len(stored)} events stored once, the repeat dead-lettered as {dead[0]['reason']}")


@pytest.mark.same_on_any_broker(reason='answered before anything is published')
def test_credentials_limits_and_reasons_are_answered_before_anything_is_published(kafka_bootstrap, tmp_path):
    pipeline = Pipeline(kafka_bootstrap, tmp_path)
    try:
        url = pipeline.start_gateway(gateway_config(tmp_path / "gateway.toml", max_body_bytes=4096,
                                                    max_batch_events=3))
        fmt = JSONFormat()
        good = ce_http.to_structured(sdk_event(1), fmt)
        with httpx.Client(base_url=url, timeout=30) as client:
            def post(body=good.body, headers=None, path="/v1/events"):
                merged = {k.lower(): v for k, v in {**good.headers, **(headers or {})}.items()}
                answer = client.post(path, content=body, headers=merged)
                return answer.status_code, answer.json().get("error")

            stamp = str(int(time.time()))
            signed = {"X-Cxpulse-Source": "ivr", "X-Cxpulse-Timestamp": stamp,
                      "X-Cxpulse-Signature": sign(HMAC_SECRET.encode(), stamp, good.body)}
            cases = {
                "no credentials (loopback not allowed)": (post(), (401, "missing_credentials")),
                "wrong bearer token": (post(headers={"Authorization": "Bearer nope"}), (401, "bad_token")),
                "basic instead of bearer": (post(headers={"Authorization": "Basic Zm9vOmJhcg=="}), (401, "bad_token")),
                "hmac signed": (post(headers=signed), (202, None)),
                "hmac over another body": (post(body=good.body + b" ", headers=signed), (401, "bad_signature")),
                "hmac from an unknown source": (post(headers={**signed, "X-Cxpulse-Source": "x"}), (401, "unknown_source")),
                "bearer": (post(headers=bearer()), (202, None)),
                "not JSON": (post(body=b"{", headers=bearer()), (400, "invalid_json")),
                "no type": (post(body=orjson.dumps({k: v for k, v in orjson.loads(good.body).items() if k != "type"}),
                                 headers=bearer()), (400, "missing_field")),
                "plain JSON": (post(headers=bearer({"Content-Type": "application/json"})), (415, "unsupported_media_type")),
                "body over the limit": (post(body=b"[" + b" " * 5000 + b"]", headers=bearer({"Content-Type": BATCH})),
                                        (413, "too_large")),
                "batch over the limit": (post(body=b"[" + b",".join([good.body] * 4) + b"]",
                                              headers=bearer({"Content-Type": BATCH})), (413, "too_large")),
                "unknown vendor": (post(path="/v1/vendors/nope", headers=bearer()), (404, "unknown_vendor")),
            }
            refused_batch = client.post("/v1/events", headers=bearer({"Content-Type": BATCH}),
                                        content=b"[" + good.body + b", {\"specversion\": \"1.0\"}]").json()
        for name, (got, wanted) in cases.items():
            assert got == wanted, name
        assert refused_batch["error"] == "missing_field" and refused_batch["index"] == 1
        metrics = httpx.get(f"http://127.0.0.1:{pipeline.gateway_env['CXPULSE_GATEWAY_METRICS_PORT']}/metrics").text
        assert 'cxpulse_gateway_events_total{route="events",source="acme-chat"} 1.0' in metrics
        assert 'cxpulse_gateway_events_total{route="events",source="ivr"} 1.0' in metrics
        assert 'cxpulse_gateway_refusals_total{reason="bad_token",source="unauthenticated"} 2.0' in metrics
        pipeline.gateway.terminate()
        pipeline.gateway.wait(30)
        log = pipeline.gateway_log.read_text()
        assert TOKEN not in log and HMAC_SECRET not in log
        stored = pipeline.producer  # the two 202s are on the input topic, nothing else
        from kafka import KafkaConsumer
        consumer = KafkaConsumer(pipeline.input_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                                 consumer_timeout_ms=5000, enable_auto_commit=False)
        published = [m for m in consumer]
        consumer.close()
        assert len(published) == 2 and stored is not None
        assert {dict(m.headers)["cxpulse-gateway-source"] for m in published} == {b"acme-chat", b"ivr"}
    finally:
        pipeline.close()


def test_a_broker_outage_answers_503_within_the_bound_and_loses_no_acknowledged_event(own_broker, tmp_path):  # noqa: F811
    """Four channel systems post single events through a 20 s broker outage, retrying each 503 as Retry-After
    tells them; every event answered 202 is stored once and every refusal came within the bound."""
    bound = 2.0
    pipeline = Pipeline(own_broker.bootstrap, tmp_path)
    try:
        pipeline.start_worker()
        url = pipeline.start_gateway(gateway_config(tmp_path / "gateway.toml", ack_timeout_seconds=bound,
                                                    retry_after_seconds=1))
        stop = threading.Event()
        acknowledged: list[str] = []
        refusals: list[float] = []
        fmt = JSONFormat()

        def channel_system(n: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                i = 0
                while not stop.is_set():
                    message = ce_http.to_structured(sdk_event(n * 1_000_000 + i, source=f"/acme/chat/{n}"), fmt)
                    while True:
                        started = time.monotonic()
                        answer = client.post("/v1/events", content=message.body, headers=bearer(message.headers))
                        if answer.status_code == 202:
                            acknowledged.append(f"/acme/chat/{n}|gw-{n * 1_000_000 + i}")
                            break
                        assert answer.status_code == 503, answer.text
                        assert answer.headers["retry-after"] == "1"
                        refusals.append(time.monotonic() - started)
                        time.sleep(1)
                    i += 1
                    time.sleep(0.01)

        posters = [threading.Thread(target=channel_system, args=(n,)) for n in range(4)]
        for poster in posters:
            poster.start()
        wait_until(lambda: len(acknowledged) >= 200, 60, "200 events acknowledged before the outage")
        own_broker.outage(20)
        wait_until(lambda: len(refusals) >= 4, 1, "503s during the outage", interval=0.1)
        time.sleep(10)  # traffic after the broker is back
        stop.set()
        for poster in posters:
            poster.join(60)
        pipeline.wait_drained(timeout=300)
        assert pipeline.stop_worker() == 0
        stored = pipeline.query("SELECT source, event_id FROM cx.events FINAL")
        keys = {f"{r['source']}|{r['event_id']}" for r in stored}
        print(f"gateway through a broker outage ({own_broker.name}, 20 s): {len(acknowledged):,} events answered 202, "
              f"{len(keys):,} stored, {len(refusals)} answers 503 (slowest {max(refusals):.2f} s, bound {bound:g} s)")
        assert len(acknowledged) == len(set(acknowledged))
        assert keys == set(acknowledged), f"{len(set(acknowledged) - keys)} acknowledged events lost"
        assert pipeline.scalar("SELECT count() FROM cx.events") == len(keys), "a row stored twice"
        assert max(refusals) < bound + 1.0, "a 503 came later than the bound"
    finally:
        pipeline.close()
