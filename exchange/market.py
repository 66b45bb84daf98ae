"""One asset's live market: its model, price, candle history, records and derived figures."""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from datetime import UTC, datetime

import msgspec

from exchange.catalogue import Asset
from exchange.money import PRICE_SCALE
from exchange.pricemodel import (
    ModelParams,
    ModelState,
    Pricer,
    Regime,
    Stepper,
    initial_state,
    params_for,
    shift,
    step,
    walk,
    walk_deviations,
)
from exchange.series import INTERVALS, Candle, Series

DAY = 86_400
ALL_WIDTHS = tuple(INTERVALS)
_NONE_CLOSED: list[tuple[str, Candle]] = []
# Back-history stages: (step seconds, until this long before the end, series fed).
SYNTHESIS_STAGES = (
    (3600.0, DAY, ("1h", "1d")),
    (300.0, 6 * 3600, ("5m", "1h", "1d")),
    (60.0, 0, ("1m", "5m", "1h", "1d")),
)
# How many candles of each width are kept in memory (and in the database).
CAPACITY: dict[str, int] = {"1m": 1_500, "5m": 2_100, "1h": 750, "1d": 400}
SPARKLINE_POINTS = 168
# Share of market cap traded per day, by category; the rest trade at the default.
TURNOVER = {"stablecoin": 0.20, "meme": 0.12, "exchange-token": 0.04}
DEFAULT_TURNOVER = 0.05


class SavedMarket(msgspec.Struct, frozen=True, array_like=True):
    """The persisted part of a market: where the price is and its records."""

    asset_id: str
    price: int
    deviation: float
    ath: int
    ath_date: str
    atl: int
    atl_date: str
    updated_at: float


class Stats(msgspec.Struct, frozen=True):
    """The derived market data of one asset at one moment."""

    price: int
    change_24h: int | None
    pct_24h: float | None
    pct_7d: float | None
    pct_30d: float | None
    high_24h: int
    low_24h: int
    market_cap: float
    volume_24h: float
    ath: int
    ath_date: str
    atl: int
    atl_date: str
    sparkline_7d: list[int]
    last_updated: float


def iso_seconds(at: float) -> str:
    """An ISO-8601 UTC timestamp ending in ``Z`` for unix seconds."""
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def percent(now: int, then: int | None) -> float | None:
    """The change from ``then`` to ``now`` in percent, rounded to 4 places."""
    if not then:
        return None
    return round((now - then) * 100 / then, 4)


