"""The right to erasure (docs/erasure.md): `cxpulse forget` and cx.privacy.erasure_requested events."""
