"""Portfolio and holdings routes: the portfolio, asset balances and per-asset trades."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response

from exchange.clock import iso_ms
from exchange.errors import NotFound
from exchange.history import PERIODS
from exchange.money import (
    CENTS,
    PRICE_SCALE,
    QTY_SCALE,
    format_price,
    format_quantity,
    format_usd,
    proceeds_cents,
)
from exchange.state import Holding
from web.auth import authenticated, current_claims
from web.openapi import documented
from web.query import ChoiceQuery, IntQuery
from web.reply import json_response
from web.routes.inventory import ASSET_PATH, valid_asset_id
from web.state import app_state
from web.wire import (
    AssetTradeResponse,
    AssetTradesResponse,
    HoldingResponse,
    HoldingsResponse,
    PortfolioAsset,
    PortfolioHistoryResponse,
    PortfolioResponse,
    ValuePointResponse,
)

blueprint = Blueprint("portfolio", __name__, url_prefix="/api/v1")
PERIOD = ChoiceQuery("period", tuple(PERIODS), "How far back", "7d")

LIMIT = IntQuery("limit", 50, 1, 100, "Trades per page")
OFFSET = IntQuery("offset", 0, 0, description="Trades to skip")


def _average_cost(holding: Holding) -> int:
    """Cost basis per unit, in 1e-8 USD."""
    if not holding.quantity:
        return 0
    return holding.cost * (QTY_SCALE * PRICE_SCALE // CENTS) // holding.quantity


def _holding(holding: Holding, price: int, name: str) -> HoldingResponse:
    return HoldingResponse(
        asset_id=holding.asset_id,
        asset_name=name,
        quantity=format_quantity(holding.quantity),
        reserved_quantity=format_quantity(holding.reserved),
        current_price=format_price(price),
        total_value=format_usd(proceeds_cents(holding.quantity, price)),
        created_at=iso_ms(holding.created_at),
        updated_at=iso_ms(holding.updated_at),
    )


@blueprint.get("/portfolio")
@document_response(PortfolioResponse)
@documented(busy=True)
@authenticated
async def portfolio() -> Response:
    """Cash and every holding at current prices, with cost basis and unrealized P&L."""
    exchange = app_state().exchange
    snapshot = await exchange.portfolio(current_claims().sub)
    valued = []
    for holding in snapshot.holdings:
        price = exchange.market(holding.asset_id).price
        valued.append((holding, price, proceeds_cents(holding.quantity, price)))
    assets_value = sum(value for _, _, value in valued)
    total = snapshot.cash + assets_value
    rows = [
        PortfolioAsset(
            asset_id=holding.asset_id,
            quantity=format_quantity(holding.quantity),
            current_price=format_price(price),
            market_value=format_usd(value),
            percentage=round(value * 100 / total, 2) if total else 0.0,
            average_cost=format_price(_average_cost(holding)),
            unrealized_pnl=format_usd(value - holding.cost),
            reserved_quantity=format_quantity(holding.reserved),
        )
        for holding, price, value in sorted(valued, key=lambda item: -item[2])
    ]
    return json_response(
        PortfolioResponse(
            assets=rows,
            usd_balance=format_usd(snapshot.cash),
            reserved_usd=format_usd(snapshot.reserved),
            available_usd=format_usd(snapshot.cash - snapshot.reserved),
            total_asset_value=format_usd(assets_value),
            total_value=format_usd(total),
        )
    )


@blueprint.get("/portfolio/history")
@document_response(PortfolioHistoryResponse)
@documented(query=(PERIOD,))
@authenticated
async def portfolio_history() -> Response:
    """Total value, cash and holdings value over ``period`` (1d, 7d or 30d; default 7d).

    Replayed from the committed cash and asset ledgers and priced at candle closes: every
    5 minutes for 1d, hourly for 7d, every 4 hours for 30d, and a last point now.
    """
    period = PERIOD.read() or "7d"
    points = app_state().exchange.value_history(current_claims().sub, period)
    base = points[0]
    data = [
        ValuePointResponse(
            time=iso_ms(round(point.time * 1000)),
            total_value=format_usd(point.total),
            cash=format_usd(point.cash),
            holdings_value=format_usd(point.holdings),
            profit_loss=format_usd(point.total - base.total - (point.inflow - base.inflow)),
        )
        for point in points
    ]
    body = PortfolioHistoryResponse(period, PERIODS[period][1], format_usd(base.total), data)
    return json_response(body)


@blueprint.get("/balance/asset/<asset_id>")
@document_response(HoldingResponse)
@documented(path=ASSET_PATH, errors={404: ("asset_not_found", "holding_not_found")}, busy=True)
@authenticated
async def asset_balance(asset_id: str) -> Response:
    """The caller's balance of one asset; 404 if they never held it."""
    exchange = app_state().exchange
    market = exchange.market(valid_asset_id(asset_id))
    snapshot = await exchange.portfolio(current_claims().sub)
    holding = next((h for h in snapshot.holdings if h.asset_id == market.asset.asset_id), None)
    if holding is None:
        since = exchange.held_since(current_claims().sub, market.asset.asset_id)
        if since is None:
            raise NotFound(f"No {market.asset.asset_id} balance", "holding_not_found")
        holding = Holding(market.asset.asset_id, 0, 0, 0, *since)
    return json_response(_holding(holding, market.price, market.asset.name))


@blueprint.get("/assets/balances")
@document_response(HoldingsResponse)
@documented(busy=True)
@authenticated
async def asset_balances() -> Response:
    """Every asset the caller holds."""
    exchange = app_state().exchange
    snapshot = await exchange.portfolio(current_claims().sub)
    rows = []
    for holding in snapshot.holdings:
        market = exchange.market(holding.asset_id)
        rows.append(_holding(holding, market.price, market.asset.name))
    return json_response(HoldingsResponse(rows))


@blueprint.get("/assets/<asset_id>/transactions")
@document_response(AssetTradesResponse)
@documented(query=(LIMIT, OFFSET), path=ASSET_PATH, errors={404: ("asset_not_found",)})
@authenticated
async def asset_trades(asset_id: str) -> Response:
    """The caller's trades in one asset, newest first; an unknown asset is 404."""
    exchange = app_state().exchange
    market = exchange.market(valid_asset_id(asset_id))
    limit = LIMIT.read()
    offset = OFFSET.read()
    entries, more = exchange.asset_transactions(
        current_claims().sub, market.asset.asset_id, limit, offset
    )
    rows = [
        AssetTradeResponse(
            asset_id=e.asset_id,
            transaction_type=e.transaction_type,
            quantity=format_quantity(abs(e.quantity)),
            price=format_price(e.price),
            total=format_usd(e.total),
            order_id=e.order_id,
            status=e.status,
            timestamp=iso_ms(e.created_at),
        )
        for e in entries
    ]
    return json_response(AssetTradesResponse(rows, more))
