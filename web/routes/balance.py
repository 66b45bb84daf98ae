"""Balance routes: read, deposit, withdraw, and the cash ledger."""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from exchange.clock import iso_ms
from exchange.money import MoneyFormatError, format_usd, parse_usd
from exchange.state import Entry
from web.auth import authenticated, current_claims
from web.body import BodyDecoder
from web.errors import field_error, invalid
from web.query import choice_param, int_param
from web.reply import json_response
from web.state import app_state
from web.wire import (
    AmountRequest,
    BalanceResponse,
    DailyLimit,
    DailyLimitsResponse,
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
)

_amount_body = BodyDecoder(AmountRequest)


async def _amount() -> int:
    body = await _amount_body.read()
    try:
        cents = parse_usd(body.amount)
    except MoneyFormatError as exc:
        raise invalid([field_error(["body", "amount"], str(exc), "decimal_places")]) from None
    limit = app_state().exchange.settings.max_amount
    if cents <= 0:
        raise invalid(
            [field_error(["body", "amount"], "Amount must be greater than 0", "greater_than")]
        )
    if cents > limit:
        message = f"Amount must be at most {format_usd(limit)}"
        raise invalid([field_error(["body", "amount"], message, "less_than_equal")])
    return cents


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


def _daily(limit: int, used: int) -> DailyLimit:
    return DailyLimit(format_usd(limit), format_usd(used), format_usd(max(0, limit - used)))


@blueprint.get("/limits")
@document_response(DailyLimitsResponse)
@authenticated
async def limits() -> Response:
    """Today's deposit and withdrawal limits, what is used of them and what remains.

    Red-pocket credits count toward the deposit limit, as they do when a deposit is checked.
    """
    exchange = app_state().exchange
    balance = await exchange.balance(current_claims().sub)
    settings = exchange.settings
    day = datetime.fromtimestamp(exchange.clock.now(), tz=UTC).date().isoformat()
    return json_response(
        DailyLimitsResponse(
            day,
            _daily(settings.daily_deposit_limit, balance.deposited_today),
            _daily(settings.daily_withdraw_limit, balance.withdrawn_today),
        )
    )


@blueprint.post("/deposit")
@document_request(AmountRequest)
@document_response(MoneyMovedResponse, 201)
@authenticated
async def deposit() -> Response:
    """Add simulated USD, within the daily deposit limit."""
    cents = await _amount()
    entry = await app_state().exchange.deposit(current_claims().sub, cents)
    return _moved(entry, "deposited")


@blueprint.post("/withdraw")
@document_request(AmountRequest)
@document_response(MoneyMovedResponse, 201)
@authenticated
async def withdraw() -> Response:
    """Take simulated USD out, within the balance and the daily withdrawal limit."""
    cents = await _amount()
    entry = await app_state().exchange.withdraw(current_claims().sub, cents)
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
