"""The price feed without HTTP: candles, determinism, exact tick times, restarts and regimes."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from exchange.engine import Exchange, open_exchange
from exchange.market import SavedMarket
from exchange.money import parse_price
from exchange.pricefeed import Frame
from exchange.pricemodel import Regime
from exchange.series import INTERVALS, Candle, Series
from tests.conftest import START_EPOCH, engine_settings

CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "assets.json"
ENTRIES: list[dict[str, Any]] = json.loads(CATALOGUE.read_text())["assets"]
PEGS = [entry["asset_id"] for entry in ENTRIES if entry["model"] == "peg"]
DAY = 86_400


def catalogue(directory: Path, entries: list[dict[str, Any]]) -> str:
    """A catalogue file holding ``entries``."""
    path = directory / "catalogue.json"
    path.write_text(json.dumps({"version": 1, "assets": entries}))
    return str(path)


def subdirectory(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    return path


@asynccontextmanager
async def collecting(
    exchange: Exchange, size: int = 100_000
) -> AsyncIterator[tuple[list[Frame], list[float]]]:
    """Every frame the feed publishes while the block runs, and the trio time it arrived."""
    frames: list[Frame] = []
    times: list[float] = []
    subscription = exchange.feed.subscribe(size)

    async def read() -> None:
        async for frame in subscription.items:
            frames.append(frame)
            times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        try:
            yield frames, times
        finally:
            exchange.feed.unsubscribe(subscription)
            nursery.cancel_scope.cancel()


def paths(frames: list[Frame], start: dict[str, int]) -> dict[str, list[int]]:
    """Each asset's price after every frame, from its price before the first."""
    book = dict(start)
    result: dict[str, list[int]] = {asset_id: [] for asset_id in book}
    for frame in frames:
        book.update(frame.prices)
        for asset_id, price in book.items():
            result[asset_id].append(price)
    return result


def prices_of(exchange: Exchange) -> dict[str, int]:
    return {asset_id: market.price for asset_id, market in exchange.feed.markets.items()}


# Candle series


def test_series_aggregates_prices_into_candles() -> None:
    series = Series(60, 10)
    assert series.bucket(1019.9) == 960
    assert series.record(1000.0, 100) is None
    assert list(series) == [Candle(960, 100, 100, 100, 100)]
    for at, price in ((1001.0, 120), (1010.0, 90), (1019.5, 110)):
        assert series.record(at, price) is None
    assert series[-1] == Candle(960, 100, 120, 90, 110)
    # A new bucket closes the last one and opens at its close, so candles join up.
    assert series.record(1020.0, 105) == Candle(960, 100, 120, 90, 110)
    assert series[-1] == Candle(1020, 110, 110, 105, 105)
    # A price older than the newest bucket is ignored.
    assert series.record(1000.0, 1) is None
    assert list(series) == [Candle(960, 100, 120, 90, 110), Candle(1020, 110, 110, 105, 105)]
    # A quiet stretch leaves no empty candles; the next one still opens at the last close.
    assert series.record(1210.0, 130) == Candle(1020, 110, 110, 105, 105)
    assert series[-1] == Candle(1200, 105, 130, 105, 130)
    assert [candle.start for candle in series] == [960, 1020, 1200]
    assert len(series) == 3


def test_series_ring_keeps_the_newest() -> None:
    series = Series(60, 3)
    for minute, price in enumerate([10, 20, 30, 40, 50, 60, 70]):
        series.record(minute * 60.0 + 1, price)
    assert len(series) == 3
    assert list(series) == [
        Candle(240, 40, 50, 40, 50),
        Candle(300, 50, 60, 50, 60),
        Candle(360, 60, 70, 60, 70),
    ]
    assert list(series.rows()) == [tuple(candle) for candle in series]
    assert series[0] == series[-3] and series[2] == series[-1]
    with pytest.raises(IndexError):
        series[3]
    assert series.latest(2) == list(series)[-2:]
    assert series.latest(100) == list(series)
    assert series.since(300) == list(series)[1:]
    assert series.since(301) == list(series)[2:]
    assert series.since(0) == list(series)