class Backlog:
    """The ticks owed by markets stepped on demand: their times, step, regime and candles.

    A market on demand does not step at a tick that nobody reads: it owes the tick, and pays
    every owed tick, in order and with the same arithmetic (``walk``), the moment anyone reads
    it. Candles closed by a payment wait in ``closed`` for the feed to save.
    """

    __slots__ = ("closed", "dt", "regime", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.dt = 0.0
        self.regime = Regime.CALM
        self.closed: list[tuple[str, str, Candle]] = []


class Market:
    """The live state of one asset; the price feed is its only writer."""

    def __init__(self, asset: Asset, rng: random.Random) -> None:
        self.asset = asset
        self.params: ModelParams = params_for(asset.model, asset.volatility, asset.reference_price)
        self._state: ModelState = initial_state(self.params)
        self._pricer = Pricer(self.params)
        # On demand (see ``Backlog``): the index in ``backlog.times`` of the first tick owed.
        self.backlog: Backlog | None = None
        self.owed_from = 0
        self.rng = rng
        self._series = {name: Series(INTERVALS[name], CAPACITY[name]) for name in INTERVALS}
        self.ath, self.ath_date = asset.ath, f"{asset.ath_date}T00:00:00Z"
        self.atl, self.atl_date = asset.atl, f"{asset.atl_date}T00:00:00Z"
        self.updated_at = 0.0
        self.active = asset.is_active
        self._supply = float(asset.circulating_supply)
        self._stats: Stats | None = None
        self._stepper: Stepper | None = None
        # The minute of the last price recorded into every series (empty when not all were).
        self._minute_start, self._minute_end = math.inf, -math.inf
        self._minute_series = self._series["1m"]
        self._coarser = tuple(self._series[name] for name in INTERVALS if name != "1m")
        # Within a minute only the 1m candle takes each price; the wider open candles catch up
        # (max, min, last: the same however often) when the series are read or the minute ends.
        self._coarser_behind = False

    @property
    def state(self) -> ModelState:
        """Where the model is as of the latest tick."""
        backlog = self.backlog
        if backlog is not None and self.owed_from < len(backlog.times):
            self.pay()
        return self._state

    def pay(self) -> None:
        """Take every tick owed to the backlog, as stepping at each of them would have."""
        backlog = self.backlog
        assert backlog is not None
        times = backlog.times
        first, end = self.owed_from, len(times)
        if first >= end:
            return
        self.owed_from = end
        if not self.active:
            return
        path = walk_deviations(
            self.params, self._state, self.rng, backlog.dt, end - first, backlog.regime
        )
        asset_id = self.asset.asset_id
        for name, candle in self._record_run(times, first, path):
            backlog.closed.append((asset_id, name, candle))
        self._state = ModelState(self._pricer(path[-1]), path[-1])

    def _record_run(
        self, times: list[float], first: int, path: list[float]
    ) -> list[tuple[str, Candle]]:
        """Record the prices of the deviations ``path`` seen at ``times[first:]``.

        ``advance``'s recording, a minute at once: the price is non-decreasing in the
        deviation, so a minute's high, low and close are the prices of its highest, lowest and
        last deviation.
        """
        closed: list[tuple[str, Candle]] = []
        minute = self._minute_series
        price_of = self._pricer
        count = len(path)
        done = 0
        while done < count:
            at = times[first + done]
            if not self._minute_start <= at < self._minute_end:
                closed.extend(self.record(at, price_of(path[done]), ALL_WIDTHS))
                done += 1
                continue
            # The rest of this minute's prices only extend its open candle.
            until = bisect_left(times, self._minute_end, first + done, first + count) - first
            run = path[done:until]
            high, low = price_of(max(run)), price_of(min(run))
            tail = minute._tail
            if high > minute._high[tail]:
                minute._high[tail] = high
            if low < minute._low[tail]:
                minute._low[tail] = low
            minute._close[tail] = price_of(run[-1])
            self._coarser_behind = True
            # The record's date is when the path first reached it, as a step at a time finds.
            if high > self.ath:
                reached = next(k for k, d in enumerate(run) if price_of(d) == high)
                self.ath, self.ath_date = high, iso_seconds(times[first + done + reached])
            if low < self.atl:
                reached = next(k for k, d in enumerate(run) if price_of(d) == low)
                self.atl, self.atl_date = low, iso_seconds(times[first + done + reached])
            self.updated_at = times[first + until - 1]
            self._stats = None
            done = until
        return closed

    def _settle(self) -> None:
        backlog = self.backlog
        if backlog is not None and self.owed_from < len(backlog.times):
            self.pay()

    @property
    def series(self) -> dict[str, Series]:
        """The candle series by width name, up to date."""
        self._settle()
        if self._coarser_behind:
            self._catch_up()
        return self._series

    def _catch_up(self) -> None:
        self._coarser_behind = False
        high, low, close = self._minute_series.newest_extremes()
        for series in self._coarser:
            series.fold_open(high, low, close)

    @property
    def price(self) -> int:
        """The current price in 1e-8 USD."""
        return self.state.price

    @property
    def market_cap(self) -> float:
        """Price times circulating supply in USD, to the cent; cheap, for ranking every asset."""
        return round(self.price / PRICE_SCALE * self._supply, 2)

    def restore(self, saved: SavedMarket) -> None:
        """Continue from a persisted state."""
        self._settle()
        self._state = ModelState(saved.price, saved.deviation)
        self._minute_start, self._minute_end = math.inf, -math.inf
        self.ath, self.ath_date = saved.ath, saved.ath_date
        self.atl, self.atl_date = saved.atl, saved.atl_date
        self.updated_at = saved.updated_at
        self._stats = None

    def saved(self) -> SavedMarket:
        """What is persisted to continue after a restart."""
        self._settle()
        return SavedMarket(
            self.asset.asset_id,
            self.price,
            self.state.deviation,
            self.ath,
            self.ath_date,
            self.atl,
            self.atl_date,
            self.updated_at,
        )

    def advance(
        self, at: float, dt: float, regime: Regime, widths: tuple[str, ...]
    ) -> list[tuple[str, Candle]]:
        """Step the model by ``dt`` seconds to time ``at``; return the candles this closed."""
        self._settle()
        stepper = self._stepper
        if stepper is None or stepper.dt != dt or stepper.regime is not regime:
            stepper = self._stepper = Stepper(self.params, dt, regime) if dt > 0 else None
        if stepper is None:
            self._state = step(self.params, self._state, self.rng, dt, regime)
            return self.record(at, self._state.price, widths)
        self._state = state = stepper(self._state, self.rng)
        price = state.price
        if widths is ALL_WIDTHS and self._minute_start <= at < self._minute_end:
            # The tick of every tick: inline, as ``record`` would do it in the same minute.
            minute = self._minute_series
            tail = minute._tail
            if price > minute._high[tail]:
                minute._high[tail] = price
            elif price < minute._low[tail]:
                minute._low[tail] = price
            minute._close[tail] = price
            self._coarser_behind = True
            if price > self.ath:
                self.ath, self.ath_date = price, iso_seconds(at)
            if price < self.atl:
                self.atl, self.atl_date = price, iso_seconds(at)
            self.updated_at = at
            self._stats = None
            return _NONE_CLOSED
        return self.record(at, price, widths)

    def shift(self, at: float, move: float, widths: tuple[str, ...]) -> list[tuple[str, Candle]]:
        """Move log price by ``move`` at time ``at`` instead of a random step (a shock)."""
        self._settle()
        self._state = shift(self.params, self._state, move)
        return self.record(at, self._state.price, widths)

    def nudge(self, move: float) -> None:
        """Move log price by ``move`` before this tick's step (price impact); records nothing."""
        self._settle()
        self._state = shift(self.params, self._state, move)

    def hold(self, at: float, widths: tuple[str, ...]) -> list[tuple[str, Candle]]:
        """Keep the price where it is at time ``at`` (frozen): no random step."""
        self._settle()
        return self.record(at, self._state.price, widths)

    def synthesize(self, start: float, end: float) -> None:
        """Fill the history from ``start`` to ``end`` with ``self.rng``, coarse to fine.

        Steps of an hour, then of five minutes for the last day, then of a minute for the last
        six hours; each stage feeds only the series at least as wide as its step, so every
        candle held is a real aggregate of the path.
        """
        self._note_records(self.price, self.price, start)
        self._minute_start, self._minute_end = math.inf, -math.inf
        at = start
        fed: set[str] = set()
        for dt, until, widths in SYNTHESIS_STAGES:
            steps = int((end - until - at) // dt)
            if steps <= 0:
                continue
            # A series starts where the path is when a stage first feeds it, not at ``start``:
            # else it would hold one stale candle there and a gap up to this stage.
            for name in widths:
                if name not in fed:
                    fed.add(name)
                    self.series[name].record(at, self.price)
            self._state, prices = walk(self.params, self._state, self.rng, dt, steps, Regime.CALM)
            for name in widths:
                self.series[name].record_path(at + dt, dt, prices)
            at += dt * steps
            self._note_records(max(prices), min(prices), at)
        for name in INTERVALS:
            if name not in fed:
                self.series[name].record(at, self.price)
        self.updated_at = end
        self._stats = None

    def _note_records(self, high: int, low: int, at: float) -> None:
        if high > self.ath:
            self.ath, self.ath_date = high, iso_seconds(at)
        if low < self.atl:
            self.atl, self.atl_date = low, iso_seconds(at)

    def record(
        self, at: float, price: int, widths: tuple[str, ...] = tuple(INTERVALS)
    ) -> list[tuple[str, Candle]]:
        """Record a price at time ``at`` into the named series and the all-time records."""
        closed = []
        every = widths is ALL_WIDTHS or widths == ALL_WIDTHS
        if every and self._minute_start <= at < self._minute_end:
            # Widths nest (60 | 300 | 3600 | 86400): the same minute is the same bucket in
            # every series, and nothing closes; the wider ones catch up when read.
            self._minute_series.extend_open(price)
            self._coarser_behind = True
        else:
            series_of = self.series
            for name in widths:
                candle = series_of[name].record(at, price)
                if candle is not None:
                    closed.append((name, candle))
            if every:
                self._minute_start = int(at // 60) * 60.0
                self._minute_end = self._minute_start + 60.0
            else:
                self._minute_start, self._minute_end = math.inf, -math.inf
        self._note_records(price, price, at)
        self.updated_at = at
        self._stats = None
        return closed

    def stats(self) -> Stats:
        """Derived figures, computed once per price change."""
        self._settle()
        if self._stats is None:
            self._stats = self._compute()
        return self._stats

    def _compute(self) -> Stats:
        now = self.updated_at
        price = self.price
        fine = self.series["5m"]
        hourly = self.series["1h"]
        day_ago = fine.close_at(now - DAY)
        if day_ago is None:
            day_ago = hourly.close_at(now - DAY)
        span = fine.range_since(fine.bucket(now - DAY) + fine.width) or hourly.range_since(
            now - DAY
        )
        high, low = (max(price, span[0]), min(price, span[1])) if span else (price, price)
        pct_24h = percent(price, day_ago)
        market_cap = self.market_cap
        turnover = TURNOVER.get(self.asset.category, DEFAULT_TURNOVER)
        # Busier on big moves, as real markets are.
        activity = 1.0 + min(abs(pct_24h or 0.0) / 10.0, 3.0)
        sparkline = hourly.closes_since(now - 7 * DAY)[-SPARKLINE_POINTS:]
        return Stats(
            price=price,
            change_24h=None if day_ago is None else price - day_ago,
            pct_24h=pct_24h,
            pct_7d=percent(price, hourly.close_at(now - 7 * DAY)),
            pct_30d=percent(price, hourly.close_at(now - 30 * DAY)),
            high_24h=high,
            low_24h=low,
            market_cap=market_cap,
            volume_24h=round(market_cap * turnover * activity, 2),
            ath=self.ath,
            ath_date=self.ath_date,
            atl=self.atl,
            atl_date=self.atl_date,
            sparkline_7d=sparkline or [price],
            last_updated=now,
        )


def ath_change(stats: Stats) -> float | None:
    """How far the price is below its all-time high, in percent."""
    return percent(stats.price, stats.ath)


def atl_change(stats: Stats) -> float | None:
    """How far the price is above its all-time low, in percent."""
    return percent(stats.price, stats.atl)
