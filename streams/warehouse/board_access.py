"""The read-only board user, cx_boards: defined once, in schemas/clickhouse/access/cx_boards.sql.

`cxpulse migrate` applies that file on a ClickHouse server when `clickhouse.boards_password` is set
(compose's init, Kubernetes' workers at start), so the user exists wherever the boards' views do
and its grants follow the file. The password reaches the server only as its SHA-256 (the
statements are idempotent and end up in the server's query log). chDB cannot create users (no
writable access storage); there the boards run as the in-process user.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from streams.domain.contract import schemas_dir
from streams.warehouse.migrate import Migration

USER = "cx_boards"

# The columns that hold identifiers or free text about a person, per table: the board user reads
# none of them (the boards show cx_mask forms and customer ids c_... instead), nor the views that
# pass them through (cx.events_resolved, cx.timeline, cx.identity_map, cx.alerts_current, ...).
RAW_COLUMNS = {
    "events": ("customer_key", "customer_id", "account_id", "email", "phone", "visitor_id", "device_id", "social",
               "subject", "attributes", "origin"),
    "identity_links": ("identifier",),
    "alerts": ("identifiers",),
    "work_items": ("identifiers",),
    "dead_letters": ("detail", "message_key", "payload_base64", "payload_preview", "headers"),
}


def sql_file() -> Path:
    return schemas_dir() / "clickhouse" / "access" / f"{USER}.sql"


def statements(password: str) -> list[str]:
    """The file's statements with the password's SHA-256 filled in."""
    if not password:
        raise ValueError(f"the {USER} password is empty")
    digest = hashlib.sha256(password.encode()).hexdigest()
    sql = sql_file().read_text().replace("{password_sha256}", digest)
    return Migration(0, USER, sql).statements()


def grants() -> list[str]:
    """The privileges the file grants, as `GRANT <privilege> ON <object>` without the grantee (the
    form of a users.xml <grants><query>, which the chDB check of the boards runs them as)."""
    found = [re.sub(rf"\s+TO\s+{USER}$", "", s) for s in Migration(0, USER, sql_file().read_text()).statements()
             if s.startswith("GRANT ")]
    return [re.sub(r"\s+", " ", g) for g in found]


def profile() -> tuple[dict[str, str], list[str]]:
    """The settings of the user's profile (name -> value) and those it may change though readonly."""
    found = re.search(r"ALTER SETTINGS PROFILE \w+ SETTINGS (.+?);", sql_file().read_text())[1]
    settings = [re.fullmatch(r"(\w+) = (\S+)( CHANGEABLE_IN_READONLY)?", s.strip()) for s in found.split(",")]
    return {m[1]: m[2] for m in settings}, [m[1] for m in settings if m[3]]


def apply(warehouse, password: str) -> None:
    for statement in statements(password):
        warehouse.execute(statement)
