"""The gateway's routes: CloudEvents on /v1/events, vendors' webhooks on /v1/vendors/<vendor>.

Every request is authenticated, bounded (body size, events per batch), validated with the same
code and the same reasons as the ingest stage, and answered 202 only after the broker acknowledged
every message it carried. Refusals answer 4xx with {"error": <reason>, "detail", "path", "index"}.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime

import orjson
from prometheus_client import Gauge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streams import adapters
from streams.config import Settings
from streams.domain.deadletter import dead_letter_headers
from streams.domain.records import RawMessage
from streams.domain.rejections import Reason, Rejected
from streams.gateway.auth import Authenticator, Unauthorized, load_credentials
from streams.gateway.http_binding import KafkaMessage, UnsupportedMediaType, to_kafka
from streams.gateway.publisher import Publisher, Unavailable
from streams.process import metrics
from streams.stages import ingest

log = logging.getLogger(__name__)
# Here, not in streams.process.metrics: a label-less gauge is exported by every process that defines it, and a
# worker exporting "gateway ready 0" looked like a gateway down.
READY = Gauge("cxpulse_gateway_ready", "1 while the gateway's producer is connected to the broker")
UNKNOWN = "unauthenticated"  # the source label of requests refused before they were authenticated


class Refused(Exception):
    """An answer other than 202: status, a bounded reason (the metric label), a sentence, where."""

    def __init__(self, status: int, reason: str, detail: str, path: str = "", index: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.path, self.index = status, reason, detail, path, index
        self.headers = headers or {}

    @classmethod
    def of(cls, rejected: Rejected, index: int | None = None) -> Refused:
        return cls(413 if rejected.reason == Reason.TOO_LARGE else 400, str(rejected.reason), rejected.detail,
                   rejected.path, index)


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = Refused(413, str(Reason.TOO_LARGE), f"request body exceeds the limit of {limit} bytes")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


class Gateway:
    def __init__(self, settings: Settings, publisher: Publisher, authenticator: Authenticator) -> None:
        self.settings, self.publisher, self.auth = settings, publisher, authenticator
        self.input_topic = settings.kafka.input_topics[0]
        self.limits = settings.gateway

    def _check(self, messages: list[KafkaMessage], source: str) -> list[tuple[str, bytes | None, bytes, list]]:
        """Validate every message as ingest will; the batch is refused whole at its first bad event."""
        received_at = time.time()
        now = datetime.fromtimestamp(received_at, UTC)
        out = []
        for index, message in enumerate(messages):
            try:
                event = ingest.parse(message.value, message.headers, origin="gateway", received_at=received_at,
                                     settings=self.settings.ingest, now=now)
            except Rejected as rejected:
                raise Refused.of(rejected, index if len(messages) > 1 else None) from None
            key = event.contact_id or event.customer_key
            headers = [*message.headers, ("cxpulse-gateway-source", source.encode())]
            out.append((self.input_topic, key.encode() if key else None, message.value, headers))
        return out

    async def _publish(self, records) -> int:
        try:
            return await self.publisher.publish(records)
        except Unavailable as exc:
            raise Refused(503, "unavailable", str(exc),
                          headers={"Retry-After": str(self.limits.retry_after_seconds)}) from None

    async def events(self, request: Request, state: dict) -> dict:
        body = await _body(request, self.limits.max_body_bytes)
        state["bytes"] = len(body)
        state["source"] = self.auth.source(request.headers, body, request.client.host if request.client else None)
        try:
            messages = to_kafka(request.headers, body, max_batch_events=self.limits.max_batch_events)
        except Rejected as rejected:
            raise Refused.of(rejected) from None
        except UnsupportedMediaType as exc:
            raise Refused(415, "unsupported_media_type", str(exc)) from None
        state["events"] = await self._publish(self._check(messages, state["source"]))
        return {"accepted": state["events"]}

    def _vendor_url(self, request: Request) -> str:
        if not self.limits.public_url:
            return str(request.url)
        query = f"?{request.url.query}" if request.url.query else ""
        return self.limits.public_url.rstrip("/") + request.url.path + query

    async def vendor(self, request: Request, state: dict) -> dict:
        name = request.path_params["vendor"]
        adapter = adapters.ADAPTERS.get(name)
        if adapter is None:
            raise Refused(404, "unknown_vendor", f"no adapter for {name!r}; known: {', '.join(sorted(adapters.ADAPTERS))}")
        body = await _body(request, self.limits.max_body_bytes)
        state["bytes"] = len(body)
        vendor_request = adapters.VendorRequest(url=self._vendor_url(request), headers=request.headers, body=body)
        client = request.client.host if request.client else None
        state["source"] = self._vendor_source(adapter, vendor_request, body, client)
        try:
            events = adapter.to_events(vendor_request)
        except adapters.Unmapped as unmapped:
            await self._dead_letter(name, vendor_request, unmapped)
            return {"accepted": 0, "dead_lettered": 1, "reason": str(Reason.UNMAPPED), "detail": str(unmapped)}
        except Rejected as rejected:
            raise Refused.of(rejected) from None
        # Mapped events go to the input topic as they are: ingest dead-letters any that break the contract,
        # so a vendor never retries forever over one odd payload.
        records = []
        for event in events:
            key = event["data"].get("contact_id")
            headers = [("cxpulse-gateway-source", state["source"].encode())]
            records.append((self.input_topic, key.encode() if key else None, orjson.dumps(event), headers))
        state["events"] = await self._publish(records)
        return {"accepted": state["events"]}

    def _vendor_source(self, adapter, vendor_request, body: bytes, client: str | None) -> str:
        if not adapter.signed:
            return self.auth.source(vendor_request.headers, body, client)
        secret = self.auth.vendor_secret(adapter.name)
        if secret is None:
            if self.auth.anonymous_allowed(client):
                return adapter.name
            raise Unauthorized("missing_credentials", f"no gateway source with auth = {adapter.name!r} is configured")
        try:
            adapter.verify(vendor_request, secret.decode())
        except adapters.BadSignature as exc:
            raise Unauthorized("bad_signature", f"{adapter.name} signature check failed: {exc}") from None
        return adapter.name

    async def _dead_letter(self, vendor: str, request, unmapped) -> None:
        raw = RawMessage(key=None, value=request.body, timestamp=time.time(),
                         headers=[("content-type", request.headers.get("content-type", "").encode()),
                                  ("cxpulse-vendor", vendor.encode())])
        rejected = Rejected(Reason.UNMAPPED, f"{vendor}: {unmapped}")
        headers = dead_letter_headers(raw, rejected, stage="gateway", origin=f"gateway:{vendor}", source=vendor)
        await self._publish([(self.settings.kafka.dlq_topic, None, raw.value, headers)])
        metrics.DEAD_LETTERS.labels(stage="gateway", reason=str(Reason.UNMAPPED)).inc()

    def route(self, handler, name: str):
        """Wrap a handler: measure it, turn refusals into their answers, count everything by source."""
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            label = name if name == "events" else request.path_params.get("vendor", name)
            state = {"source": UNKNOWN, "bytes": 0, "events": 0}
            try:
                response = _json(202, await handler(request, state))
            except Unauthorized as exc:
                metrics.GATEWAY_REFUSALS.labels(state["source"], exc.reason).inc()
                response = _json(401, {"error": exc.reason, "detail": exc.detail},
                                 {"WWW-Authenticate": 'Bearer realm="cxpulse"'})
            except Refused as exc:
                metrics.GATEWAY_REFUSALS.labels(state["source"], exc.reason).inc()
                body = {"error": exc.reason, "detail": exc.detail, "path": exc.path}
                if exc.index is not None:
                    body["index"] = exc.index
                response = _json(exc.status, body, exc.headers)
            source = state["source"]
            metrics.GATEWAY_REQUESTS.labels(source, label, str(response.status_code)).inc()
            metrics.GATEWAY_BYTES.labels(source, label).inc(state["bytes"])
            if state["events"]:
                metrics.GATEWAY_EVENTS.labels(source, label).inc(state["events"])
            metrics.GATEWAY_SECONDS.labels(source, label).observe(time.perf_counter() - started)
            return response
        return endpoint


def build(settings: Settings) -> Starlette:
    """The ASGI application; its lifespan connects the producer (in the background) and closes it."""
    publisher = Publisher(settings)
    authenticator = Authenticator(load_credentials(settings.gateway),
                                  allow_anonymous_loopback=settings.gateway.allow_anonymous_loopback,
                                  tolerance=settings.gateway.hmac_tolerance_seconds)
    gateway = Gateway(settings, publisher, authenticator)
    READY.set_function(lambda: float(publisher.ready))

    async def healthz(request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(request: Request) -> Response:
        if publisher.ready:
            return _json(200, {"status": "ready"})
        return _json(503, {"status": "connecting", "detail": f"no connection to {settings.bootstrap} yet"},
                     {"Retry-After": str(settings.gateway.retry_after_seconds)})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await publisher.start()
        try:
            yield
        finally:
            await publisher.stop()

    return Starlette(routes=[
        Route("/v1/events", gateway.route(gateway.events, "events"), methods=["POST"]),
        Route("/v1/vendors/{vendor}", gateway.route(gateway.vendor, "vendor"), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ], lifespan=lifespan)


def serve(settings: Settings) -> None:
    """Run the gateway until SIGTERM/SIGINT (uvicorn finishes requests in flight, then the producer flushes)."""
    import uvicorn

    metrics.serve(settings.metrics.host, settings.gateway.metrics_port)
    config = uvicorn.Config(build(settings), host=settings.gateway.host, port=settings.gateway.port,
                            log_level=settings.log_level, access_log=False, server_header=False,
                            loop="uvloop", http="httptools", lifespan="on")
    log.info("gateway on http://%s:%d (metrics on :%d)", settings.gateway.host, settings.gateway.port,
             settings.gateway.metrics_port)
    uvicorn.Server(config).run()
