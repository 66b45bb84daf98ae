"""Price models: pure, seeded random walks that move a reference price in 1e-8 USD steps."""

from __future__ import annotations

import enum
import hashlib
import math
import random
from typing import Literal, NamedTuple

import msgspec

ModelKind = Literal["gbm", "jump", "peg"]

_KINDS: tuple[ModelKind, ...] = ("gbm", "jump", "peg")
_SECONDS_PER_DAY = 86_400.0
_exp = math.exp
_cos, _sin = math.cos, math.sin
_TWO_PI = math.tau
# Crypto trades every day of the year, so annualized figures scale by 365, not 252.
_DAYS_PER_YEAR = 365.0
# Keeps exp() finite and prices printable whatever parameters or start price are fed in.
_MAX_DEVIATION = 50.0


class Regime(enum.StrEnum):
    """A market mood: a drift on log price (pegs ignore it) and a volatility multiplier."""

    CALM = "calm"
    BULL = "bull"
    BEAR = "bear"
    CRASH = "crash"

    @property
    def drift(self) -> float:
        """Drift added to log price, per day."""
        return _REGIME_SHAPES[self].drift

    @property
    def volatility_multiplier(self) -> float:
        """Factor applied to the model's volatility."""
        return _REGIME_SHAPES[self].volatility_multiplier


class _RegimeShape(NamedTuple):
    drift: float
    volatility_multiplier: float


# With the default reversion of 0.05/day a drift d settles log price d/0.05 away from the
# reference: bull ~+22%, bear ~-18%; a crash heads for ~-80% but rarely lasts long enough.
_REGIME_SHAPES: dict[Regime, _RegimeShape] = {
    Regime.CALM: _RegimeShape(0.0, 1.0),
    Regime.BULL: _RegimeShape(0.01, 1.2),
    Regime.BEAR: _RegimeShape(-0.01, 1.3),
    Regime.CRASH: _RegimeShape(-0.08, 2.5),
}


class ModelParams(msgspec.Struct, frozen=True):
    """How one asset's price moves; rates are per day, volatility is annualized."""

    kind: ModelKind
    reference: int
    volatility: float
    reversion: float
    jump_rate: float = 0.0
    jump_sigma: float = 0.0
    peg_band: float = 0.002

    def __post_init__(self) -> None:
        if self.reference < 1:
            raise ValueError("reference must be at least 1e-8 USD")
        rates = (self.volatility, self.reversion, self.jump_rate, self.jump_sigma)
        if not all(math.isfinite(r) and r >= 0 for r in rates):
            raise ValueError("volatility, reversion and jump parameters must be finite and >= 0")
        if not 0 <= self.peg_band < 1:
            raise ValueError("peg_band must be in [0, 1)")


class ModelState(msgspec.Struct, frozen=True):
    """Where a model is: the quoted price and its unrounded log distance from the reference."""

    price: int
    # Kept unrounded so cheap assets still move when a step is smaller than 1e-8 USD.
    deviation: float


class _ClassShape(NamedTuple):
    volatility: float
    jump_rate: float
    jump_sigma: float


_CLASSES: dict[str, _ClassShape] = {
    "peg": _ClassShape(0.05, 0.02, 0.01),
    "low": _ClassShape(0.45, 0.05, 0.04),
    "medium": _ClassShape(0.70, 0.08, 0.06),
    "high": _ClassShape(1.00, 0.10, 0.08),
    "extreme": _ClassShape(1.50, 0.15, 0.12),
}
# A two-week half-life: prices wander for days yet stay anchored over a simulated month.
_DRIFTING_REVERSION = 0.05
# A peg recovers within the hour; with its tiny volatility that is ~4 bps of typical wobble.
_PEG_REVERSION = 24.0


def params_for(kind: str, volatility_class: str, reference: int) -> ModelParams:
    """The parameters for a model kind, a volatility class and a reference price."""
    model = next((k for k in _KINDS if k == kind), None)
    if model is None:
        raise ValueError(f"unknown model kind {kind!r}")
    shape = _CLASSES.get(volatility_class)
    if shape is None:
        raise ValueError(f"unknown volatility class {volatility_class!r}")
    if model == "peg":
        # A peg's wobble is set by the peg, not by how volatile the catalogue calls the asset.
        return ModelParams("peg", reference, _CLASSES["peg"].volatility, _PEG_REVERSION)
    if model == "gbm":
        return ModelParams("gbm", reference, shape.volatility, _DRIFTING_REVERSION)
    return ModelParams(
        "jump", reference, shape.volatility, _DRIFTING_REVERSION, shape.jump_rate, shape.jump_sigma
    )


def initial_state(params: ModelParams, price: int | None = None) -> ModelState:
    """A state at ``price`` (the reference by default)."""
    start = params.reference if price is None else price
    if start < 1:
        raise ValueError("price must be at least 1e-8 USD")
    return ModelState(start, math.log(start / params.reference))


