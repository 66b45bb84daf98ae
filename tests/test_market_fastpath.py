"""The feed's per-tick fast path gives the same prices and candles as stepping one at a time."""

from __future__ import annotations

from exchange.catalogue import load_catalogue
from exchange.market import ALL_WIDTHS, Market
from exchange.pricemodel import Regime, Stepper, step, stream
from exchange.series import INTERVALS, Series


def test_stepper_is_step_for_every_model_kind() -> None:
    assets = {a.model: a for a in load_catalogue()}
    for kind in ("gbm", "jump", "peg"):
        market = Market(assets[kind], stream(1, kind))
        slow, fast = market.state, market.state
        rng_slow, rng_fast = stream(2, kind), stream(2, kind)
        for regime in (Regime.CALM, Regime.CRASH):
            stepper = Stepper(market.params, 1.0, regime)
            for _ in range(5000):
                slow = step(market.params, slow, rng_slow, 1.0, regime)
                fast = stepper(fast, rng_fast)
                assert fast == slow


def test_candles_of_the_fast_path_match_recording_every_width() -> None:
    asset = next(a for a in load_catalogue() if a.model == "jump")
    market = Market(asset, stream(3, "x"))
    reference = {name: Series(INTERVALS[name], 2000) for name in INTERVALS}
    at = 1_773_489_600.0 + 17.0
    for tick in range(3 * 3600):
        at += 1.0
        regime = Regime.CRASH if tick > 5000 else Regime.CALM
        market.advance(at, 1.0, regime, ALL_WIDTHS)
        for series in reference.values():
            series.record(at, market.price)
        if tick % 997 == 0:  # reading mid-minute sees the wide candles up to date
            for name, series in reference.items():
                assert list(market.series[name]) == list(series), name
    for name, series in reference.items():
        assert list(market.series[name]) == list(series), name
    assert market.updated_at == at
