"""Stepping on demand (offline runs) gives exactly the path, candles and records of every tick.

A feed on demand steps an asset only when it is read, steered, nudged or has resting orders,
and pays the ticks it owes with ``walk_deviations`` at each write; the inline draws and the
batch recording must give what stepping each asset at each tick gives, whoever reads when.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import trio

from exchange.catalogue import load_catalogue
from exchange.control import Action, Halt, Pause, Resume, ResumeAsset, SetRegime, Shock
from exchange.engine import Exchange, open_exchange
from exchange.impact import ImpactRule
from exchange.market import Market
from exchange.pricemodel import Pricer, Regime, Stepper, stream, walk, walk_deviations
from exchange.users import NewUser
from tests.conftest import engine_settings

CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "assets.json"
ENTRIES: list[dict[str, Any]] = json.loads(CATALOGUE.read_text())["assets"]


def test_walk_is_the_stepper_in_any_chunks_with_a_spare_draw_pending() -> None:
    assets = {a.model: a for a in load_catalogue()}
    chunks = random.Random(3)
    for kind in ("gbm", "jump", "peg"):
        market = Market(assets[kind], stream(1, kind))
        slow = fast = market.state
        rng_slow, rng_fast = stream(5, kind), stream(5, kind)
        rng_slow.gauss(0.0, 1.0)
        rng_fast.gauss(0.0, 1.0)  # a spare normal is pending in both
        for regime in (Regime.CALM, Regime.CRASH, Regime.BULL):
            stepper = Stepper(market.params, 1.0, regime)
            for _ in range(200):
                count = chunks.randrange(1, 80)
                one_by_one = []
                for _ in range(count):
                    slow = stepper(slow, rng_slow)
                    one_by_one.append(slow.price)
                fast, prices = walk(market.params, fast, rng_fast, 1.0, count, regime)
                assert prices == one_by_one, (kind, regime)
                assert fast == slow
        # Both streams are left in the same place, spare draw included.
        assert rng_slow.gauss(0.0, 1.0) == rng_fast.gauss(0.0, 1.0)
        assert rng_slow.random() == rng_fast.random()


def test_price_is_non_decreasing_in_the_deviation() -> None:
    for asset in load_catalogue()[:40]:
        market = Market(asset, stream(2, asset.asset_id))
        path = sorted(
            walk_deviations(market.params, market.state, stream(4, "x"), 60.0, 2000, Regime.CRASH)
        )
        price = Pricer(market.params)
        prices = [price(deviation) for deviation in path]
        assert prices == sorted(prices)


def _entries() -> list[dict[str, Any]]:
    by_model: dict[str, list[dict[str, Any]]] = {}
    for entry in ENTRIES:
        by_model.setdefault(entry["model"], []).append(entry)
    chosen = [dict(entry) for model in sorted(by_model) for entry in by_model[model][:4]]
    for entry in chosen[::2]:
        # Records at the reference price: the path sets new ones, and their dates, all along.
        entry["ath"] = entry["atl"] = entry["reference_price"]
    return chosen


async def _run(tmp_path: Path, on_demand: bool) -> dict[str, Any]:
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"version": 1, "assets": _entries()}))
    settings = engine_settings(
        tmp_path,
        catalogue=str(path),
        tick_interval=1.0,
        history_days=1,
        seed=9,
        feed_write_ticks=60,
        feed_on_demand=on_demand,
    )
    reads = random.Random(11)
    async with open_exchange(settings) as exchange:
        await exchange.register(NewUser("teacher", "t@example.com", "!", "T", "T", role="bot"))
        assets = list(exchange.feed.markets)
        jumpy = next(a for a in assets if exchange.feed.markets[a].asset.model == "jump")
        exchange.impact.set_rules({jumpy: ImpactRule(50_000.0, 120.0)})
        script: dict[int, Action] = {
            300: SetRegime("crash"),
            900: Shock(-20.0, "Sell-off", None, None, 30.0, 600.0),
            1700: Halt(assets[1], "Halted"),
            1750: Pause("Lunch", freeze_prices=True),
            1800: Resume(),
            1900: ResumeAsset(assets[1]),
            2400: SetRegime("bull"),
        }
        start = trio.current_time()
        owed = 0
        for second in range(1, 3001):
            await trio.sleep_until(start + second - 0.5)
            action = script.get(second)
            if action is not None:
                await exchange.desk.submit(action, "teacher", None)
            if second % 500 == 250:
                exchange.impact.record(jumpy, 40_000.0 if second < 1500 else -30_000.0, second)
            # The on-demand feed must not care who reads, or when.
            if reads.random() < 0.05:
                _ = exchange.feed.markets[reads.choice(assets)].price
            if reads.random() < 0.01:
                _ = exchange.feed.markets[reads.choice(assets)].stats()
            owed = max(owed, exchange.feed.owed_ticks)
        # On demand, some ticks were owed and paid later; every tick is taken at once otherwise.
        assert (owed > 1) == on_demand
        await exchange.feed.flush()
        await exchange.store.barrier()
        return _state_of(exchange)


def _state_of(exchange: Exchange) -> dict[str, Any]:
    markets = exchange.feed.markets
    return {
        "prices": {a: m.price for a, m in markets.items()},
        "records": {a: (m.ath, m.ath_date, m.atl, m.atl_date) for a, m in markets.items()},
        "deviations": {a: m.state.deviation for a, m in markets.items()},
        "series": {
            a: {name: list(series.rows()) for name, series in m.series.items()}
            for a, m in markets.items()
        },
        "stats": {a: m.stats() for a, m in markets.items()},
        "candles": exchange.store.read(
            "SELECT asset_id, width, start, open, high, low, close FROM candles "
            "ORDER BY asset_id, width, start"
        ),
    }


async def test_a_feed_on_demand_gives_every_tick_s_path_candles_and_records(
    tmp_path: Path, autojump_clock: object
) -> None:
    (tmp_path / "eager").mkdir()
    (tmp_path / "lazy").mkdir()
    eager = await _run(tmp_path / "eager", on_demand=False)
    lazy = await _run(tmp_path / "lazy", on_demand=True)
    assert set(eager) == set(lazy)
    for key in eager:
        assert lazy[key] == eager[key], key
    # The story moved prices: a crash, a shock and a pause are in the path.
    assert any(len(set(rows["1m"])) > 40 for rows in eager["series"].values())
