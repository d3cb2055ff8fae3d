"""The event contract: validate an event against the JSON Schemas under schemas/events.

The schema files are the single source of truth (Snowplow/Iglu style); this module only loads
them into one jsonschema-rs validator (compiled Rust, 2020-12) and turns the first failure
into a bounded Reason for the dead-letter topic.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Iterator

import jsonschema_rs

from streams.domain.rejections import Reason, Rejected

ROOT_SCHEMA = "event.schema.json"


def schemas_dir() -> Path:
    """schemas/ of the checkout, or the copy packed into the wheel."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "schemas", package / "_schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("schemas/ directory not found next to the streams package")


def event_schema_dir(version: str = "v1") -> Path:
    return schemas_dir() / "events" / version


def load_schemas(version: str = "v1") -> dict[str, dict[str, Any]]:
    """Every schema file of one contract version, by its $id."""
    docs = {}
    for path in sorted(event_schema_dir(version).rglob("*.schema.json")):
        doc = json.loads(path.read_text())
        docs[doc["$id"]] = doc
    return docs


@cache
def validator(version: str = "v1") -> jsonschema_rs.Validator:
    docs = load_schemas(version)
    root = next(doc for uri, doc in docs.items() if uri.endswith("/" + ROOT_SCHEMA))
    registry = jsonschema_rs.Registry(list(docs.items()))
    return jsonschema_rs.validator_for(root, registry=registry)


def _path(error: jsonschema_rs.ValidationError) -> str:
    return "/" + "/".join(str(p) for p in error.instance_path)


def classify(error: jsonschema_rs.ValidationError) -> Reason:
    """Map a schema failure to the reason a channel-system owner needs to fix it."""
    kind = type(error.kind).__name__
    path = _path(error)
    if kind == "Required":
        return Reason.MISSING_FIELD
    if kind == "Type":
        return Reason.WRONG_TYPE
    if kind == "Enum" and path == "/type":
        return Reason.UNKNOWN_TYPE
    if kind == "Enum" and path == "/data/channel":
        return Reason.UNKNOWN_CHANNEL
    return Reason.SCHEMA_VIOLATION


def errors(event: Any) -> Iterator[Rejected]:
    """Every contract failure of one decoded event (for `cxpulse schema validate`)."""
    for error in validator().iter_errors(event):
        yield Rejected(classify(error), f"{_path(error)}: {error.message}", _path(error))


def check(event: Any) -> None:
    """Raise Rejected for the most specific failure of `event`; return when it is valid."""
    if validator().is_valid(event):
        return
    found = sorted(errors(event), key=lambda r: (r.reason == Reason.SCHEMA_VIOLATION, -r.path.count("/")))
    raise found[0]
