"""Balance routes: read, deposit, withdraw, and the cash ledger."""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from exchange.clock import iso_ms
from exchange.money import MoneyFormatError, OutOfRange, format_usd, parse_usd
from exchange.state import Entry
from web.auth import authenticated, current_claims
from web.body import BodyDecoder, number_text
from web.errors import ApiError, FieldError, field_error, invalid
from web.openapi import documented
from web.query import ChoiceQuery, IntQuery
from web.reply import json_response
from web.state import app_state
from web.validation import Rules
from web.wire import (
    TRANSACTION_TYPES,
    AmountRequest,
    BalanceResponse,
    DailyLimit,
    DailyLimitsResponse,
    MoneyMovedResponse,
    TransactionResponse,
    TransactionsResponse,
)

blueprint = Blueprint("balance", __name__, url_prefix="/api/v1/balance")

_amount_body = BodyDecoder(AmountRequest)

LIMIT = IntQuery("limit", 50, 1, 100, "Rows per page")
OFFSET = IntQuery("offset", 0, 0, description="Rows to skip")
TRANSACTION_TYPE = ChoiceQuery("transaction_type", TRANSACTION_TYPES, "Only rows of this type")


def _amount_error(message: str, kind: str) -> ApiError:
    return invalid([field_error(["body", "amount"], message, kind)])


def _cents(raw: object) -> int:
    """The amount in cents within bounds, or a 422 naming ``amount``."""
    limit = app_state().exchange.settings.max_amount
    # Errors are raised as they are made: one kept in a local would form a cycle with its
    # traceback's frame and leave the whole request's stack to the cyclic collector.
    cents: int | None = None
    try:
        cents = parse_usd(raw)
    except OutOfRange as exc:
        # Far below zero is reported as under the lower bound; far above (None) as over the upper.
        cents = 0 if exc.negative else None
    except MoneyFormatError as exc:
        raise _amount_error(str(exc), exc.kind) from None
    if cents is not None and cents <= 0:
        raise _amount_error("Amount must be greater than 0", "greater_than")
    if cents is None or cents > limit:
        raise _amount_error(f"Amount must be at most {format_usd(limit)}", "less_than_equal")
    return cents


async def _amount() -> tuple[int, str | None]:
    """The body's amount in cents and its description, or a 422 listing the problems."""
    body = await _amount_body.read()
    errors: list[FieldError] = []
    cents = 0
    try:
        cents = _cents(number_text(body.amount))
    except ApiError as exc:
        assert isinstance(exc.detail, list)  # _cents raises field errors only
        errors.extend(exc.detail)
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
@documented(busy=True)
@authenticated
async def get_balance() -> Response:
    """The caller's cash balance."""
    balance = await app_state().exchange.balance(current_claims().sub)
    return json_response(BalanceResponse(format_usd(balance.cash), iso_ms(balance.updated_at)))


def _daily(limit: int, used: int) -> DailyLimit:
    return DailyLimit(format_usd(limit), format_usd(used), format_usd(max(0, limit - used)))


@blueprint.get("/limits")
@document_response(DailyLimitsResponse)
@documented(busy=True)
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
@documented(errors={422: ("daily_limit_exceeded",)}, busy=True)
@authenticated
async def deposit() -> Response:
    """Add simulated USD, within the daily deposit limit."""
    cents, description = await _amount()
    entry = await app_state().exchange.deposit(current_claims().sub, cents, description)
    return _moved(entry, "deposited")


@blueprint.post("/withdraw")
@document_request(AmountRequest)
@document_response(MoneyMovedResponse, 201)
@documented(errors={422: ("insufficient_funds", "daily_limit_exceeded")}, busy=True)
@authenticated
async def withdraw() -> Response:
    """Take simulated USD out, within the balance and the daily withdrawal limit."""
    cents, description = await _amount()
    entry = await app_state().exchange.withdraw(current_claims().sub, cents, description)
    return _moved(entry, "withdrew")


@blueprint.get("/transactions")
@document_response(TransactionsResponse)
@documented(query=(LIMIT, OFFSET, TRANSACTION_TYPE))
@authenticated
async def transactions() -> Response:
    """The caller's ledger, newest first, paginated."""
    limit = LIMIT.read()
    offset = OFFSET.read()
    kind = TRANSACTION_TYPE.read()
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
