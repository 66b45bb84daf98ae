"""Admin routes (role ``admin``; customers get 403): the audit log so far."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response

from exchange.audit import EVENTS
from exchange.clock import iso_ms
from web.admin import admin_only
from web.openapi import documented
from web.query import ChoiceQuery, IntQuery, TextQuery
from web.reply import json_response
from web.state import app_state
from web.wire import AuditEntryResponse, AuditLogResponse

blueprint = Blueprint("admin", __name__, url_prefix="/api/v1/admin")

LIMIT = IntQuery("limit", 50, 1, 500, "Entries per page")
OFFSET = IntQuery("offset", 0, 0, description="Entries to skip")
EVENT = ChoiceQuery("event", EVENTS, "Only this event")
USERNAME = TextQuery("username", "Only this user's entries (any case)")


@blueprint.get("/audit")
@document_response(AuditLogResponse)
@documented(query=(LIMIT, OFFSET, EVENT, USERNAME))
@admin_only
async def audit_log() -> Response:
    """Security events, newest first: filter by ``event`` and ``username``."""
    limit = LIMIT.read()
    offset = OFFSET.read()
    event = EVENT.read()
    username = USERNAME.read()
    entries, total = app_state().exchange.audit_log(
        limit, offset, event, username and username.lower()
    )
    rows = [
        AuditEntryResponse(e.seq, iso_ms(e.created_at), e.event, e.username, e.ip, e.detail)
        for e in entries
    ]
    return json_response(AuditLogResponse(rows, total, offset + len(rows) < total))
