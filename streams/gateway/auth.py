"""Who sent a request: the gateway's configured sources, checked in constant time.

A channel system authenticates with a bearer token or an HMAC signature made the way cxpulse
signs its own webhooks (`streams.stages.delivery.sign`: X-Cxpulse-Source, X-Cxpulse-Timestamp,
X-Cxpulse-Signature). Vendors that sign their webhooks (Twilio, Zendesk) are checked by their
adapter with the secret of the source whose `auth` names them. Secrets come from the environment
(CXPULSE_SOURCE_<NAME>_SECRET) or a file, never from the config file, and are never logged.
"""

from __future__ import annotations

import hmac
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from streams.config import ConfigError, GatewaySettings
from streams.stages import delivery

LOOPBACK = frozenset({"127.0.0.1", "::1"})
ANONYMOUS = "anonymous"


class Unauthorized(Exception):
    """HTTP 401: `reason` is a bounded label (missing_credentials, bad_token, bad_signature, unknown_source)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Credential:
    name: str
    auth: str
    secret: bytes = field(repr=False)


def secret_variable(name: str) -> str:
    return f"CXPULSE_SOURCE_{name.upper().replace('-', '_').replace('.', '_')}_SECRET"


def load_credentials(settings: GatewaySettings, environ: Mapping[str, str] | None = None) -> list[Credential]:
    """Every configured source with its secret; a source without one is a ConfigError naming where to put it."""
    environ = os.environ if environ is None else environ
    out = []
    for name, source in settings.sources.items():
        variable = secret_variable(name)
        secret = environ.get(variable, "")
        if source.secret_file:
            if secret:
                raise ConfigError(f"gateway.sources.{name}: secret set both by {variable} and secret_file; keep one")
            try:
                secret = Path(source.secret_file).read_text().rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"gateway.sources.{name}.secret_file: cannot read {source.secret_file}: {exc}") from exc
        if not secret:
            raise ConfigError(f"gateway.sources.{name} has no secret: set {variable} or gateway.sources.{name}.secret_file")
        out.append(Credential(name, source.auth, secret.encode()))
    return out


class Authenticator:
    def __init__(self, credentials: list[Credential], *, allow_anonymous_loopback: bool, tolerance: float) -> None:
        self._bearer = [c for c in credentials if c.auth == "bearer"]
        self._hmac = {c.name: c for c in credentials if c.auth == "hmac"}
        self._vendor = {c.auth: c for c in credentials if c.auth not in ("bearer", "hmac")}
        self._loopback, self._tolerance = allow_anonymous_loopback, tolerance

    def vendor_secret(self, vendor: str) -> bytes | None:
        credential = self._vendor.get(vendor)
        return credential.secret if credential else None

    def anonymous_allowed(self, client_host: str | None) -> bool:
        return self._loopback and client_host in LOOPBACK

    def source(self, headers: Mapping[str, str], body: bytes, client_host: str | None) -> str:
        """The configured source name of a request (or 'anonymous' on an allowed loopback); Unauthorized."""
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthorized("bad_token", "Authorization must be 'Bearer <token>'")
            # compare against every token, so the time taken does not tell which one nearly matched
            matched = [c.name for c in self._bearer if hmac.compare_digest(c.secret, token.strip().encode())]
            if not matched:
                raise Unauthorized("bad_token", "the bearer token matches no configured source")
            return matched[0]
        if "x-cxpulse-signature" in headers:
            return self._signed(headers, body)
        if self.anonymous_allowed(client_host):
            return ANONYMOUS
        raise Unauthorized("missing_credentials", "send Authorization: Bearer <token>, or X-Cxpulse-Source, "
                                                  "X-Cxpulse-Timestamp and X-Cxpulse-Signature")

    def _signed(self, headers: Mapping[str, str], body: bytes) -> str:
        name = headers.get("x-cxpulse-source", "")
        credential = self._hmac.get(name)
        if credential is None:
            raise Unauthorized("unknown_source", "X-Cxpulse-Source names no source configured for hmac")
        stamp = headers.get("x-cxpulse-timestamp", "")
        if not delivery.verify(credential.secret, stamp, body, headers["x-cxpulse-signature"],
                               tolerance=self._tolerance, now=time.time()):
            raise Unauthorized("bad_signature", "X-Cxpulse-Signature does not match the body and timestamp, "
                                                f"or the timestamp is more than {self._tolerance:g}s off")
        return name