def test_series_lookups() -> None:
    series = Series(60, 4)
    for at, price in ((0.0, 10), (30.0, 14), (60.0, 8), (90.0, 9), (120.0, 20), (150.0, 5)):
        series.record(at, price)
    # Candles: [0: 10 14 10 14], [60: 14 14 8 9], [120: 9 20 5 5]
    assert list(series) == [
        Candle(0, 10, 14, 10, 14),
        Candle(60, 14, 14, 8, 9),
        Candle(120, 9, 20, 5, 5),
    ]
    assert series.close_at(-1) is None
    assert series.close_at(0) == 14
    assert series.close_at(59.9) == 14
    assert series.close_at(60) == 9
    assert series.close_at(10**9) == 5
    assert series.range_since(0) == (20, 5)
    assert series.range_since(60) == (20, 5)
    assert series.range_since(61) == (20, 5)
    assert series.range_since(121) is None
    assert Series(60, 4).range_since(0) is None
    assert series.closes_since(60) == [9, 5]
    assert series.closes_since(1) == [9, 5]
    assert series.closes_since(0) == [14, 9, 5]
    assert series.closes_since(500) == []


def test_series_load_replaces_and_keeps_the_newest() -> None:
    series = Series(60, 3)
    for minute in range(5):  # wrap the ring first
        series.record(minute * 60.0, 100 + minute)
    rows = [(start, 1, 3, 1, 2) for start in range(0, 300, 60)]
    series.load(rows)
    assert list(series.rows()) == rows[-3:]
    # Recording goes on from the loaded candles.
    assert series.record(250.0, 7) is None
    assert series[-1] == Candle(240, 1, 7, 1, 7)
    assert series.record(300.0, 9) == Candle(240, 1, 7, 1, 7)
    assert series[-1] == Candle(300, 7, 9, 7, 9)
    assert [candle.start for candle in series] == [180, 240, 300]
    series.load([])
    assert len(series) == 0 and list(series) == []
    assert series.close_at(1000) is None


