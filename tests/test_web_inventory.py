"""Catalogue routes through HTTP: the list, one asset, its candles and badge, and the catalogue."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from exchange.catalogue import CatalogueError, load_catalogue
from exchange.engine import Exchange, open_exchange
from exchange.series import INTERVALS
from tests.conftest import START_EPOCH, Client, engine_settings, web_settings
from web.app import create_app

ASSETS = "/api/v1/inventory/assets"
DAY = 86_400
CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "assets.json"
LIST_KEYS = {
    "asset_id",
    "name",
    "description",
    "category",
    "price_usd",
    "is_active",
    "symbol",
    "image",
    "market_cap_rank",
    "price_change_percentage_24h",
    "market_cap",
    "total_volume_24h",
    "sparkline_7d",
}
DETAIL_KEYS = LIST_KEYS | {
    "availability_status",
    "price_change_24h",
    "price_change_percentage_7d",
    "price_change_percentage_30d",
    "high_24h",
    "low_24h",
    "circulating_supply",
    "total_supply",
    "max_supply",
    "ath",
    "ath_change_percentage",
    "ath_date",
    "atl",
    "atl_change_percentage",
    "atl_date",
    "last_updated",
}
ISO_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def subdirectory(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    return path


@asynccontextmanager
async def serving(tmp_path: Path, **overrides: object) -> AsyncIterator[tuple[Exchange, Client]]:
    """An exchange with its own settings and a test client of its app.

    Ticks are an hour apart, so no tick moves prices while a (real-time) test runs.
    """
    values: dict[str, object] = {"tick_interval": 3600.0}
    values.update(overrides)
    async with open_exchange(engine_settings(tmp_path, **values)) as exchange:
        app = create_app(exchange, web_settings())
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app:
            yield exchange, test_app.test_client()


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[Client]:
    """A client of an exchange with two days of synthesized history."""
    async with serving(tmp_path, history_days=2) as (_, client):
        yield client


async def get(client: Client, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = await client.get(path, **kwargs)
    return response.status_code, await response.get_json()


async def every_asset(client: Client) -> list[dict[str, Any]]:
    status, body = await get(client, ASSETS, query_string={"limit": "250", "active_only": "false"})
    assert status == 200
    assets: list[dict[str, Any]] = body["data"]
    return assets


async def detail(client: Client, asset_id: str) -> dict[str, Any]:
    status, body = await get(client, f"{ASSETS}/{asset_id}")
    assert status == 200, body
    assert set(body) == {"data"}
    data: dict[str, Any] = body["data"]
    return data


async def candles(client: Client, asset_id: str, interval: str, limit: int) -> list[Any]:
    query = {"interval": interval, "limit": str(limit)}
    status, body = await get(client, f"{ASSETS}/{asset_id}/candles", query_string=query)
    assert status == 200, body
    assert body["asset_id"] == asset_id.upper()
    assert body["interval"] == interval
    data: list[Any] = body["data"]
    return data


def unix(stamp: str) -> int:
    assert stamp.endswith("Z"), stamp
    return int(datetime.fromisoformat(stamp[:-1]).replace(tzinfo=UTC).timestamp())


def assert_field_error(status: int, body: Any, loc: list[str]) -> None:
    assert status == 422, body
    assert body["code"] == "validation_error"
    assert body["request_id"]
    assert [error["loc"] for error in body["detail"]] == [loc]
    assert all(error["msg"] and error["type"] for error in body["detail"])


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# The list


async def test_list_shape_and_every_contract_key_for_every_asset(client: Client) -> None:
    assets = await every_asset(client)
    assert len(assets) == len(load_catalogue()) >= 100
    for asset in assets:
        assert set(asset) == LIST_KEYS, asset["asset_id"]
        assert asset["asset_id"] == asset["symbol"].upper()
        assert asset["image"] == f"http://localhost{ASSETS}/{asset['asset_id']}/image.svg"
        assert asset["is_active"] is True
        for key in ("asset_id", "name", "description", "category", "symbol"):
            assert isinstance(asset[key], str) and asset[key], (asset["asset_id"], key)
        for key in ("price_usd", "market_cap", "total_volume_24h"):
            assert is_number(asset[key]) and asset[key] > 0, (asset["asset_id"], key)
        # No history yet: the 24h change is unknown, but its key is there.
        assert asset["price_change_percentage_24h"] is None
    status, body = await get(client, ASSETS)
    assert status == 200
    assert set(body) == {"data", "total_count", "active_count"}
    assert body["total_count"] == body["active_count"] == len(assets)


async def test_list_is_sorted_by_rank_and_limited(client: Client) -> None:
    status, body = await get(client, ASSETS)
    assert status == 200
    assert len(body["data"]) == 50
    ranks = [asset["market_cap_rank"] for asset in body["data"]]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert body["data"][0]["asset_id"] == "BTC"
    everything = await every_asset(client)
    assert everything[:50] == body["data"]
    assert [a["market_cap_rank"] for a in everything] == sorted(
        a["market_cap_rank"] for a in everything
    )
    for limit in (1, 7, 250):
        status, body = await get(client, ASSETS, query_string={"limit": str(limit)})
        assert status == 200
        assert body["data"] == everything[:limit]
    status, body = await get(client, ASSETS, query_string={"limit": ""})
    assert (status, len(body["data"])) == (200, 50)


async def test_offset_pages_through_the_rank_order(client: Client) -> None:
    everything = await every_asset(client)
    active = [a for a in everything if a["is_active"]]
    status, first = await get(client, ASSETS)
    status, second = await get(client, ASSETS, query_string={"offset": "50"})
    assert status == 200
    assert second["data"] == active[50:100] != first["data"]
    assert (second["total_count"], second["active_count"]) == (len(everything), len(active))
    pages = []
    for start in range(0, len(active) + 30, 30):
        query = {"limit": "30", "offset": str(start)}
        status, body = await get(client, ASSETS, query_string=query)
        assert status == 200
        pages.extend(body["data"])
    assert pages == active
    query = {"limit": "5", "offset": "3", "active_only": "false"}
    assert (await get(client, ASSETS, query_string=query))[1]["data"] == everything[3:8]
    for offset in (str(len(active)), "10000"):
        status, body = await get(client, ASSETS, query_string={"offset": offset})
        assert (status, body["data"]) == (200, [])


@pytest.mark.parametrize("offset", ["-1", "10001", "x", "1.5", "1e2"])
async def test_list_offset_out_of_bounds_is_422(client: Client, offset: str) -> None:
    status, body = await get(client, ASSETS, query_string={"offset": offset})
    assert_field_error(status, body, ["query", "offset"])


@pytest.mark.parametrize("limit", ["0", "251", "-1", "x", "1.5", "1e2"])
async def test_list_limit_out_of_bounds_is_422(client: Client, limit: str) -> None:
    status, body = await get(client, ASSETS, query_string={"limit": limit})
    assert_field_error(status, body, ["query", "limit"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("true", True), ("TRUE", True), ("1", True), ("yes", True), ("", True)],
        *[("false", False), ("False", False), ("0", False), ("no", False)],
    ],
)
async def test_active_only_parsing(
    exchange: Exchange, client: Client, raw: str, expected: bool
) -> None:
    # Take one asset off the market so the flag makes a visible difference.
    exchange.market("DOGE").active = False
    total = len(exchange.feed.markets)
    status, body = await get(client, ASSETS, query_string={"active_only": raw, "limit": "250"})
    assert status == 200
    assert body["total_count"] == total
    assert body["active_count"] == total - 1
    ids = [asset["asset_id"] for asset in body["data"]]
    assert ("DOGE" in ids) is not expected
    assert len(ids) == (total if not expected else total - 1)
    for asset in body["data"]:
        assert asset["is_active"] is (asset["asset_id"] != "DOGE")
    doge = await detail(client, "doge")
    assert (doge["is_active"], doge["availability_status"]) == (False, "unavailable")
    assert (await detail(client, "BTC"))["availability_status"] == "available"


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "null"])
async def test_active_only_bad_value_is_422(client: Client, raw: str) -> None:
    status, body = await get(client, ASSETS, query_string={"active_only": raw})
    assert_field_error(status, body, ["query", "active_only"])


async def test_unknown_query_parameters_are_ignored(client: Client) -> None:
    status, body = await get(client, ASSETS, query_string={"limit": "3", "sort": "x", "page": "9"})
    assert status == 200
    assert [asset["market_cap_rank"] for asset in body["data"]] == [1, 2, 3]


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer", "Basic dXNlcjpwYXNz", ""])
async def test_catalogue_is_public_and_ignores_a_bad_authorization_header(
    client: Client, header: str
) -> None:
    headers = {"Authorization": header}
    for path in (ASSETS, f"{ASSETS}/BTC", f"{ASSETS}/BTC/candles", f"{ASSETS}/BTC/image.svg"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, path
    response = await client.get(ASSETS)
    assert response.status_code == 200


async def test_prices_are_json_numbers_and_market_cap_is_price_times_supply(
    client: Client,
) -> None:
    response = await client.get(ASSETS, query_string={"limit": "250"})
    text = await response.get_data(as_text=True)
    assert re.search(r'"price_usd":\d', text), "a number, not a string"
    assert '"price_usd":"' not in text
    supplies = {asset.asset_id: asset.circulating_supply for asset in load_catalogue()}
    for asset in json.loads(text)["data"]:
        expected = asset["price_usd"] * float(supplies[asset["asset_id"]])
        assert math.isclose(asset["market_cap"], expected, rel_tol=1e-9, abs_tol=0.01)
        assert asset["total_volume_24h"] < asset["market_cap"]


async def test_list_is_fresh_per_exchange(client: Client, tmp_path: Path) -> None:
    # Two exchanges at the same tick number must not share a cached page.
    before = await every_asset(client)
    assert all(asset["price_change_percentage_24h"] is None for asset in before)
    async with serving(subdirectory(tmp_path, "other"), history_days=1, seed=7) as (_, other):
        after = await every_asset(other)
    assert all(asset["price_change_percentage_24h"] is not None for asset in after)
    assert [a["price_usd"] for a in after] != [a["price_usd"] for a in before]


# One asset


async def test_detail_has_every_key_for_every_asset(history: Client) -> None:
    listed = await every_asset(history)
    for summary in listed:
        asset = await detail(history, summary["asset_id"])
        assert set(asset) == DETAIL_KEYS, summary["asset_id"]
        assert {key: asset[key] for key in LIST_KEYS} == summary
        unknown = [key for key, value in asset.items() if value is None]
        # Two days of history: only the 7d and 30d changes (and an uncapped supply) are unknown.
        assert set(unknown) <= {
            "price_change_percentage_7d",
            "price_change_percentage_30d",
            "max_supply",
        }, (summary["asset_id"], unknown)
        assert asset["price_change_percentage_7d"] is None
        assert asset["price_change_percentage_30d"] is None
        assert asset["availability_status"] == "available"
        for key in ("ath_date", "atl_date", "last_updated"):
            assert ISO_SECONDS.fullmatch(asset[key]), (key, asset[key])
        assert set(asset["sparkline_7d"]) == {"price"}
        assert asset["sparkline_7d"]["price"]
        assert all(is_number(p) for p in asset["sparkline_7d"]["price"])
        assert asset["high_24h"] >= asset["price_usd"] >= asset["low_24h"] > 0
        assert asset["ath"] >= asset["high_24h"] and asset["atl"] <= asset["low_24h"]
        supply = asset["circulating_supply"]
        assert supply <= asset["total_supply"] <= (asset["max_supply"] or math.inf)


async def test_detail_without_history(client: Client) -> None:
    for summary in await every_asset(client):
        asset = await detail(client, summary["asset_id"])
        assert set(asset) == DETAIL_KEYS
        assert {key: asset[key] for key in LIST_KEYS} == summary
        price = asset["price_usd"]
        # Nothing to compare with yet: unknown changes, a one-point day and sparkline.
        for key in (
            "price_change_24h",
            "price_change_percentage_24h",
            "price_change_percentage_7d",
            "price_change_percentage_30d",
        ):
            assert asset[key] is None, key
        assert asset["high_24h"] == asset["low_24h"] == price
        assert asset["sparkline_7d"] == {"price": [price]}
        assert asset["last_updated"] == "2026-03-14T12:00:00Z"
        assert is_number(asset["ath"]) and is_number(asset["atl"])
        assert asset["ath_date"].endswith("T00:00:00Z")


async def test_detail_is_case_insensitive(client: Client) -> None:
    upper, lower, mixed = [await detail(client, name) for name in ("BTC", "btc", "bTc")]
    assert upper == lower == mixed
    assert (upper["asset_id"], upper["symbol"]) == ("BTC", "btc")


@pytest.mark.parametrize("asset_id", ["BTC-USD", "ABCDEFGHIJK", "%20", "BT%C3%87", "a.b", "_x"])
async def test_malformed_asset_id_is_422_before_lookup(client: Client, asset_id: str) -> None:
    for suffix in ("", "/candles", "/image.svg"):
        status, body = await get(client, f"{ASSETS}/{asset_id}{suffix}")
        assert_field_error(status, body, ["path", "asset_id"])


@pytest.mark.parametrize("asset_id", ["NOPE", "ABCDEFGHIJ", "btc2", "0"])
async def test_unknown_asset_is_404(client: Client, asset_id: str) -> None:
    for suffix in ("", "/candles", "/image.svg"):
        status, body = await get(client, f"{ASSETS}/{asset_id}{suffix}")
        assert status == 404
        assert body["code"] == "asset_not_found"
        assert asset_id.upper() in body["detail"]
        assert body["request_id"]


async def test_derived_fields_with_history(history: Client) -> None:
    now = int(START_EPOCH)
    for asset_id in ("BTC", "ETH", "USDT", "DOGE"):
        asset = await detail(history, asset_id)
        price = asset["price_usd"]
        assert asset["last_updated"] == "2026-03-14T12:00:00Z"
        fine = await candles(history, asset_id, "5m", 1000)
        starts = [unix(c["time"]) for c in fine]
        # The close 24 hours ago is the close of the 5-minute bucket that began then.
        day_ago = fine[starts.index(now - DAY)]["close"]
        assert math.isclose(asset["price_change_24h"], price - day_ago, abs_tol=1e-7)
        expected_pct = (price - day_ago) * 100 / day_ago
        assert math.isclose(asset["price_change_percentage_24h"], expected_pct, abs_tol=1e-4)
        # High and low of the last day: the 5-minute buckets after that one, and the price.
        last_day = [c for c, start in zip(fine, starts, strict=True) if start > now - DAY]
        assert len(last_day) == DAY // 300
        assert asset["high_24h"] == max(price, *(c["high"] for c in last_day))
        assert asset["low_24h"] == min(price, *(c["low"] for c in last_day))
        # The same day seen through hourly candles brackets it.
        hourly = await candles(history, asset_id, "1h", 1000)
        day = [c for c in hourly if unix(c["time"]) >= now - DAY]
        assert asset["high_24h"] <= max(c["high"] for c in day)
        assert asset["low_24h"] >= min(c["low"] for c in day)
        # The sparkline is the hourly closes of the last week (here: all of the history).
        assert asset["sparkline_7d"]["price"] == [c["close"] for c in hourly]
        assert asset["sparkline_7d"]["price"][-1] == price
        # Records bound the whole history, and their percentages follow.
        assert asset["ath"] >= max(c["high"] for c in hourly)
        assert asset["atl"] <= min(c["low"] for c in hourly)
        expected_ath = (price - asset["ath"]) * 100 / asset["ath"]
        assert math.isclose(asset["ath_change_percentage"], expected_ath, abs_tol=1e-4)
        expected_atl = (price - asset["atl"]) * 100 / asset["atl"]
        assert math.isclose(asset["atl_change_percentage"], expected_atl, abs_tol=1e-4)
        assert asset["ath_change_percentage"] <= 0 <= asset["atl_change_percentage"]


async def test_week_of_history_gives_the_7d_change_and_a_full_sparkline(tmp_path: Path) -> None:
    async with serving(tmp_path, history_days=8) as (_, client):
        for asset_id in ("BTC", "SOL"):
            asset = await detail(client, asset_id)
            price = asset["price_usd"]
            hourly = await candles(client, asset_id, "1h", 1000)
            starts = [unix(c["time"]) for c in hourly]
            week_ago = hourly[starts.index(int(START_EPOCH) - 7 * DAY)]["close"]
            expected = (price - week_ago) * 100 / week_ago
            assert math.isclose(asset["price_change_percentage_7d"], expected, abs_tol=1e-4)
            assert asset["price_change_percentage_30d"] is None
            assert asset["sparkline_7d"]["price"] == [c["close"] for c in hourly[-168:]]
            assert unix(hourly[-168]["time"]) == START_EPOCH - 7 * DAY + 3600


# Candles


@pytest.mark.parametrize("interval", list(INTERVALS))
async def test_candles_are_contiguous_joined_and_consistent(history: Client, interval: str) -> None:
    width = INTERVALS[interval]
    price = (await detail(history, "BTC"))["price_usd"]
    data = await candles(history, "BTC", interval, 1000)
    assert data
    starts = [unix(c["time"]) for c in data]
    assert all(start % width == 0 for start in starts)
    assert [b - a for a, b in pairwise(starts)] == [width] * (len(data) - 1)
    # The newest bucket holds the present; the oldest is no older than the history.
    assert starts[-1] == START_EPOCH // width * width
    assert starts[0] >= (START_EPOCH - 2 * DAY) // width * width
    for candle in data:
        assert set(candle) == {"time", "open", "high", "low", "close"}
        assert candle["low"] <= min(candle["open"], candle["close"])
        assert max(candle["open"], candle["close"]) <= candle["high"]
    for before, after in pairwise(data):
        assert after["open"] == before["close"]
    assert data[-1]["close"] == price
    for limit in (1, 2, 5):
        assert await candles(history, "btc", interval, limit) == data[-limit:]


async def test_candles_cover_the_history(history: Client) -> None:
    # Two days back: hours from the start, five-minute buckets for the last day, minutes for 6h.
    assert len(await candles(history, "ETH", "1h", 1000)) == 2 * 24 + 1
    assert len(await candles(history, "ETH", "5m", 1000)) == 24 * 12 + 1
    assert len(await candles(history, "ETH", "1m", 1000)) == 6 * 60 + 1
    assert len(await candles(history, "ETH", "1d", 1000)) == 3


async def test_candles_defaults(history: Client) -> None:
    status, body = await get(history, f"{ASSETS}/eth/candles")
    assert status == 200
    assert (body["asset_id"], body["interval"]) == ("ETH", "1h")
    assert body["data"] == await candles(history, "ETH", "1h", 1000)
    status, body = await get(history, f"{ASSETS}/ETH/candles", query_string={"interval": "5m"})
    assert status == 200
    assert body["data"] == (await candles(history, "ETH", "5m", 1000))[-100:]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"interval": "2m"}, "interval"),
        ({"interval": "1H"}, "interval"),
        ({"interval": "1w"}, "interval"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_candles_bad_query_is_422(client: Client, query: dict[str, str], field: str) -> None:
    status, body = await get(client, f"{ASSETS}/BTC/candles", query_string=query)
    assert_field_error(status, body, ["query", field])


# The badge


async def test_image_is_well_formed_svg_with_the_symbol(client: Client) -> None:
    for asset in await every_asset(client):
        response = await client.get(urlsplit(asset["image"]).path)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        text = await response.get_data(as_text=True)
        root = ET.fromstring(text)  # noqa: S314 - our own output
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
        assert texts == [asset["asset_id"]]
    lower = await client.get(f"{ASSETS}/btc/image.svg")
    assert lower.status_code == 200
    assert "BTC" in await lower.get_data(as_text=True)


BTC_IMAGE = f"{ASSETS}/BTC/image.svg"


@asynccontextmanager
async def behind_proxy(tmp_path: Path, trusted: str) -> AsyncIterator[Client]:
    """A client of an app that trusts the proxies in ``trusted``."""
    async with open_exchange(engine_settings(tmp_path, tick_interval=3600.0)) as exchange:
        app = create_app(exchange, web_settings(trusted_proxies=trusted))
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app:
            yield test_app.test_client()


async def images(client: Client, headers: dict[str, str], peer: str) -> tuple[str, str]:
    """The BTC image of the list and of the detail, as that peer sees them."""
    scope = {"client": (peer, 40000)}
    query = {"limit": "1"}
    listed = await client.get(ASSETS, headers=headers, scope_base=scope, query_string=query)
    one = await client.get(f"{ASSETS}/BTC", headers=headers, scope_base=scope)
    return (await listed.get_json())["data"][0]["image"], (await one.get_json())["data"]["image"]


FORWARDED = {
    "Host": "10.0.0.2:8080",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "markets.example.org",
    "X-Forwarded-Prefix": "/exchange/",
}


async def test_image_urls_honour_a_trusted_proxy(tmp_path: Path) -> None:
    async with behind_proxy(tmp_path, "10.0.0.0/8") as client:
        expected = f"https://markets.example.org/exchange{BTC_IMAGE}"
        assert await images(client, FORWARDED, "10.0.0.1") == (expected, expected)
        # Anyone else's forwarded headers are ignored: the request's own scheme and host count.
        direct = f"http://10.0.0.2:8080{BTC_IMAGE}"
        assert await images(client, FORWARDED, "203.0.113.5") == (direct, direct)
        # Of a list, the value the trusted peer wrote (the right-most) counts.
        chained = {**FORWARDED, "X-Forwarded-Host": "evil.example, markets.example.org"}
        assert (await images(client, chained, "10.0.0.1"))[0] == expected


async def test_forwarded_headers_are_ignored_without_trusted_proxies(client: Client) -> None:
    listed, one = await images(client, FORWARDED, "127.0.0.1")
    assert listed == one == f"http://10.0.0.2:8080{BTC_IMAGE}"


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("X-Forwarded-Host", "bad host/<x>", f"https://10.0.0.2:8080/p{BTC_IMAGE}"),
        ("X-Forwarded-Proto", "javascript", f"http://markets.example.org/p{BTC_IMAGE}"),
        ("X-Forwarded-Prefix", "/../admin", f"https://markets.example.org{BTC_IMAGE}"),
        ("X-Forwarded-Prefix", "/a?b=1", f"https://markets.example.org{BTC_IMAGE}"),
        ("Host", "bad host", f"https://markets.example.org/p{BTC_IMAGE}"),
    ],
)
async def test_malformed_forwarded_values_are_ignored(
    tmp_path: Path, header: str, value: str, expected: str
) -> None:
    headers = {**FORWARDED, "X-Forwarded-Prefix": "/p", header: value}
    async with behind_proxy(tmp_path, "10.0.0.1") as client:
        assert await images(client, headers, "10.0.0.1") == (expected, expected)


async def test_a_malformed_host_leaves_the_image_a_path(client: Client) -> None:
    assert await images(client, {"Host": "bad host"}, "127.0.0.1") == (BTC_IMAGE, BTC_IMAGE)


async def test_each_host_gets_its_own_cached_list(client: Client) -> None:
    for _ in range(2):
        for host in ("a.example:8080", "b.example", "[::1]:8080"):
            listed, _ = await images(client, {"Host": host}, "127.0.0.1")
            assert listed == f"http://{host}{BTC_IMAGE}"


# The catalogue file


def test_catalogue_is_big_enough_and_btc_fits_the_order_cap() -> None:
    assets = load_catalogue()
    assert len(assets) >= 100
    btc = next(asset for asset in assets if asset.asset_id == "BTC")
    # 0.1 BTC at the reference price must fit a $10,000 deposit (prices in 1e-8 USD).
    assert btc.reference_price // 10 <= 10_000 * 10**8
    assert [asset.market_cap_rank for asset in assets] == sorted(a.market_cap_rank for a in assets)


async def test_btc_is_affordable_through_the_api(client: Client) -> None:
    btc = await detail(client, "BTC")
    assert 0 < btc["price_usd"] * 0.1 <= 10_000


def broken(tmp_path: Path, change: Any) -> Path:
    """A copy of the shipped catalogue with ``change`` applied to its decoded JSON."""
    document = json.loads(CATALOGUE.read_text())
    change(document["assets"])
    path = tmp_path / "assets.json"
    path.write_text(json.dumps(document))
    return path


def _set(index: int, field: str, value: object) -> Any:
    def change(assets: list[dict[str, Any]]) -> None:
        assets[index][field] = value

    return change


def _drop(index: int, field: str) -> Any:
    def change(assets: list[dict[str, Any]]) -> None:
        del assets[index][field]

    return change


ENTRIES = json.loads(CATALOGUE.read_text())["assets"]


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (_set(1, "asset_id", "BTC"), ["entry 1 (BTC)", "'asset_id'", "entry 0"]),
        (_set(5, "market_cap_rank", 1), [f"entry 5 ({ENTRIES[5]['asset_id']})", "market_cap_rank"]),
        (
            _set(3, "reference_price", "-5"),
            [f"entry 3 ({ENTRIES[3]['asset_id']})", "reference_price"],
        ),
        (
            _set(3, "reference_price", "0"),
            [f"entry 3 ({ENTRIES[3]['asset_id']})", "reference_price"],
        ),
        (_set(2, "ath_date", "2025-13-01"), [f"entry 2 ({ENTRIES[2]['asset_id']})", "ath_date"]),
        (_set(7, "atl_date", "yesterday"), [f"entry 7 ({ENTRIES[7]['asset_id']})", "atl_date"]),
        (_set(4, "model", "brownian"), [f"entry 4 ({ENTRIES[4]['asset_id']})", "'model'"]),
        (_set(4, "volatility", "wild"), [f"entry 4 ({ENTRIES[4]['asset_id']})", "volatility"]),
        (_set(6, "asset_id", "eth"), ["entry 6 (eth)", "asset_id"]),
        (_set(6, "name", "<b>x</b>"), [f"entry 6 ({ENTRIES[6]['asset_id']})", "'name'"]),
        (_set(8, "total_supply", "1"), [f"entry 8 ({ENTRIES[8]['asset_id']})", "total_supply"]),
        (_set(8, "circulating_supply", "abc"), ["entry 8", "circulating_supply"]),
        (_set(9, "market_cap_rank", 0), ["entry 9", "market_cap_rank"]),
        (_set(9, "market_cap_rank", "1"), ["$.assets[9]", "market_cap_rank"]),
        (_set(10, "colour", "red"), ["$.assets[10]", "colour"]),
        (_drop(11, "ath"), ["$.assets[11]", "ath"]),
    ],
)
def test_a_bad_catalogue_names_the_entry_and_field(
    tmp_path: Path, change: Any, fragments: list[str]
) -> None:
    path = broken(tmp_path, change)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert str(path) in message
    # The exchange refuses to start on it, with the same message.
    with pytest.raises(CatalogueError, match=re.escape(message)):
        Exchange(engine_settings(tmp_path, catalogue=str(path)))


def test_an_unreadable_or_empty_catalogue_stops_start_up(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(CatalogueError, match="cannot read"):
        Exchange(engine_settings(tmp_path, catalogue=str(missing)))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(CatalogueError, match="not valid JSON"):
        load_catalogue(garbage)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": 1, "assets": []}))
    with pytest.raises(CatalogueError, match="no assets"):
        load_catalogue(empty)


async def test_sparklines_of_every_active_asset_thinned(tmp_path: Path) -> None:
    async with serving(tmp_path, history_days=8) as (exchange, client):
        response = await client.get("/api/v1/inventory/sparklines?points=10")
        assert response.status_code == 200
        body = await response.get_json()
        assert body["points"] == 10
        active = [m for m in exchange.feed.markets.values() if m.active]
        assert set(body["data"]) == {m.asset.asset_id for m in active}
        btc = exchange.market("BTC").stats().sparkline_7d
        assert len(btc) == 168
        assert len(body["data"]["BTC"]) == 10
        assert body["data"]["BTC"][0] == btc[0] / 1e8
        assert body["data"]["BTC"][-1] == btc[-1] / 1e8
        bad = await client.get("/api/v1/inventory/sparklines?points=1")
        assert bad.status_code == 422
        assert (await bad.get_json())["detail"][0]["loc"] == ["query", "points"]
