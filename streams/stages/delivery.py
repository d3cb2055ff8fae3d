"""Webhook delivery: every outreach alert change POSTed to the configured URLs.

Signed like Stripe's webhooks: `X-Cxpulse-Signature: sha256=HMAC(secret, timestamp + "." + body)`
with `X-Cxpulse-Timestamp`, so a receiver can check origin and freshness (`verify`).
`X-Cxpulse-Delivery` (alert id, version) lets it drop a redelivery after a crash. Deliveries
read cx.alerts through a batch source of their own (group `<app_id>-webhooks`), so a slow or dead
receiver delays only deliveries, never detection or storage. Failures are retried with exponential
backoff; after `max_attempts` the alert goes to the undelivered topic with the last error, and is
stored in cx.dead_letters. Alerts of do-not-contact customers are never delivered (they are still
on cx.alerts and counted).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

import orjson

from streams.domain.records import RawMessage
from streams.domain.rejections import Reason, Rejected
from streams.process import metrics
from streams.runtime.batch_source import BatchSource

log = logging.getLogger(__name__)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, tolerance: float = 300.0,
           now: float | None = None) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        fresh = abs((now or time.time()) - float(timestamp)) <= tolerance
    except ValueError:
        return False
    # as bytes: compare_digest refuses a str with non-ASCII characters, and a forged header may have them
    return fresh and hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())


async def post(session, url: str, body: bytes, secret: bytes, delivery: str, timeout: float) -> str | None:
    """One attempt; None on a 2xx, else what went wrong."""
    import aiohttp

    stamp = f"{time.time():.0f}"
    headers = {"Content-Type": "application/json", "User-Agent": "cxpulse-webhook/1",
               "X-Cxpulse-Delivery": delivery, "X-Cxpulse-Timestamp": stamp}
    if secret:
        headers["X-Cxpulse-Signature"] = sign(secret, stamp, body)
    try:
        async with session.post(url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if 200 <= resp.status < 300:
                return None
            return f"HTTP {resp.status}"
    except TimeoutError:
        return f"timed out after {timeout:.0f}s"
    except aiohttp.ClientError as exc:
        return f"{type(exc).__name__}: {exc}"


def register(app, settings, topics) -> BatchSource | None:
    w = settings.webhook
    if not w.urls:
        return None
    secret = w.key()
    if not secret:
        log.warning("webhook.urls set without a secret: deliveries are not signed (set CXPULSE_WEBHOOK_SECRET)")
    k = settings.kafka

    # one alert may retry for minutes between two polls
    patience = max(300.0, w.max_attempts * (w.timeout_seconds + w.retry_max_seconds))
    source = BatchSource(app, settings, "webhooks", [k.alerts_topic], 100, 0.5, max_poll_interval=patience)

    @app.task
    async def deliver_webhooks() -> None:
        """Deliver each batch of alert changes, then commit it: only what was delivered or dead-lettered."""
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async def handle(batch) -> None:
                for messages in batch.values():
                    for m in messages:
                        alert = orjson.loads(m.value)
                        if not alert["outreach"]:
                            metrics.WEBHOOK.labels(result="skipped_do_not_contact").inc()
                            continue
                        for url in w.urls:
                            await _deliver(session, url, m, alert, secret)

            await source.run(handle)

    async def _deliver(session, url: str, m, alert: dict, secret: bytes) -> None:
        delivery = f"{alert['alert_id']}:{alert['version']}"
        delay, error = w.retry_initial_seconds, ""
        for attempt in range(1, w.max_attempts + 1):
            error = await post(session, url, m.value, secret, delivery, w.timeout_seconds)
            if error is None:
                metrics.WEBHOOK.labels(result="delivered").inc()
                return
            metrics.WEBHOOK.labels(result="retried" if attempt < w.max_attempts else "failed").inc()
            log.warning("webhook %s refused %s (attempt %d/%d): %s", url, delivery, attempt, w.max_attempts, error)
            if attempt < w.max_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, w.retry_max_seconds)
        raw = RawMessage(key=m.key, value=m.value, headers=list(m.headers or []), timestamp=m.timestamp / 1000)
        await topics.dead_letter(raw, Rejected(Reason.WEBHOOK_FAILED, f"{url}: {error} after {w.max_attempts} attempts"),
                                 stage="webhook", origin=f"{m.topic}:{m.partition}:{m.offset}",
                                 event_id=alert["alert_id"], to=topics.undelivered)

    return source