def reference_candles(
    width: int, capacity: int, events: list[tuple[float, int]]
) -> list[tuple[int, int, int, int, int]]:
    """What a series must hold after ``events``, computed the plain way."""
    candles: list[tuple[int, int, int, int, int]] = []
    for at, price in events:
        start = int(at // width) * width
        if candles and start < candles[-1][0]:
            continue
        if candles and start == candles[-1][0]:
            s, o, h, lo, _ = candles[-1]
            candles[-1] = (s, o, max(h, price), min(lo, price), price)
        elif candles:
            before = candles[-1][4]
            candles.append((start, before, max(before, price), min(before, price), price))
        else:
            candles.append((start, price, price, price, price))
    return candles[-capacity:]


@given(
    capacity=st.integers(1, 6),
    events=st.lists(
        st.tuples(st.floats(0, 1000, allow_nan=False), st.integers(1, 10**12)), max_size=60
    ),
)
def test_series_matches_a_plain_aggregation(capacity: int, events: list[tuple[float, int]]) -> None:
    series = Series(60, capacity)
    for at, price in events:
        series.record(at, price)
    assert list(series.rows()) == reference_candles(60, capacity, events)


@given(
    first=st.floats(0, 10_000, allow_nan=False),
    dt=st.sampled_from([1.0, 7.5, 60.0, 300.0]),
    prices=st.lists(st.integers(1, 10**9), min_size=1, max_size=80),
)
def test_series_record_path_equals_recording_one_by_one(
    first: float, dt: float, prices: list[int]
) -> None:
    one, many = Series(300, 8), Series(300, 8)
    for index, price in enumerate(prices):
        one.record(first + index * dt, price)
    many.record_path(first, dt, prices)
    assert list(one.rows()) == list(many.rows())


# The feed in virtual time


async def test_ticks_land_at_exact_virtual_times(tmp_path: Path, autojump_clock: object) -> None:
    interval = 2.5
    async with open_exchange(engine_settings(tmp_path, tick_interval=interval)) as exchange:
        started = trio.current_time()
        async with collecting(exchange) as (frames, times):
            await trio.sleep(10.25 * interval)
        assert [frame.seq for frame in frames] == list(range(1, 11))
        for n, (frame, at) in enumerate(zip(frames, times, strict=True), start=1):
            assert at - started == pytest.approx(n * interval, abs=1e-9)
            assert frame.time == pytest.approx(START_EPOCH + n * interval, abs=1e-6)
        assert exchange.feed.ticked_at == frames[-1].time


async def test_same_seed_same_path_and_another_seed_differs(
    tmp_path: Path, autojump_clock: object
) -> None:
    runs: list[tuple[list[Frame], dict[str, list[tuple[int, int, int, int, int]]]]] = []
    for name, seed in (("a", 42), ("b", 42), ("c", 43)):
        settings = engine_settings(
            subdirectory(tmp_path, name), seed=seed, tick_interval=1.0, history_days=1
        )
        async with open_exchange(settings) as exchange:
            history = {
                asset_id: list(market.series["1h"].rows())
                for asset_id, market in exchange.feed.markets.items()
            }
            async with collecting(exchange) as (frames, _):
                await trio.sleep(30.5)
        runs.append((frames, history))
    (first, first_history), (second, second_history), (other, other_history) = runs
    assert len(first) == len(second) == 30
    assert [(f.seq, f.time, f.prices) for f in first] == [(f.seq, f.time, f.prices) for f in second]
    assert first_history == second_history
    assert [f.prices for f in other] != [f.prices for f in first]
    assert other_history != first_history
    differing = [a for a in first_history if first_history[a] != other_history[a]]
    assert len(differing) > len(first_history) * 0.9


async def test_restart_continues_prices_seq_candles_and_records(
    tmp_path: Path, autojump_clock: object
) -> None:
    # BTC's records start at its reference price, so the history and the run set new ones.
    entries = [dict(entry) for entry in ENTRIES]
    btc = entries[0]
    assert btc["asset_id"] == "BTC"
    btc["ath"] = btc["atl"] = btc["reference_price"]
    path = catalogue(tmp_path, entries)
    first_settings = engine_settings(tmp_path, catalogue=path, tick_interval=1.0, history_days=1)
    async with open_exchange(first_settings) as exchange:
        feed = exchange.feed
        start = prices_of(exchange)
        async with collecting(exchange) as (frames, _):
            await trio.sleep(60.5)
            exchange.set_regime(Regime.BEAR)
            await trio.sleep(65.0)
        ended_at = frames[-1].time
        assert feed.seq == 125
        (saved_seq, saved_regime) = exchange.store.read("SELECT seq, regime FROM feed")[0]
        saved = {
            row[0]: SavedMarket(*row)
            for row in exchange.store.read(
                "SELECT asset_id, price, deviation, ath, ath_date, atl, atl_date, updated_at "
                "FROM markets"
            )
        }
        series = {
            (asset_id, name): list(market.series[name].rows())
            for asset_id, market in feed.markets.items()
            for name in INTERVALS
        }
    # The sequence number is saved every tick; prices as each minute closes (tick 120, 12:02:00).
    assert (saved_seq, saved_regime) == (125, "bear")
    book = paths(frames[:120], start)
    at_save = {asset_id: path[-1] for asset_id, path in book.items()}
    assert {asset_id: s.price for asset_id, s in saved.items()} == at_save
    assert saved["BTC"].ath > parse_price(btc["reference_price"])
    assert saved["BTC"].atl < parse_price(btc["reference_price"])
    assert saved["BTC"].ath_date != f"{ENTRIES[0]['ath_date']}T00:00:00Z"

    # Ten minutes later the exchange starts again on the same file.
    second_settings = engine_settings(
        tmp_path,
        catalogue=path,
        tick_interval=1.0,
        history_days=1,
        start_epoch=START_EPOCH + 600,
    )
    async with open_exchange(second_settings) as exchange:
        feed = exchange.feed
        assert feed.seq == saved_seq
        assert feed.regime == Regime.BEAR
        assert prices_of(exchange) == at_save
        for asset_id, market in feed.markets.items():
            record = saved[asset_id]
            assert (market.ath, market.ath_date, market.atl, market.atl_date) == (
                record.ath,
                record.ath_date,
                record.atl,
                record.atl_date,
            )
            for name, width in INTERVALS.items():
                # Every candle closed before the stop is back, as it was.
                closed = [row for row in series[asset_id, name] if row[0] + width <= ended_at]
                reloaded = list(market.series[name].rows())
                assert reloaded[: len(closed)] == closed, (asset_id, name)
        async with collecting(exchange) as (frames, _):
            await trio.sleep(3.5)
    assert [frame.seq for frame in frames] == [saved_seq + 1, saved_seq + 2, saved_seq + 3]
    assert frames[0].time == pytest.approx(START_EPOCH + 601)
    after = paths(frames, at_save)
    for asset_id, before in at_save.items():
        # One second on: every price is within a hair of where it stopped.
        assert abs(after[asset_id][0] / before - 1) < 0.02, asset_id
    moved = [asset_id for asset_id in at_save if after[asset_id][0] != at_save[asset_id]]
    assert len(moved) > len(at_save) // 2


async def test_pegs_hold_their_band_over_a_long_run(tmp_path: Path, autojump_clock: object) -> None:
    entries = [entry for entry in ENTRIES if entry["model"] == "peg" or entry["asset_id"] == "BTC"]
    settings = engine_settings(tmp_path, catalogue=catalogue(tmp_path, entries), tick_interval=60.0)
    async with open_exchange(settings) as exchange:
        references = {a: m.asset.reference_price for a, m in exchange.feed.markets.items()}
        start = prices_of(exchange)
        async with collecting(exchange) as (frames, _):
            await trio.sleep(1500.5 * 60)
            # Wilder markets: pegs ignore the drift, but not the extra volatility.
            exchange.set_regime(Regime.CRASH)
            await trio.sleep(1500 * 60)
    assert len(frames) == 3000
    book = paths(frames, start)
    for asset_id in PEGS:
        path, reference = book[asset_id], references[asset_id]
        assert max(path) <= reference * 1.002, asset_id
        assert min(path) >= reference * 0.998, asset_id
        # Over 25 hours of calm (many reversion times) the peg averages out at its reference.
        assert abs(statistics.fmean(path[:1500]) / reference - 1) < 0.0005, asset_id
        assert len(set(path)) > 100, "a peg wobbles"
    usdt = book["USDT"]
    assert min(usdt) / 10**8 >= 0.998 and max(usdt) / 10**8 <= 1.002
    # BTC, meanwhile, is free to wander beyond any such band.
    assert max(book["BTC"]) / min(book["BTC"]) > 1.004


async def test_prices_revert_towards_their_reference(
    tmp_path: Path, autojump_clock: object
) -> None:
    entries = [entry for entry in ENTRIES if entry["model"] == "gbm"]
    settings = engine_settings(
        tmp_path, catalogue=catalogue(tmp_path, entries), tick_interval=6 * 3600.0
    )
    async with open_exchange(settings) as exchange:
        for market in exchange.feed.markets.values():
            # Continue from a state twice the reference price, as after a restart.
            saved = market.saved()
            doubled = 2 * market.asset.reference_price
            market.restore(
                SavedMarket(
                    saved.asset_id,
                    doubled,
                    math.log(2),
                    max(saved.ath, doubled),
                    saved.ath_date,
                    saved.atl,
                    saved.atl_date,
                    saved.updated_at,
                )
            )
        await trio.sleep(30 * DAY + 1)
        assert exchange.feed.seq == 30 * 4
        deviations = [
            math.log(market.price / market.asset.reference_price)
            for market in exchange.feed.markets.values()
        ]
    # A two-week half-life: after a month, log 2 (0.69) decays to about 0.15 on average.
    assert 0.05 < statistics.median(deviations) < 0.3
    assert sum(d < math.log(2) for d in deviations) >= 0.9 * len(deviations)


async def test_a_crash_drives_prices_down_against_calm(
    tmp_path: Path, autojump_clock: object
) -> None:
    moves: dict[Regime, list[float]] = {}
    for regime in (Regime.CALM, Regime.CRASH):
        settings = engine_settings(
            subdirectory(tmp_path, regime.value), seed=5, tick_interval=3600.0
        )
        async with open_exchange(settings) as exchange:
            exchange.set_regime(regime)
            start = prices_of(exchange)
            await trio.sleep(2 * DAY + 1)
            assert exchange.feed.seq == 48
            drifting = [a for a, m in exchange.feed.markets.items() if m.asset.model != "peg"]
            end = prices_of(exchange)
            moves[regime] = [math.log(end[a] / start[a]) for a in drifting]
            pegs = [a for a, m in exchange.feed.markets.items() if m.asset.model == "peg"]
            for asset_id in pegs:
                assert abs(end[asset_id] / start[asset_id] - 1) < 0.005
    calm, crash = statistics.fmean(moves[Regime.CALM]), statistics.fmean(moves[Regime.CRASH])
    # Two days of a crash's drift (-8%/day on log price) against none.
    assert crash < -0.08
    assert crash < calm - 0.08
    assert abs(calm) < 0.05
    down = sum(c < k for c, k in zip(moves[Regime.CRASH], moves[Regime.CALM], strict=True))
    assert down > 0.8 * len(moves[Regime.CALM])
