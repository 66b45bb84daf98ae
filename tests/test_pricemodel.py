"""Tests for the seeded price models."""

from __future__ import annotations

import math
import random
import statistics

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.money import PRICE_SCALE
from exchange.pricemodel import (
    ModelKind,
    ModelParams,
    ModelState,
    Regime,
    initial_state,
    params_for,
    step,
    stream,
)

DAY = 86_400.0
KINDS: tuple[ModelKind, ...] = ("gbm", "jump", "peg")
CLASSES = ("peg", "low", "medium", "high", "extreme")
DOLLAR = PRICE_SCALE
BTC = 60_000 * DOLLAR


def walk(
    params: ModelParams,
    rng: random.Random,
    steps: int,
    dt: float,
    regime: Regime = Regime.CALM,
    start: int | None = None,
) -> list[ModelState]:
    state = initial_state(params, start)
    path = []
    for _ in range(steps):
        state = step(params, state, rng, dt, regime)
        path.append(state)
    return path


def prices(path: list[ModelState]) -> list[int]:
    return [s.price for s in path]


def test_same_seed_and_name_give_the_same_path() -> None:
    params = params_for("jump", "high", BTC)
    first = walk(params, stream(7, "BTC"), 10_000, 1.0)
    second = walk(params, stream(7, "BTC"), 10_000, 1.0)
    assert first == second


def test_stream_is_pinned_across_processes_and_versions() -> None:
    # A recorded scenario replays only if the derivation never changes (no salted hash()).
    assert stream(42, "BTC").getrandbits(64) == 689525358064686866


def test_different_names_or_seeds_give_different_paths() -> None:
    params = params_for("gbm", "medium", BTC)
    base = prices(walk(params, stream(7, "BTC"), 1_000, 60.0))
    assert base != prices(walk(params, stream(7, "ETH"), 1_000, 60.0))
    assert base != prices(walk(params, stream(8, "BTC"), 1_000, 60.0))


def test_a_stream_is_unaffected_by_other_streams() -> None:
    params = params_for("jump", "extreme", BTC)
    alone = prices(walk(params, stream(3, "BTC"), 2_000, 60.0))
    btc_rng, eth_rng = stream(3, "BTC"), stream(3, "ETH")
    btc, eth = initial_state(params), initial_state(params)
    interleaved = []
    for _ in range(2_000):
        eth = step(params, eth, eth_rng, 60.0, Regime.CRASH)
        random.random()  # the module-level generator must not matter either
        btc = step(params, btc, btc_rng, 60.0, Regime.CALM)
        interleaved.append(btc.price)
    assert interleaved == alone


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    reference=st.integers(1, 10**15),
    start=st.integers(1, 10**18),
    volatility=st.floats(0, 5),
    reversion=st.floats(0, 50),
    jump_rate=st.floats(0, 5),
    jump_sigma=st.floats(0, 2),
    peg_band=st.floats(0, 0.5),
    dt=st.floats(0, 30 * DAY),
    regime=st.sampled_from(list(Regime)),
    seed=st.integers(0, 2**64),
)
def test_prices_are_positive_ints_for_any_params(
    kind: ModelKind,
    reference: int,
    start: int,
    volatility: float,
    reversion: float,
    jump_rate: float,
    jump_sigma: float,
    peg_band: float,
    dt: float,
    regime: Regime,
    seed: int,
) -> None:
    params = ModelParams(
        kind, reference, volatility, reversion, jump_rate, jump_sigma, peg_band=peg_band
    )
    for state in walk(params, stream(seed, "X"), 30, dt, regime, start):
        assert type(state.price) is int
        assert state.price >= 1
        assert math.isfinite(state.deviation)
        if kind == "peg" and dt > 0:
            assert reference * (1 - peg_band) <= state.price <= reference * (1 + peg_band)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("regime", list(Regime))
def test_long_runs_stay_positive_in_every_regime(kind: ModelKind, regime: Regime) -> None:
    # A cheap asset (100e-8 USD) so a crash really pushes against the one-unit floor.
    params = params_for(kind, "extreme", 100)
    for state in walk(params, stream(11, f"{kind}-{regime}"), 4_000, 3_600.0, regime):
        assert type(state.price) is int
        assert state.price >= 1


def test_crash_on_a_tiny_price_floors_at_one_unit() -> None:
    params = params_for("gbm", "extreme", 2)
    floored = [s.price for s in walk(params, stream(5, "DUST"), 2_000, DAY, Regime.CRASH)]
    assert min(floored) == 1


def test_a_cheap_asset_still_moves_on_one_second_ticks() -> None:
    # Each tick moves 60e-8 USD by ~0.01 units; rounding the state every tick would freeze it.
    params = params_for("gbm", "high", 60)
    assert len(set(prices(walk(params, stream(1, "PEPE"), 10_000, 1.0)))) > 1


