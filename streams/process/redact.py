"""Keep customer identifiers and credentials out of the logs.

Events carry emails, phone numbers, social handles and customer ids, and they can reach a log line
without anyone writing them there: a warehouse error quoting the row it could not parse, an
exception message from a library, a dict in a traceback. So redaction is not left to each call
site: `install` puts a log record factory in place that rewrites every record of every logger
(cxpulse's, Faust's, aiokafka's; it survives Faust's logging set-up, which replaces the handlers)
once it is formatted, traceback included. Credentials in URLs (`scheme://user:password@`) are
always removed; identifiers unless `log_identifiers = true` (for debugging on test data).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from streams.config import IDENTIFIER_KINDS

_KINDS = "|".join(IDENTIFIER_KINDS)
_IDENTIFIERS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # "email": "a@b.c", 'phone': '+1…', customer_id=cust-1 (JSON, reprs, key=value)
    (re.compile(rf"""(?P<key>["']?\b(?:{_KINDS})\b["']?\s*[:=]\s*)(?P<q>["'])(?:\\.|(?!(?P=q)).)*(?P=q)"""),
     lambda m: f"{m['key']}{m['q']}<redacted>{m['q']}"),
    (re.compile(rf"\b(?P<kind>{_KINDS})(?P<sep>[:=])[^\s,;'\"\]\)}}]+"),
     lambda m: f"{m['kind']}{m['sep']}<redacted>"),                          # kind:value, kind=value
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "<email>"),
    (re.compile(r"(?<![\w+])\+\d[\d ().-]{5,}\d"), "<phone>"),              # E.164 and written forms of it
    (re.compile(r"(?<![\w.@/<>])@[A-Za-z0-9_]{2,30}\b"), "<handle>"),       # @handle
]
_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@")


def redact(text: str, identifiers: bool = True) -> str:
    """text without URL credentials and, when `identifiers`, without customer identifiers."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}<redacted>@", text)
    if identifiers:
        for pattern, replacement in _IDENTIFIERS:
            text = pattern.sub(replacement, text)
    return text


def install(allow_identifiers: bool = False) -> None:
    """Redact every log record created from now on in this process."""
    previous = logging.getLogRecordFactory()
    base = getattr(previous, "redacting", previous)  # installing twice wraps the original once
    identifiers = not allow_identifiers

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not raise from the log call
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message, identifiers), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), identifiers)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, identifiers)
        return record

    factory.redacting = base
    logging.setLogRecordFactory(factory)
