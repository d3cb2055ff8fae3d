"""Native adapters: vendors' own webhook payloads mapped to the event contract (docs/adapters.md).

`ADAPTERS` is the registry the gateway mounts as /v1/vendors/<name>; each adapter is also a plain
library object: `ADAPTERS["twilio"].to_events(VendorRequest(url, headers, body))`.
"""

from __future__ import annotations

from streams.adapters import amazon_connect, genesys_cloud, twilio, zendesk
from streams.adapters.base import Adapter, BadSignature, Unmapped, VendorRequest

ADAPTERS: dict[str, Adapter] = {module.ADAPTER.name: module.ADAPTER
                                for module in (amazon_connect, twilio, genesys_cloud, zendesk)}

__all__ = ["ADAPTERS", "Adapter", "BadSignature", "Unmapped", "VendorRequest"]
