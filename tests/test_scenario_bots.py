"""Each bot kind on a constructed price path: what it asks for, and when."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from scenarios.bots import BOT_KINDS, Bot
from scenarios.strategy import Buy, Sell, View

IN_PLAY = ("BTC", "ETH")


def make(kind: str, **params: Any) -> Bot:
    checked = BOT_KINDS[kind].check_params(params, IN_PLAY, 86_400)
    assert not checked.problems
    return BOT_KINDS[kind](checked.values, random.Random(1), 1.0)


def view(
    tick: int, path: Sequence[float], cash: float = 10_000, held: float = 0.0, asset: str = "BTC"
) -> View:
    """The view at ``tick`` of a path of prices of one asset (index = tick)."""

    def price(name: str) -> float | None:
        return path[tick] if name == asset else None

    def history(name: str, count: int) -> Sequence[float]:
        return path[max(0, tick + 1 - count) : tick + 1] if name == asset else ()

    return View(tick, float(tick), price, history, cash, {asset: held} if held else {}, ())


def test_noise_trades_at_its_rate_from_its_own_stream() -> None:
    bot = make("noise", assets=["BTC"], rate=0.25, usd_min=100, usd_max=100)
    path = [100.0] * 2000
    orders = [bot.on_tick(view(t, path, held=5.0)) for t in range(2000)]
    sent = [o for o in orders if o]
    assert 400 < len(sent) < 600  # a quarter of the ticks
    sides = {type(o[0]) for o in sent}
    assert sides == {Buy, Sell}
    again = make("noise", assets=["BTC"], rate=0.25, usd_min=100, usd_max=100)
    assert [again.on_tick(view(t, path, held=5.0)) for t in range(2000)] == orders


def test_noise_with_nothing_held_only_buys_what_it_can_afford() -> None:
    bot = make("noise", assets=["BTC"], rate=1.0, usd_min=500, usd_max=500)
    orders = [bot.on_tick(view(t, [100.0] * 50, cash=100)) for t in range(50)]
    assert all(o == [Buy("BTC", usd=98.0)] for o in orders)


def test_momentum_buys_a_rise_and_sells_a_fall() -> None:
    bot = make("momentum", assets=["BTC"], lookback=10, threshold=1.0, usd=500, every=1)
    bot.values["threshold"] = 1.0  # exact, without the per-bot spread
    rising = [100.0 + t * 0.2 for t in range(30)]
    assert bot.on_tick(view(5, rising)) == []  # not enough history yet
    assert bot.on_tick(view(20, rising)) == [Buy("BTC", usd=500.0)]
    flat = [100.0] * 30
    assert bot.on_tick(view(20, flat, held=1.0)) == []
    falling = [100.0 - t * 0.2 for t in range(30)]
    assert bot.on_tick(view(20, falling, held=1.0)) == [Sell("BTC")]
    assert bot.on_tick(view(20, falling)) == []  # nothing to sell


def test_momentum_looks_only_every_period_at_its_phase() -> None:
    bot = make("momentum", assets=["BTC"], lookback=5, threshold=0.1, every=60)
    bot.spread_out()
    rising = [100.0 + t for t in range(400)]
    looked = [t for t in range(100, 400) if bot.on_tick(view(t, rising))]
    assert looked and all(t % 60 == bot.phase for t in looked)
    assert 0.8 * 0.1 <= bot.values["threshold"] <= 1.2 * 0.1


def test_mean_reversion_buys_below_the_average_and_sells_above() -> None:
    bot = make("mean_reversion", assets=["BTC"], window=20, threshold=2.0, usd=300, every=1)
    dip = [100.0] * 19 + [95.0]
    assert bot.on_tick(view(19, dip)) == [Buy("BTC", usd=300.0)]
    spike = [100.0] * 19 + [106.0]
    assert bot.on_tick(view(19, spike, held=2.0)) == [Sell("BTC")]
    small = [100.0] * 19 + [101.0]
    assert bot.on_tick(view(19, small, held=2.0)) == []


def test_dca_buys_on_schedule_until_cash_runs_out() -> None:
    bot = make("dca", asset="ETH", usd=100, every=10)
    path = [2000.0] * 100
    buys = [t for t in range(100) if bot.on_tick(view(t, path, asset="ETH"))]
    assert buys == list(range(0, 100, 10))
    assert bot.on_tick(view(10, path, cash=0.5, asset="ETH")) is None


def test_panic_buys_then_sells_into_a_drawdown_and_buys_back() -> None:
    bot = make("panic", asset="BTC", usd=1000, drawdown=10, rebuy=5)
    path = [100.0, 110.0, 105.0, 98.0, 95.0, 99.0, 100.0]
    assert bot.on_start(view(0, path)) == [Buy("BTC", usd=1000.0)]
    assert bot.on_tick(view(1, path, held=10)) is None  # the peak: 110
    assert bot.on_tick(view(2, path, held=10)) is None  # -4.5%
    assert bot.on_tick(view(3, path, held=10)) == [Sell("BTC")]  # -10.9%
    assert bot.on_tick(view(4, path)) is None  # out; the low is 95
    assert bot.on_tick(view(5, path)) is None  # +4.2% from the low
    assert bot.on_tick(view(6, path)) == [Buy("BTC", usd=1000.0)]  # +5.3%


def test_whale_trades_its_schedule_in_equal_parts() -> None:
    orders = [
        {"at": 10, "side": "buy", "usd": 3000, "asset": "BTC", "over": 3},
        {"at": 20, "side": "sell", "usd": 1000, "asset": "BTC"},
    ]
    bot = make("whale", orders=orders)
    path = [100.0] * 30
    sent = {t: bot.on_tick(view(t, path, cash=1e6, held=5)) for t in range(30)}
    assert {t: o for t, o in sent.items() if o} == {
        10: [Buy("BTC", usd=1000.0)],
        11: [Buy("BTC", usd=1000.0)],
        12: [Buy("BTC", usd=1000.0)],
        20: [Sell("BTC", quantity=5.0)],  # wants $1000 = 10 units, holds 5
    }
