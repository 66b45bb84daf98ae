"""Catalogue routes (public): the asset list, one asset, its candles and its badge image."""

from __future__ import annotations

import hashlib
import re
from html import escape

from quart import Blueprint, Response, request
from quart_schema import document_response

from exchange.market import Market, ath_change, atl_change, iso_seconds
from exchange.money import price_to_float
from exchange.series import INTERVALS
from web.errors import field_error, invalid
from web.gateway import gateway
from web.openapi import documented
from web.origin import public_origin
from web.prefix import root_path
from web.query import BoolQuery, ChoiceQuery, IntQuery
from web.reply import encode, json_response
from web.state import app_state
from web.wire import (
    AssetDetail,
    AssetDetailResponse,
    AssetListResponse,
    AssetResponse,
    CandleResponse,
    CandlesResponse,
    Sparkline,
)

blueprint = Blueprint("inventory", __name__, url_prefix="/api/v1/inventory")

ASSET_ID = re.compile(r"[A-Za-z0-9]{1,10}")
LIST_CACHE_ENTRIES = 64
ASSET_PATH = {"asset_id": ASSET_ID}
ACTIVE_ONLY = BoolQuery("active_only", True, "Only assets open for trading (also 1/0, yes/no)")
LIST_LIMIT = IntQuery("limit", 50, 1, 250, "Assets per page, by market-cap rank")
# Far beyond any catalogue: a larger offset is a client's mistake, answered with 422.
LIST_OFFSET = IntQuery("offset", 0, 0, 10_000, "Assets to skip, in rank order")
DEFAULT_INTERVAL = "1h"
INTERVAL = ChoiceQuery("interval", tuple(INTERVALS), "Candle width", DEFAULT_INTERVAL)
CANDLE_LIMIT = IntQuery("limit", 100, 1, 1000, "Most recent candles")


def valid_asset_id(asset_id: str) -> str:
    """The upper-cased id, or a 422 naming the path parameter (checked before any lookup)."""
    if not ASSET_ID.fullmatch(asset_id):
        message = "Asset id must be 1-10 letters or digits"
        raise invalid([field_error(["path", "asset_id"], message, "string_pattern_mismatch")])
    return asset_id.upper()


def request_origin() -> str:
    """The origin and prefix the current request's client addressed (a trusted proxy's)."""
    origin = public_origin(
        request.scheme,
        request.host,
        request.remote_addr or "",
        request.headers.get,
        gateway().trusted,
    )
    return origin + root_path()


def image_url(origin: str, asset_id: str) -> str:
    """The absolute URL of an asset's badge: a client on another origin loads it as given."""
    return f"{origin}/api/v1/inventory/assets/{asset_id}/image.svg"


def asset_summary(market: Market, rank: int, origin: str) -> AssetResponse:
    """The list fields of one asset, ranked ``rank`` by market cap."""
    asset, stats = market.asset, market.stats()
    return AssetResponse(
        asset_id=asset.asset_id,
        name=asset.name,
        description=asset.description,
        category=asset.category,
        price_usd=price_to_float(stats.price),
        is_active=market.active,
        symbol=asset.asset_id.lower(),
        image=image_url(origin, asset.asset_id),
        market_cap_rank=rank,
        price_change_percentage_24h=stats.pct_24h,
        market_cap=stats.market_cap,
        total_volume_24h=stats.volume_24h,
        sparkline_7d=Sparkline([price_to_float(price) for price in stats.sparkline_7d]),
    )


def asset_detail(market: Market, rank: int, origin: str) -> AssetDetail:
    """Every field of one asset."""
    summary = asset_summary(market, rank, origin)
    asset, stats = market.asset, market.stats()
    return AssetDetail(
        **{name: getattr(summary, name) for name in summary.__struct_fields__},
        availability_status="available" if market.active else "unavailable",
        price_change_24h=None if stats.change_24h is None else price_to_float(stats.change_24h),
        price_change_percentage_7d=stats.pct_7d,
        price_change_percentage_30d=stats.pct_30d,
        high_24h=price_to_float(stats.high_24h),
        low_24h=price_to_float(stats.low_24h),
        circulating_supply=float(asset.circulating_supply),
        total_supply=float(asset.total_supply),
        max_supply=None if asset.max_supply is None else float(asset.max_supply),
        ath=price_to_float(stats.ath),
        ath_change_percentage=ath_change(stats),
        ath_date=stats.ath_date,
        atl=price_to_float(stats.atl),
        atl_change_percentage=atl_change(stats),
        atl_date=stats.atl_date,
        last_updated=iso_seconds(stats.last_updated) if stats.last_updated else None,
    )


