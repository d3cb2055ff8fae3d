"""Pseudonymized identifiers: keyed hashes in every store, a masked hint for people.

With `[privacy] pseudonymize = true`, ingest replaces each normalized identifier by an HMAC-SHA256
of it (key from CXPULSE_PRIVACY_KEY or its file), truncated to 128 bits: equal identifiers give
equal pseudonyms, so stitching, caps and priorities (the kind stays clear) work unchanged, and
nothing after ingest holds the value. Without the key a pseudonym cannot be recomputed from a
guess (a phone number space is small enough to enumerate a plain hash). `cxpulse timeline` and
`cxpulse forget` hash what they are given with the same functions. The mask (`+1 ••• ••• 0142`,
`j•••@e•••.com`) is what a board, an alert or a work item shows a person instead.
"""

from __future__ import annotations

import hashlib
import hmac

import msgspec
import phonenumbers

from streams.domain.identity_graph import Guards, guards_of
from streams.domain.records import CxEvent, IdentifierIssue, RawMessage

HIDDEN = "•••"
_HEX_CHARS = 32  # 128 bits: no collision among any plausible number of identifiers


def pseudonymize(key: bytes, kind: str, value: str) -> str:
    """The pseudonym of a normalized identifier: hex HMAC-SHA256 of kind and value (the kind is in
    the message so a phone and an account id written alike do not meet)."""
    return hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:_HEX_CHARS]


def _phone(value: str) -> str:
    """+<country code> ••• ••• <last 4> (last 2 when the national number is short)."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return HIDDEN
    national = str(number.national_number)
    shown = 4 if len(national) >= 8 else 2
    return f"+{number.country_code} {HIDDEN} {HIDDEN} {national[-shown:]}"


def _email(value: str) -> str:
    """First letter of the local part and of the domain, and the top-level domain."""
    local, _, domain = value.rpartition("@")
    tld = domain.rsplit(".", 1)[1] if "." in domain else ""
    return f"{local[:1]}{HIDDEN}@{domain[:1]}{HIDDEN}.{tld}" if local and domain and tld else HIDDEN


def _social(value: str) -> str:
    """The network, and the handle's first character after any @."""
    network, _, handle = value.partition(":")
    at = "@" if handle.startswith("@") else ""
    first = handle.removeprefix("@")[:1]
    return f"{network}:{at}{first}{HIDDEN}" if handle else HIDDEN


def mask(kind: str, value: str) -> str:
    """A hint a person can check against what a customer says; never enough to contact them."""
    if kind == "phone":
        return _phone(value)
    if kind == "email":
        return _email(value)
    if kind == "social":
        return _social(value)
    return f"{HIDDEN}{value[-2:]}" if len(value) > 6 else HIDDEN


class Pseudonymizer:
    """Applies pseudonymization to normalized events at ingest (and to lookups by the CLI)."""

    def __init__(self, key: bytes, guards: Guards) -> None:
        self.key, self.guards = key, guards

    def identifier(self, kind: str, value: str) -> str:
        """kind:pseudonym, as cx.identity_map and the identity graph hold it."""
        return f"{kind}:{self.value(kind, value)}"

    def value(self, kind: str, value: str) -> str:
        """The pseudonym, except for a value the identity guards block: that identifies no one by
        configuration, stays as it is and is recorded as blocked exactly as in clear mode."""
        return value if self.guards.blocked(kind, value) else pseudonymize(self.key, kind, value)

    def event(self, ev: CxEvent) -> CxEvent:
        """The event with pseudonyms for its identifiers, masks alongside, and masked issue values."""
        return msgspec.structs.replace(
            ev,
            customer={kind: self.value(kind, v) for kind, v in ev.customer.items()},
            identifier_masks={kind: mask(kind, v) for kind, v in ev.customer.items()},
            identifier_issues=[IdentifierIssue(i.kind, i.reason, mask(i.kind, i.raw)) for i in ev.identifier_issues])

    @staticmethod
    def raw(raw: RawMessage) -> RawMessage:
        """What the validated topic keeps of the inbound message: nothing that holds identifiers.
        It only serves to dead-letter a duplicate, whose first copy was processed."""
        return RawMessage(key=None, value=b"", headers=[], timestamp=raw.timestamp)


def from_settings(settings) -> Pseudonymizer | None:
    """The pseudonymizer of a pseudonymized deployment, or None in clear mode."""
    privacy = settings.privacy
    return Pseudonymizer(privacy.key.encode(), guards_of(settings)) if privacy.pseudonymize else None