def stream(master_seed: int, name: str) -> random.Random:
    """An independent random stream for ``name``, the same in every process for a given seed."""
    digest = hashlib.blake2b(f"{master_seed}:{name}".encode(), digest_size=32).digest()
    return random.Random(int.from_bytes(digest, "big"))


def step(
    params: ModelParams, state: ModelState, rng: random.Random, dt: float, regime: Regime
) -> ModelState:
    """The state ``dt`` seconds after ``state``."""
    if not (math.isfinite(dt) and dt >= 0):
        raise ValueError("dt must be finite and >= 0")
    if dt == 0:
        return state
    days = dt / _SECONDS_PER_DAY
    sigma = params.volatility * regime.volatility_multiplier / math.sqrt(_DAYS_PER_YEAR)
    peg = params.kind == "peg"
    drift = 0.0 if peg else regime.drift
    deviation = _ou(state.deviation, params.reversion, drift, sigma, days, rng)
    if params.kind == "jump":
        deviation += _jumps(params, days, rng)
    if peg:
        floor, cap = math.log1p(-params.peg_band), math.log1p(params.peg_band)
        deviation = min(max(deviation, floor), cap)
    return _settle(params, deviation)


class Stepper:
    """``step`` for one ``dt`` and regime with its constants computed once: the same path.

    The price feed steps every asset by the same ``dt`` at every tick; computing the decay
    factors, the spread and the peg bounds once per regime instead of once per step is most
    of a step's cost. The arithmetic is ``step``'s, operation for operation.
    """

    __slots__ = (
        "_cap",
        "_drift_term",
        "_floor",
        "_high",
        "_jumps",
        "_keep",
        "_low",
        "_spread",
        "days",
        "dt",
        "params",
        "regime",
    )

    def __init__(self, params: ModelParams, dt: float, regime: Regime) -> None:
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError("dt must be finite and > 0")
        self.params, self.dt, self.regime = params, dt, regime
        days = self.days = dt / _SECONDS_PER_DAY
        sigma = params.volatility * regime.volatility_multiplier / math.sqrt(_DAYS_PER_YEAR)
        peg = params.kind == "peg"
        drift = 0.0 if peg else regime.drift
        self._keep = math.exp(-params.reversion * days)
        self._drift_term = drift * _decayed(params.reversion, days)
        self._spread = math.sqrt(sigma * sigma * _decayed(2 * params.reversion, days))
        self._jumps = params.kind == "jump"
        self._floor, self._cap = -math.inf, math.inf
        self._low, self._high = 1, None
        if peg:
            self._floor, self._cap = math.log1p(-params.peg_band), math.log1p(params.peg_band)
            self._low = math.ceil(params.reference * (1 - params.peg_band))
            self._high = math.floor(params.reference * (1 + params.peg_band))

    def __call__(self, state: ModelState, rng: random.Random) -> ModelState:
        """The state ``dt`` seconds after ``state``, as ``step`` would give it."""
        params = self.params
        deviation = (
            state.deviation * self._keep + self._drift_term + self._spread * rng.gauss(0.0, 1.0)
        )
        if self._jumps:
            deviation += _jumps(params, self.days, rng)
        # step() clamps a peg to its band, then _settle() to the global bound, in this order;
        # comparisons rather than min/max calls give the same values for less.
        if deviation < self._floor:
            deviation = self._floor
        elif deviation > self._cap:
            deviation = self._cap
        if deviation < -_MAX_DEVIATION:
            deviation = -_MAX_DEVIATION
        elif deviation > _MAX_DEVIATION:
            deviation = _MAX_DEVIATION
        price = round(params.reference * _exp(deviation))
        if price < self._low:
            price = self._low
        elif self._high is not None and price > self._high:
            price = self._high
        return ModelState(price, deviation)


def shift(params: ModelParams, state: ModelState, move: float) -> ModelState:
    """The state moved by ``move`` in log price, with no random step (a market shock).

    The price becomes ``reference * exp(deviation + move)``, rounded, within the same bounds
    as any step: a peg stays in its band.
    """
    if not math.isfinite(move):
        raise ValueError("move must be finite")
    deviation = state.deviation + move
    if params.kind == "peg":
        floor, cap = math.log1p(-params.peg_band), math.log1p(params.peg_band)
        deviation = min(max(deviation, floor), cap)
    return _settle(params, deviation)


def _settle(params: ModelParams, deviation: float) -> ModelState:
    """The state at a log deviation: clamped, and its price rounded to 1e-8 USD."""
    deviation = min(max(deviation, -_MAX_DEVIATION), _MAX_DEVIATION)
    price = max(1, round(params.reference * math.exp(deviation)))
    if params.kind == "peg":
        # The float band edges can round one unit outside the band; the integer price must not.
        low = math.ceil(params.reference * (1 - params.peg_band))
        high = math.floor(params.reference * (1 + params.peg_band))
        price = min(max(price, low), high)
    return ModelState(price, deviation)


