"""Admin routes (role ``admin``; customers get 403): the audit log so far."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_response

from exchange.audit import EVENTS
from exchange.clock import iso_ms
from web.admin import admin_only
from web.query import choice_param, int_param
from web.reply import json_response
from web.state import app_state
from web.wire import AuditEntryResponse, AuditLogResponse

blueprint = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@blueprint.get("/audit")
@document_response(AuditLogResponse)
@admin_only
async def audit_log() -> Response:
    """Security events, newest first: filter by ``event`` and ``username``."""
    limit = int_param("limit", 50, 1, 500)
    offset = int_param("offset", 0, 0)
    event = choice_param("event", EVENTS)
    username = request.args.get("username") or None
    entries, total = app_state().exchange.audit_log(
        limit, offset, event, username and username.lower()
    )
    rows = [
        AuditEntryResponse(e.seq, iso_ms(e.created_at), e.event, e.username, e.ip, e.detail)
        for e in entries
    ]
    return json_response(AuditLogResponse(rows, total, offset + len(rows) < total))