@blueprint.get("/assets")
@document_response(AssetListResponse)
@documented(query=(ACTIVE_ONLY, LIST_LIMIT, LIST_OFFSET))
async def list_assets() -> Response:
    """The catalogue by market-cap rank, ``limit`` from ``offset``; other parameters ignored."""
    active_only = ACTIVE_ONLY.read()
    limit = LIST_LIMIT.read()
    offset = LIST_OFFSET.read()
    origin = request_origin()
    state = app_state()
    feed = state.exchange.feed
    # Every client asking between two ticks gets the same bytes.
    cache = state.list_cache
    key = (feed.seq, active_only, limit, offset, origin)
    body = cache.get(key)
    if body is None:
        ranking = feed.ranking()
        active = [m for m in ranking.markets if m.active]
        chosen = active if active_only else ranking.markets
        page = AssetListResponse(
            data=[
                asset_summary(m, ranking.ranks[m.asset.asset_id], origin)
                for m in chosen[offset : offset + limit]
            ],
            total_count=len(ranking.markets),
            active_count=len(active),
        )
        if cache and next(iter(cache))[0] != feed.seq:
            cache.clear()
        body = encode(page)
        # Bounded: hosts and offsets are the client's to choose; past the bound, encode afresh.
        if len(cache) < LIST_CACHE_ENTRIES:
            cache[key] = body
    return Response(body, content_type="application/json")


@blueprint.get("/assets/<asset_id>")
@document_response(AssetDetailResponse)
@documented(path=ASSET_PATH, errors={404: ("asset_not_found",)})
async def get_asset(asset_id: str) -> Response:
    """One asset with every market field; 422 for a malformed id, 404 for an unknown one."""
    exchange = app_state().exchange
    market = exchange.market(valid_asset_id(asset_id))
    rank = exchange.feed.ranking().ranks[market.asset.asset_id]
    return json_response(AssetDetailResponse(asset_detail(market, rank, request_origin())))


@blueprint.get("/assets/<asset_id>/candles")
@document_response(CandlesResponse)
@documented(query=(INTERVAL, CANDLE_LIMIT), path=ASSET_PATH, errors={404: ("asset_not_found",)})
async def get_candles(asset_id: str) -> Response:
    """OHLC candles, oldest first: ``interval`` 1m, 5m, 1h or 1d; ``limit`` 1-1000."""
    market = app_state().exchange.market(valid_asset_id(asset_id))
    interval = INTERVAL.read() or DEFAULT_INTERVAL
    limit = CANDLE_LIMIT.read()
    candles = [
        CandleResponse(
            time=iso_seconds(c.start),
            open=price_to_float(c.open),
            high=price_to_float(c.high),
            low=price_to_float(c.low),
            close=price_to_float(c.close),
        )
        for c in market.series[interval].latest(limit)
    ]
    return json_response(CandlesResponse(market.asset.asset_id, interval, candles))


@blueprint.get("/assets/<asset_id>/image.svg")
@documented(path=ASSET_PATH, errors={404: ("asset_not_found",)}, content=(200, "image/svg+xml"))
async def get_image(asset_id: str) -> Response:
    """A badge for the asset, drawn here since nothing outside is reachable."""
    market = app_state().exchange.market(valid_asset_id(asset_id))
    symbol = market.asset.asset_id
    hue = int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:2], "big") % 360
    size = 22 if len(symbol) <= 3 else max(10, 66 // len(symbol))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<circle cx="32" cy="32" r="31" fill="hsl({hue},62%,42%)"/>'
        f'<text x="32" y="32" dy=".35em" text-anchor="middle" font-family="sans-serif" '
        f'font-weight="bold" font-size="{size}" fill="#fff">{escape(symbol)}</text></svg>'
    )
    response = Response(svg, content_type="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
