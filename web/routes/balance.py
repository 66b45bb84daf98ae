"""Balance routes: read, deposit, withdraw, and the cash ledger."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from exchange.clock import iso_ms
from exchange.money import MoneyFormatError, format_usd, parse_usd
from exchange.state import Entry
from web.auth import authenticated, current_claims
from web.body import BodyDecoder
from web.errors import FieldError, field_error, invalid
from web.query import choice_param, int_param
from web.reply import json_response
from web.state import app_state
from web.validation import Rules
from web.wire import (
    AmountRequest,
    BalanceResponse,
    MoneyMovedResponse,
    TransactionResponse,
    TransactionsResponse,
)

blueprint = Blueprint("balance", __name__, url_prefix="/api/v1/balance")

TRANSACTION_TYPES = (
    "deposit",
    "withdraw",
    "order_payment",
    "order_sale",
    "fee",
    "red_pocket",
    "adjustment",
    "class_grant",
    "class_reset",
    "class_adjustment",
)

_amount_body = BodyDecoder(AmountRequest)


async def _amount() -> tuple[int, str | None]:
    """The body's amount in cents and its description, or one 422 listing every problem."""
    body = await _amount_body.read()
    errors: list[FieldError] = []
    cents = 0
    try:
        cents = parse_usd(body.amount)
    except MoneyFormatError as exc:
        errors.append(field_error(["body", "amount"], str(exc), "decimal_places"))
    limit = app_state().exchange.settings.max_amount
    if not errors and cents <= 0:
        errors.append(
            field_error(["body", "amount"], "Amount must be greater than 0", "greater_than")
        )
    elif cents > limit:
        message = f"Amount must be at most {format_usd(limit)}"
        errors.append(field_error(["body", "amount"], message, "less_than_equal"))
    rules = Rules()
    description = rules.description(body.description)
    errors.extend(rules.errors)
    if errors:
        raise invalid(errors)
    return cents, description


def _moved(entry: Entry, verb: str) -> Response:
    body = MoneyMovedResponse(
        success=True,
        message=f"Successfully {verb} ${format_usd(abs(entry.amount))}",
        transaction_id=entry.transaction_id,
        timestamp=iso_ms(entry.created_at),
    )
    return json_response(body, 201)


@blueprint.get("")
@document_response(BalanceResponse)
@authenticated
async def get_balance() -> Response:
    """The caller's cash balance."""
    balance = await app_state().exchange.balance(current_claims().sub)
    return json_response(BalanceResponse(format_usd(balance.cash), iso_ms(balance.updated_at)))


@blueprint.post("/deposit")
@document_request(AmountRequest)
@document_response(MoneyMovedResponse, 201)
@authenticated
async def deposit() -> Response:
    """Add simulated USD, within the daily deposit limit."""
    cents, description = await _amount()
    entry = await app_state().exchange.deposit(current_claims().sub, cents, description)
    return _moved(entry, "deposited")


@blueprint.post("/withdraw")
@document_request(AmountRequest)
@document_response(MoneyMovedResponse, 201)
@authenticated
async def withdraw() -> Response:
    """Take simulated USD out, within the balance and the daily withdrawal limit."""
    cents, description = await _amount()
    entry = await app_state().exchange.withdraw(current_claims().sub, cents, description)
    return _moved(entry, "withdrew")


@blueprint.get("/transactions")
@document_response(TransactionsResponse)
@authenticated
async def transactions() -> Response:
    """The caller's ledger, newest first, paginated."""
    limit = int_param("limit", 50, 1, 100)
    offset = int_param("offset", 0, 0)
    kind = choice_param("transaction_type", TRANSACTION_TYPES)
    entries, total = app_state().exchange.transactions(current_claims().sub, limit, offset, kind)
    rows = [
        TransactionResponse(
            transaction_id=e.transaction_id,
            transaction_type=e.transaction_type,
            amount=format_usd(e.amount),
            status=e.status,
            description=e.description,
            reference_id=e.reference_id,
            created_at=iso_ms(e.created_at),
        )
        for e in entries
    ]
    return json_response(TransactionsResponse(rows, total, offset + len(rows) < total))