def walk(
    params: ModelParams,
    state: ModelState,
    rng: random.Random,
    dt: float,
    steps: int,
    regime: Regime,
) -> tuple[ModelState, list[int]]:
    """``steps`` calls of ``step`` with the same ``dt``, fast: the final state and every price."""
    deviations = walk_deviations(params, state, rng, dt, steps, regime)
    if not deviations:
        return state, []
    pricer = Pricer(params)
    prices = [pricer(deviation) for deviation in deviations]
    return ModelState(prices[-1], deviations[-1]), prices


def walk_deviations(
    params: ModelParams,
    state: ModelState,
    rng: random.Random,
    dt: float,
    steps: int,
    regime: Regime,
) -> list[float]:
    """The log deviations of ``steps`` calls of ``step`` with the same ``dt``, fast.

    The per-step constants are computed once and ``rng.gauss`` is done inline (the standard
    library's Box-Muller pair, its spare kept in ``rng.gauss_next`` as ``gauss`` keeps it), so
    the draws and the arithmetic are ``step``'s and the path is identical to stepping one at a
    time. Prices are left to ``Pricer``: a price is a monotonic function of the deviation, so
    a candle's high, low and close need three of them, not one per step. This loop is most of
    the cost of an offline day, so it avoids every call it can.
    """
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError("dt must be finite and > 0")
    days = dt / _SECONDS_PER_DAY
    sigma = params.volatility * regime.volatility_multiplier / math.sqrt(_DAYS_PER_YEAR)
    peg = params.kind == "peg"
    jumps = params.kind == "jump" and params.jump_rate != 0
    drift_term = (0.0 if peg else regime.drift) * _decayed(params.reversion, days)
    keep = math.exp(-params.reversion * days)
    spread = math.sqrt(sigma * sigma * _decayed(2 * params.reversion, days))
    floor, cap = -_MAX_DEVIATION, _MAX_DEVIATION
    if peg:
        floor, cap = math.log1p(-params.peg_band), math.log1p(params.peg_band)
    uniform, log, sqrt, cos, sin = rng.random, math.log, math.sqrt, _cos, _sin
    deviation = state.deviation
    deviations: list[float] = []
    append = deviations.append
    spare = rng.gauss_next  # type: ignore[attr-defined]
    for _ in range(steps):
        # rng.gauss(0.0, 1.0), as the standard library computes it.
        if spare is None:
            x2pi = uniform() * _TWO_PI
            g2rad = sqrt(-2.0 * log(1.0 - uniform()))
            z = cos(x2pi) * g2rad
            spare = sin(x2pi) * g2rad
        else:
            z, spare = spare, None
        deviation = deviation * keep + drift_term + spread * (0.0 + z * 1.0)
        if jumps:
            rng.gauss_next = spare  # type: ignore[attr-defined]
            deviation += _jumps(params, days, rng)
            spare = rng.gauss_next  # type: ignore[attr-defined]
        if deviation < floor:
            deviation = floor
        elif deviation > cap:
            deviation = cap
        append(deviation)
    rng.gauss_next = spare  # type: ignore[attr-defined]
    return deviations


class Pricer:
    """The quoted price of a (clamped) log deviation, as ``step`` rounds and bounds it."""

    __slots__ = ("_high", "_low", "_reference")

    def __init__(self, params: ModelParams) -> None:
        self._reference = params.reference
        self._low, self._high = 1, None
        if params.kind == "peg":
            self._low = math.ceil(params.reference * (1 - params.peg_band))
            self._high = math.floor(params.reference * (1 + params.peg_band))

    def __call__(self, deviation: float) -> int:
        """The price at ``deviation``: non-decreasing in it."""
        price = round(self._reference * _exp(deviation))
        if price < self._low:
            return self._low
        if self._high is not None and price > self._high:
            return self._high
        return price


def _decayed(rate: float, days: float) -> float:
    """The integral of exp(-rate * s) for s in [0, days]."""
    return days if rate == 0 else -math.expm1(-rate * days) / rate


def _ou(
    x: float, reversion: float, drift: float, sigma: float, days: float, rng: random.Random
) -> float:
    """Advance dx = (drift - reversion * x) dt + sigma dW exactly, so any dt is stable."""
    keep = math.exp(-reversion * days)
    variance = sigma * sigma * _decayed(2 * reversion, days)
    return x * keep + drift * _decayed(reversion, days) + math.sqrt(variance) * rng.gauss(0.0, 1.0)


def _jumps(params: ModelParams, days: float, rng: random.Random) -> float:
    """The log-price jumps of a Poisson process over ``days``, each decayed since it struck."""
    if params.jump_rate == 0:
        return 0.0
    total = 0.0
    at = rng.expovariate(params.jump_rate)
    while at < days:
        total += rng.gauss(0.0, params.jump_sigma) * math.exp(-params.reversion * (days - at))
        at += rng.expovariate(params.jump_rate)
    return total
