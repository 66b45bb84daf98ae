"""The red-pocket promotion: POST /api/v1/cny/claim."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from exchange.clock import iso_ms
from exchange.money import format_usd
from exchange.redpocket import MAX_PHRASE_LENGTH
from web.auth import authenticated, current_claims
from web.body import BodyDecoder
from web.errors import field_error, invalid
from web.openapi import documented
from web.reply import json_response
from web.state import app_state
from web.wire import ClaimRequest, ClaimResponse

blueprint = Blueprint("promotions", __name__, url_prefix="/api/v1/cny")

_claim_body = BodyDecoder(ClaimRequest)


@blueprint.post("/claim")
@document_request(ClaimRequest)
@document_response(ClaimResponse, 201)
@documented(errors={422: ("already_claimed_today",)}, busy=True)
@authenticated
async def claim() -> Response:
    """Claim a red pocket: a configured phrase pays its amount once a day, others $8.88."""
    body = await _claim_body.read()
    phrase = body.phrase.strip()
    if not phrase:
        raise invalid([field_error(["body", "phrase"], "Must not be empty or blank", "missing")])
    if len(phrase) > MAX_PHRASE_LENGTH or "<" in phrase or ">" in phrase:
        message = f"Must be at most {MAX_PHRASE_LENGTH} characters of plain text"
        raise invalid([field_error(["body", "phrase"], message, "value_error")])
    result = await app_state().exchange.claim_red_pocket(current_claims().sub, phrase)
    amount = format_usd(result.amount)
    message = (
        f"Congratulations! You received a red pocket of ${amount}"
        if result.got_red_pocket
        else f"No red pocket for that phrase, but here is ${amount} for luck"
    )
    return json_response(
        ClaimResponse(
            True, message, amount, result.got_red_pocket, iso_ms(result.entry.created_at)
        ),
        201,
    )
