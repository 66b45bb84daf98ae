"""Market control decisions, pure: shock shapes at tick boundaries, refusals, freezes."""

from __future__ import annotations

import math

import pytest

from exchange.control import (
    AssetHalted,
    Context,
    ControlState,
    Drive,
    Halt,
    MarketPaused,
    Pause,
    Resume,
    ResumeAsset,
    Shock,
    check_order,
    decide,
    plan,
)
from exchange.errors import Conflict
from exchange.pricemodel import initial_state, params_for, shift

ASSETS = {"BTC": "layer-1", "ETH": "layer-1", "DOGE": "meme"}
# A tick time far from zero, where float sums carry last-bit noise.
T0 = 1_773_489_600.1


def context(ticked_at: float = T0) -> Context:
    return Context(ASSETS, 1_000, ticked_at, 1.0, "teacher_01")


def test_a_spread_shock_is_linear_in_time_and_ticks_on_boundaries_count_as_on_them() -> None:
    drive = Drive("a", ("BTC",), math.log1p(-0.2), T0, 5.0, None)
    at = T0
    moves = []
    for _ in range(7):
        prev, at = at, at + 1.0  # accumulated, as the feed's tick times are
        tick = plan(ControlState(drives=(drive,)), prev, at)
        moves.append(tick.moves.get("BTC"))
    share = math.log1p(-0.2) / 5
    assert moves[:5] == pytest.approx([share] * 5, abs=1e-12)
    assert moves[5:] == [None, None], "done after five ticks: the walk takes over"
    assert drive.offset(T0 + 5.0) == math.log1p(-0.2)


def test_an_instant_shock_with_decay_moves_once_then_unwinds() -> None:
    state = decide(
        ControlState(),
        Shock(10.0, "x", asset_id="ETH", decay_seconds=2.0),
        "a",
        context(),
    ).state
    (drive,) = state.drives
    assert drive.spread == 1.0, "at least one tick"
    prices = []
    at = T0
    for _ in range(4):
        prev, at = at, at + 1.0
        prices.append(plan(state, prev, at).moves.get("ETH"))
    half = -math.log1p(0.1) / 2
    assert prices[0] == pytest.approx(math.log1p(0.1))
    assert prices[1:3] == pytest.approx([half, half])
    assert prices[3] is None


def test_refusals_and_what_they_stop() -> None:
    ctx = context()
    paused = decide(ControlState(), Pause("Quiz", freeze_prices=True), "a", ctx).state
    with pytest.raises(MarketPaused, match="Quiz"):
        check_order(paused, "BTC")
    assert plan(paused, T0, T0 + 1).is_frozen("DOGE")
    with pytest.raises(Conflict) as refused:
        decide(paused, Pause("again"), "b", ctx)
    assert refused.value.code == "market_already_paused"
    halted = decide(ControlState(), Halt("BTC", "News"), "c", ctx)
    with pytest.raises(AssetHalted, match="News"):
        check_order(halted.state, "BTC")
    check_order(halted.state, "ETH")
    assert not plan(halted.state, T0, T0 + 1).is_frozen("BTC"), "prices move unless frozen"
    resumed = decide(halted.state, ResumeAsset("BTC"), "d", ctx)
    assert resumed.recheck == {"BTC"}
    both = decide(paused, Halt("BTC", "x"), "e", ctx).state
    assert decide(both, Resume(), "f", ctx).recheck == {"ETH", "DOGE"}, "BTC is still halted"
    with pytest.raises(Conflict) as unknown:
        decide(ControlState(), Shock(5.0, "x", category="pets"), "g", ctx)
    assert unknown.value.code == "category_not_tradable"


def test_a_shift_keeps_a_peg_in_its_band() -> None:
    params = params_for("peg", "low", 100_000_000)
    moved = shift(params, initial_state(params), math.log1p(-0.5))
    assert moved.price == math.ceil(100_000_000 * (1 - params.peg_band))
    with pytest.raises(ValueError, match="finite"):
        shift(params, initial_state(params), math.inf)


def test_shocks_on_one_asset_add_up_in_log_price() -> None:
    ctx = context()
    state = decide(ControlState(), Shock(10.0, "x", asset_id="BTC"), "a", ctx).state
    state = decide(state, Shock(-20.0, "y", category="layer-1"), "b", ctx).state
    tick = plan(state, T0, T0 + 1.0)
    assert tick.moves["BTC"] == pytest.approx(math.log1p(0.1) + math.log1p(-0.2))
    assert tick.moves["ETH"] == pytest.approx(math.log1p(-0.2))
    assert "DOGE" not in tick.moves
    later = decide(state, Pause("p"), "c", context(T0 + 1.0)).state
    assert later.drives == (), "finished shocks are dropped from the state"
