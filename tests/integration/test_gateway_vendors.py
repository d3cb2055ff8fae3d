"""Vendors' own webhooks through the gateway into the warehouse: every fixture under tests/fixtures/vendors
(written from each vendor's published documentation, see tests/test_adapters.py) posted to
/v1/vendors/<vendor> with the vendor's signature or our bearer token, on a real broker and worker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import msgspec
import pytest

from streams.config import RetentionSettings
from tests.integration.pipeline import Pipeline

pytestmark = [pytest.mark.integration,
              pytest.mark.same_on_any_broker(reason="vendor payload mapping and signatures are the adapters'; "
                                                    "the broker only carries the result")]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendors"
TOKEN, TWILIO_TOKEN, ZENDESK_SECRET = "eventbridge-api-key-1", "twilio-auth-token-2", "zendesk-signing-secret-3"
UNMAPPED = {"amazon-connect": "contact_data_updated_chat.json", "genesys-cloud": "flow_start_voice.json",
            "twilio": "worker_activity_update.form", "zendesk": "priority_changed.json"}
TEN_YEARS = str(10 * 365 * 24 * 3600)  # the fixtures carry the documentation's own dates (2021-2025)


def twilio_signature(url: str, body: bytes, token: str) -> str:
    """Twilio's documented scheme: the URL, then each POST name and value sorted by name, HMAC-SHA1, base64."""
    signed = url + "".join(k + v for k, v in sorted(parse_qsl(body.decode(), keep_blank_values=True)))
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def zendesk_signature(stamp: str, body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()


def headers_for(vendor: str, url: str, body: bytes, *, wrong: bool = False) -> dict[str, str]:
    secret = lambda s: s + "x" if wrong else s  # noqa: E731
    if vendor == "twilio":
        return {"content-type": "application/x-www-form-urlencoded",
                "x-twilio-signature": twilio_signature(url, body, secret(TWILIO_TOKEN))}
    if vendor == "zendesk":
        stamp = "2025-03-10T10:00:00Z"
        return {"content-type": "application/json", "x-zendesk-webhook-signature-timestamp": stamp,
                "x-zendesk-webhook-signature": zendesk_signature(stamp, body, secret(ZENDESK_SECRET))}
    return {"content-type": "application/json", "authorization": f"Bearer {secret(TOKEN)}"}


def test_every_vendor_fixture_lands_in_the_warehouse_and_bad_signatures_publish_nothing(kafka_bootstrap, tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway.sources.eventbridge]\nauth = "bearer"\n[gateway.sources.twilio]\nauth = "twilio"\n'
                      '[gateway.sources.zendesk]\nauth = "zendesk"\n')
    pipeline = Pipeline(kafka_bootstrap, tmp_path)
    # the documentation's dates are older than the default age limit and retention: keep them
    pipeline.env |= {"CXPULSE_INGEST_MAX_AGE_SECONDS": TEN_YEARS,
                     **{f"CXPULSE_RETENTION_{key.upper()}": "0" for key in msgspec.structs.asdict(RetentionSettings())}}
    try:
        pipeline.start_worker()
        url = pipeline.start_gateway({"CXPULSE_CONFIG": str(config), "CXPULSE_SOURCE_EVENTBRIDGE_SECRET": TOKEN,
                                      "CXPULSE_SOURCE_TWILIO_SECRET": TWILIO_TOKEN,
                                      "CXPULSE_SOURCE_ZENDESK_SECRET": ZENDESK_SECRET})
        accepted: dict[str, int] = {}
        dead: dict[str, int] = {}
        with httpx.Client(timeout=30) as client:
            for folder in sorted(FIXTURES.iterdir()):
                vendor, target = folder.name, f"{url}/v1/vendors/{folder.name}"
                for fixture in sorted(folder.iterdir()):
                    body = fixture.read_bytes().strip() if fixture.suffix == ".form" else fixture.read_bytes()
                    refused = client.post(target, content=body, headers=headers_for(vendor, target, body, wrong=True))
                    assert refused.status_code == 401, (fixture.name, refused.text)
                    answer = client.post(target, content=body, headers=headers_for(vendor, target, body))
                    assert answer.status_code == 202, (fixture.name, answer.text)
                    accepted[vendor] = accepted.get(vendor, 0) + answer.json()["accepted"]
                    dead[vendor] = dead.get(vendor, 0) + answer.json().get("dead_lettered", 0)
        assert dead == {vendor: 1 for vendor in UNMAPPED}
        pipeline.wait_stored(events=sum(accepted.values()), dead_letters=len(UNMAPPED))
        pipeline.wait_drained()
        assert pipeline.stop_worker() == 0
        stored = {r["vendor"]: r["n"] for r in pipeline.query(
            "SELECT splitByChar('/', source)[1] AS vendor, count() AS n FROM cx.events FINAL GROUP BY vendor")}
        print("vendor fixtures through the gateway: " + ", ".join(
            f"{v} {accepted[v]} events accepted, {stored.get(v, 0)} stored, {dead[v]} unmapped dead-lettered"
            for v in sorted(accepted)) + "; every wrong signature or token: 401")
        assert stored == accepted, "an accepted vendor event not stored, or a refused one stored"
        letters = pipeline.query("SELECT reason, stage, source, detail FROM cx.dead_letters FINAL ORDER BY source")
        assert [(r["reason"], r["stage"], r["source"]) for r in letters] == [
            ("unmapped", "gateway", vendor) for vendor in sorted(UNMAPPED)]
        assert all(r["detail"].startswith(r["source"] + ":") for r in letters)
        # each vendor's contact is one customer's timeline, found by the identifier the vendor sent
        for vendor in accepted:
            key = pipeline.scalar(f"SELECT customer_key FROM cx.events FINAL WHERE startsWith(source, '{vendor}/') "
                                  "AND customer_key != '' ORDER BY event_time LIMIT 1")
            shown = pipeline.cli("timeline", key, "--format", "json").stdout
            sources = {json.loads(line)["source"].split("/")[0] for line in shown.splitlines() if line}
            assert vendor in sources, (vendor, key, shown[:500])
    finally:
        pipeline.close()
