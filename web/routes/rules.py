"""The trading rules a client needs to preview an order before sending it (public)."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response

from exchange.money import format_usd
from web.openapi import documented
from web.reply import json_response
from web.state import app_state
from web.wire import TradingRulesResponse

blueprint = Blueprint("rules", __name__, url_prefix="/api/v1/trading")


@blueprint.get("/rules")
@document_response(TradingRulesResponse)
@documented()
async def trading_rules() -> Response:
    """The order value cap, the taker fee and the daily cash limits in force."""
    settings = app_state().exchange.settings
    return json_response(
        TradingRulesResponse(
            max_order_value=format_usd(settings.max_order_value),
            fee_bps=settings.fee_bps,
            min_quantity="0.001",
            daily_deposit_limit=format_usd(settings.daily_deposit_limit),
            daily_withdraw_limit=format_usd(settings.daily_withdraw_limit),
        )
    )