def test_gbm_reverts_to_the_reference() -> None:
    params = params_for("gbm", "medium", BTC)
    # 10 seeds x 69 days each, started at twice the reference; without reversion the walk
    # keeps its log(2) head start and the mean log median stays near 0.69.
    logs = []
    for seed in range(10):
        path = prices(walk(params, stream(seed, "BTC"), 10_000, 600.0, start=2 * BTC))
        median = statistics.median(path[len(path) // 2 :])
        assert 0.6 * BTC < median < 1.6 * BTC
        logs.append(math.log(median / BTC))
    assert abs(statistics.fmean(logs)) < 0.25


def test_daily_steps_reach_the_stationary_spread() -> None:
    params = params_for("gbm", "medium", BTC)
    path = walk(params, stream(2, "BTC"), 3_650, DAY)
    sigma_per_day = params.volatility / math.sqrt(365)
    expected = sigma_per_day / math.sqrt(2 * params.reversion)
    spread = statistics.pstdev(s.deviation for s in path)
    assert 0.7 * expected < spread < 1.4 * expected


@pytest.mark.parametrize("regime", list(Regime))
def test_peg_stays_in_its_band_and_averages_one_dollar(regime: Regime) -> None:
    params = params_for("peg", "peg", DOLLAR)
    path = prices(walk(params, stream(4, "USDC"), 50_000, 60.0, regime))
    assert all(0.998 * DOLLAR <= p <= 1.002 * DOLLAR for p in path)
    assert abs(statistics.fmean(path) / DOLLAR - 1) < 0.0001


def test_peg_ignores_the_volatility_class() -> None:
    assert params_for("peg", "extreme", DOLLAR) == params_for("peg", "peg", DOLLAR)


def test_regimes_drift_the_same_seed_apart() -> None:
    params = params_for("gbm", "high", BTC)
    means = {
        regime: statistics.fmean(prices(walk(params, stream(9, "SOL"), 5_000, 600.0, regime)))
        for regime in Regime
    }
    assert means[Regime.BULL] > 1.03 * means[Regime.CALM]
    assert means[Regime.BEAR] < 0.97 * means[Regime.CALM]
    assert means[Regime.CRASH] < 0.7 * means[Regime.CALM]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("volatility_class", CLASSES)
def test_one_day_steps_are_stable(kind: ModelKind, volatility_class: str) -> None:
    params = params_for(kind, volatility_class, BTC)
    calm = prices(walk(params, stream(6, "BTC"), 1_000, DAY))
    assert all(BTC / 20 < p < BTC * 20 for p in calm)
    crash = prices(walk(params, stream(6, "BTC"), 1_000, DAY, Regime.CRASH))
    assert all(BTC / 1_000 < p < BTC * 10 for p in crash)


def test_a_century_in_one_step_lands_in_the_stationary_range() -> None:
    params = params_for("jump", "extreme", BTC)
    for seed in range(20):
        state = step(
            params, initial_state(params, 5 * BTC), stream(seed, "X"), 36_500 * DAY, Regime.CALM
        )
        assert BTC / 20 < state.price < BTC * 20


def test_zero_dt_keeps_the_state() -> None:
    params = params_for("gbm", "low", BTC)
    state = initial_state(params, 2 * BTC)
    assert step(params, state, stream(1, "BTC"), 0.0, Regime.CRASH) is state


@pytest.mark.parametrize("dt", [-1.0, math.nan, math.inf])
def test_bad_dt_is_refused(dt: float) -> None:
    params = params_for("gbm", "low", BTC)
    with pytest.raises(ValueError, match="dt"):
        step(params, initial_state(params), stream(1, "BTC"), dt, Regime.CALM)


def test_params_for_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="kind"):
        params_for("brownian", "low", BTC)
    with pytest.raises(ValueError, match="volatility class"):
        params_for("gbm", "wild", BTC)


def test_params_for_orders_the_classes() -> None:
    vols = [params_for("jump", c, BTC).volatility for c in CLASSES]
    assert vols == sorted(vols)
    assert params_for("gbm", "high", BTC).jump_rate == 0
    assert params_for("jump", "high", BTC).jump_rate > 0


def test_params_are_validated_and_round_trip() -> None:
    with pytest.raises(ValueError):
        ModelParams("gbm", 0, 0.5, 0.05)
    with pytest.raises(ValueError):
        ModelParams("gbm", BTC, -0.5, 0.05)
    with pytest.raises(ValueError):
        ModelParams("peg", DOLLAR, 0.05, 24.0, peg_band=1.0)
    with pytest.raises(ValueError):
        initial_state(params_for("gbm", "low", BTC), 0)
    params = params_for("jump", "medium", BTC)
    assert msgspec.json.decode(msgspec.json.encode(params), type=ModelParams) == params
    assert Regime("crash") is Regime.CRASH
