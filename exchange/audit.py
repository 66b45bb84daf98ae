"""The audit log: security events (register, logins, logouts, blocks, refused tokens) and
market control actions (run, scheduled, cancelled, failed)."""

from __future__ import annotations

import msgspec

from exchange.store import Store, Write

EVENTS = (
    "register",
    "login_success",
    "login_failure",
    "logout",
    "ip_blocked",
    "ip_unblocked",
    "login_blocked",
    "login_unblocked",
    "token_refused",
    "market_action",
    "market_action_scheduled",
    "market_action_cancelled",
    "market_action_failed",
)


class AuditEntry(msgspec.Struct, frozen=True):
    """One security event."""

    seq: int
    created_at: int
    event: str
    username: str | None
    ip: str | None
    detail: str


def audit_write(
    now_ms: int, event: str, username: str | None, ip: str | None, detail: str
) -> Write:
    """The write that records one event."""
    assert event in EVENTS, event
    return Write(
        [
            (
                "INSERT INTO audit_log (created_at, event, username, ip, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (now_ms, event, username, ip, detail),
            )
        ]
    )


def read_audit(
    store: Store, limit: int, offset: int, event: str | None = None, username: str | None = None
) -> tuple[list[AuditEntry], int]:
    """A page of the log, newest first, and the total count."""
    rows, total = store.page(
        "seq, created_at, event, username, ip, detail",
        "audit_log",
        {"event": event, "username": username},
        limit,
        offset,
    )
    return [AuditEntry(*row) for row in rows], total
