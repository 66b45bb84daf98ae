"""The price feed actor: ticks every asset on the exchange clock and fans frames out.

It owns every ``Market``. Each tick steps all assets (each with its own seeded stream, so the
path does not depend on task order), records candles, keeps the recent frames for resuming
subscribers, and offers the frame to every subscriber without waiting: a subscriber whose
bounded buffer is full is dropped and told why. Closed candles and the markets' state are
persisted through the store; at first start 30 days of history are synthesized from the same
seeded models. Market control steers each tick through ``steering``: a shocked asset moves by
the shock instead of a random step, a frozen one holds its price.

The feed never waits for its writes. If the store refuses one (disk full), the first tick after
the store has taken a write again saves what may have been lost: every market's state and every
candle closed since the last tick whose write committed, so the database catches up by itself
once space is back. Until then each tick's write serves as a probe.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import trio

from exchange.actor import Reply
from exchange.catalogue import Asset
from exchange.clock import Clock
from exchange.control import TickPlan
from exchange.errors import StorageUnavailable
from exchange.fanout import SHUTTING_DOWN, Fanout, Subscription
from exchange.market import ALL_WIDTHS, CAPACITY, DAY, Backlog, Market, SavedMarket
from exchange.pricemodel import Regime, stream
from exchange.series import INTERVALS
from exchange.store import Chain, Statement, Store, Write

_SAVE_MARKET = (
    "INSERT OR REPLACE INTO markets (asset_id, price, deviation, ath, ath_date, atl, atl_date, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SAVE_CANDLE = (
    "INSERT OR REPLACE INTO candles (asset_id, width, start, open, high, low, close) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class Frame:
    """One tick: its sequence number, exchange time and the prices that changed.

    ``encoded`` caches wire encodings so that each is made once and shared by every client.
    """

    __slots__ = ("encoded", "prices", "seq", "time")

    def __init__(self, seq: int, time: float, prices: dict[str, int]) -> None:
        self.seq = seq
        self.time = time
        self.prices = prices
        self.encoded: dict[object, bytes] = {}


@dataclass(frozen=True)
class FeedSettings:
    """How the feed runs."""

    seed: int = 42
    tick_interval: float = 1.0
    history_days: int = 30
    frames_held: int = 600
    write_ticks: int = 1
    # Step an asset only when something reads it (offline runs): see ``Backlog``.
    on_demand: bool = False
    # Tick only when ``advance`` is called (offline runs: the runner drives the clock).
    driven: bool = False


class Ranking(NamedTuple):
    """The markets by market cap as of one tick, and each asset's rank."""

    seq: int
    markets: list[Market]
    ranks: dict[str, int]


class PriceFeed:
    """Owner of every asset's market state."""

    def __init__(
        self, assets: Iterable[Asset], store: Store, clock: Clock, settings: FeedSettings
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.markets: dict[str, Market] = {
            asset.asset_id: Market(asset, stream(settings.seed, asset.asset_id)) for asset in assets
        }
        self._order = {asset_id: number for number, asset_id in enumerate(self.markets)}
        self._backlog: Backlog | None = None
        if settings.on_demand:
            self._backlog = Backlog()
            for market in self.markets.values():
                market.backlog = self._backlog
        self.seq = 0
        self.regime = Regime.CALM
        self.ticked_at = 0.0
        self._frames: deque[Frame] = deque(maxlen=settings.frames_held)
        self._fanout: Fanout[Frame] = Fanout()
        self._tick_listeners: list[Callable[[Frame], None]] = []
        self._pending: list[Statement] = []
        self._chain = Chain()
        # Every candle closed by this exchange time is on disk (as far as the feed knows).
        self._saved_at = float("-inf")
        self._pruned_hour = -1
        self._ranking: Ranking | None = None
        self.stats_ticks = 0
        # Market control's say in each tick: shocks to apply, prices to hold still.
        self.steering: Callable[[float, float], TickPlan] | None = None
        # Price impact's say: log moves added to this tick's step, by asset.
        self.nudges: Callable[[float], dict[str, float]] | None = None
        # On demand: the assets that must take each tick as it comes (resting orders' assets),
        # and those someone reads at every tick (``keep_current``).
        self.wanted: Callable[[], Iterable[str]] | None = None
        self.current: set[str] = set()
        # The trio time of the next tick.
        self.next_tick_at = 0.0

    # Start-up

    def load(self) -> None:
        """Continue from the database, or synthesize the back-history on first start."""
        saved = {
            row[0]: SavedMarket(*row)
            for row in self.store.read(
                "SELECT asset_id, price, deviation, ath, ath_date, atl, atl_date, updated_at "
                "FROM markets"
            )
        }
        feed = self.store.read_one("SELECT seq, regime FROM feed WHERE id = 1")
        if feed is not None:
            self.seq, self.regime = int(feed[0]), Regime(feed[1])
        self._load_candles()
        fresh = []
        for asset_id, market in self.markets.items():
            if asset_id in saved:
                market.restore(saved[asset_id])
                # A restart draws new numbers rather than replaying the first run's.
                market.rng = stream(self.settings.seed, f"{asset_id}@{self.seq}")
            else:
                fresh.append(market)
        if fresh:
            self._synthesize(fresh, self.clock.now())
        self.ticked_at = self.clock.now()
        self._ranking = None
        if self._chain.broken is None:
            self._saved_at = self.ticked_at

    def _load_candles(self) -> None:
        for market in self.markets.values():
            for series in market.series.values():
                series.load(
                    self.store.read(
                        "SELECT start, open, high, low, close FROM candles "
                        "WHERE asset_id = ? AND width = ? ORDER BY start",
                        (market.asset.asset_id, series.width),
                    )
                )

    def _synthesize(self, markets: list[Market], now: float) -> None:
        days = self.settings.history_days
        for market in markets:
            live_rng = market.rng
            market.rng = stream(self.settings.seed, f"{market.asset.asset_id}:history")
            market.synthesize(now - days * DAY, now)
            market.rng = live_rng
        try:
            self.store.bulk_now(
                _SAVE_CANDLE,
                [
                    (m.asset.asset_id, m.series[name].width, *row)
                    for m in markets
                    for name in ALL_WIDTHS
                    for row in m.series[name].rows()
                ],
            )
            self.store.bulk_now(_SAVE_MARKET, [_row(m.saved()) for m in markets])
        except StorageUnavailable as failure:
            # Start anyway (reads work on a full disk); the first tick saves it all again.
            self._chain.broken = failure

    # Running

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tick every ``tick_interval`` seconds of the exchange clock until cancelled.

        A driven feed (``FeedSettings.driven``) only loads: whoever drives it calls ``advance``
        when the clock reaches ``next_tick_at`` (an offline run's runner, on its virtual clock).
        """
        self.load()
        self.next_tick_at = trio.current_time() + self.settings.tick_interval
        task_status.started()
        if self.settings.driven:
            await trio.sleep_forever()
        while True:
            await trio.sleep_until(self.next_tick_at)
            await self.advance()

    async def advance(self) -> Frame:
        """Take the tick due at ``next_tick_at``: step, publish, and hand the store its writes."""
        interval = self.settings.tick_interval
        frame = self.tick(self.clock.at(self.next_tick_at), interval)
        self.next_tick_at += interval
        self.publish(frame)
        if self._chain.broken is not None and not self.store.refusing:
            # The store takes writes again: save what the refused ones may have held.
            self._chain = self._chain.successor()
            self._pending[:0] = self._unsaved(self._saved_at)
        if self.seq % self.settings.write_ticks == 0:
            # The sequence number is saved with every write, so a restart never issues one
            # twice (with ``write_ticks`` 1, at every tick).
            statements, self._pending = self._pending, []
            statements.append(self._feed_row())
            if self._chain.broken is None:
                saved = partial(self._saved, self.ticked_at)
                write = Write(statements, on_commit=saved, chain=self._chain)
            else:
                # Still refusing: this tick's write is only a probe (the catch-up after it
                # saves its candles again), so that the big catch-up is built only once.
                write = Write(statements)
            # Nobody waits for this answer: the feed goes on ticking while it commits.
            await self.store.submit(write, Reply())
        return frame

    async def flush(self) -> None:
        """Write what the feed has gathered and not written yet (``write_ticks`` > 1)."""
        if self._backlog is not None:
            self.settle()
            self._save_state(self.ticked_at)
        if self._pending:
            statements, self._pending = self._pending, []
            statements.append(self._feed_row())
            await self.store.write(Write(statements))

    def _feed_row(self) -> Statement:
        return (
            "INSERT OR REPLACE INTO feed (id, seq, regime) VALUES (1, ?, ?)",
            (self.seq, self.regime.value),
        )

    def _saved(self, at: float) -> None:
        self._saved_at = max(self._saved_at, at)

    def _unsaved(self, since: float) -> list[Statement]:
        """What a refused write may have held: every market's state, candles closed since."""
        statements: list[Statement] = [
            (_SAVE_MARKET, _row(market.saved())) for market in self.markets.values()
        ]
        for asset_id, market in self.markets.items():
            for series in market.series.values():
                statements.extend(
                    (_SAVE_CANDLE, (asset_id, series.width, *candle))
                    for candle in series.since(since - series.width)
                )
        return statements

    def tick(self, at: float, dt: float) -> Frame:
        """Step every market by ``dt`` seconds to time ``at`` and return the frame.

        On demand, only the markets that must take the tick now do (steered, nudged or
        wanted); the others owe it to the backlog, and every market pays at each write.
        """
        self.seq += 1
        self.stats_ticks += 1
        changed: dict[str, int] = {}
        minute_closed = False
        steer = None if self.steering is None else self.steering(self.ticked_at, at)
        if steer is not None and not (steer.moves or steer.frozen or steer.freeze_all):
            steer = None  # nothing to steer: every asset takes its step
        nudges = None if self.nudges is None else self.nudges(at)
        regime = self.regime
        backlog = self._backlog
        if backlog is not None and dt > 0:
            if backlog.times and (backlog.dt != dt or backlog.regime is not regime):
                self.settle()
            backlog.dt, backlog.regime = dt, regime
            chosen = self._due(steer, nudges)
            owed_from = len(backlog.times) + 1
        else:
            if backlog is not None:
                self.settle()
            chosen = list(self.markets.items())
            owed_from = 0
        for asset_id, market in chosen:
            if not market.active:
                continue
            before = market.price
            if nudges and asset_id in nudges:
                market.nudge(nudges[asset_id])
            if steer is None:
                closed = market.advance(at, dt, regime, ALL_WIDTHS)
            elif asset_id in steer.moves:
                closed = market.shift(at, steer.moves[asset_id], ALL_WIDTHS)
            elif steer.is_frozen(asset_id):
                closed = market.hold(at, ALL_WIDTHS)
            else:
                closed = market.advance(at, dt, regime, ALL_WIDTHS)
            market.owed_from = owed_from
            price = market.price
            if price != before:
                changed[asset_id] = price
            if not closed:
                continue
            for name, candle in closed:
                minute_closed = minute_closed or name == "1m"
                self._pending.append((_SAVE_CANDLE, (asset_id, INTERVALS[name], *candle)))
        if backlog is not None:
            if owed_from:
                backlog.times.append(at)
            if self.seq % self.settings.write_ticks == 0:
                # Every market pays at each write, so its closed candles are saved with it;
                # the markets' own state is saved hourly (and by ``flush``), not each minute.
                self.settle()
            minute_closed = int(at) // 3600 != self._pruned_hour
        if minute_closed:
            self._save_state(at)
        self.ticked_at = at
        frame = Frame(self.seq, at, changed)
        self._frames.append(frame)
        return frame

    def _due(
        self, steer: TickPlan | None, nudges: dict[str, float] | None
    ) -> list[tuple[str, Market]]:
        """The markets that take this tick now, in catalogue order; the rest owe it."""
        if steer is not None and steer.freeze_all:
            return list(self.markets.items())
        due = set(self.current)
        if self.wanted is not None:
            due.update(self.wanted())
        if steer is not None:
            due.update(steer.moves)
            due.update(steer.frozen)
        if nudges:
            due.update(nudges)
        order = self._order
        markets = self.markets
        return [(a, markets[a]) for a in sorted(due.intersection(order), key=order.__getitem__)]

    @property
    def owed_ticks(self) -> int:
        """On demand: how many ticks the markets not read since may still owe."""
        return 0 if self._backlog is None else len(self._backlog.times)

    def keep_current(self, asset_ids: Iterable[str]) -> None:
        """On demand: step these assets at every tick (they are read at every tick anyway)."""
        self.current.update(asset_ids)

    def settle(self) -> None:
        """On demand: every market pays what it owes; the candles that closed are queued."""
        backlog = self._backlog
        if backlog is None:
            return
        for market in self.markets.values():
            market.pay()
            market.owed_from = 0
        backlog.times.clear()
        self._pending.extend(
            (_SAVE_CANDLE, (asset_id, INTERVALS[name], *candle))
            for asset_id, name, candle in backlog.closed
        )
        backlog.closed.clear()

    def _save_state(self, at: float) -> None:
        for market in self.markets.values():
            self._pending.append((_SAVE_MARKET, _row(market.saved())))
        hour = int(at) // 3600
        if hour != self._pruned_hour:
            # Once an hour, forget candles older than what memory keeps.
            self._pruned_hour = hour
            for name, seconds in INTERVALS.items():
                oldest = int(at) - seconds * CAPACITY[name]
                self._pending.append(
                    ("DELETE FROM candles WHERE width = ? AND start < ?", (seconds, oldest))
                )

    def publish(self, frame: Frame) -> None:
        """Hand a frame to the tick listeners, then offer it to every subscriber; never waits."""
        for listener in self._tick_listeners:
            listener(frame)
        self._fanout.publish(frame)

    # Subscribers

    def on_tick(self, listener: Callable[[Frame], None]) -> None:
        """Call ``listener`` synchronously with every frame (it must not block)."""
        self._tick_listeners.append(listener)

    def subscribe(self, size: int) -> Subscription[Frame]:
        """A new subscription to every following frame."""
        return self._fanout.subscribe(size)

    def unsubscribe(self, subscription: Subscription[Frame]) -> None:
        """Stop sending to a subscription."""
        self._fanout.unsubscribe(subscription)

    def close_subscriptions(self) -> None:
        """End every subscription (the exchange is stopping); each learns why."""
        self._fanout.end_all(SHUTTING_DOWN)

    def subscribers(self) -> int:
        """How many subscriptions are live."""
        return len(self._fanout)

    @property
    def dropped(self) -> int:
        """Subscribers dropped for falling behind."""
        return self._fanout.dropped

    def frames_since(self, seq: int) -> list[Frame] | None:
        """The held frames after ``seq``, or None when some of them are no longer held."""
        if seq > self.seq or seq < 0:
            return None
        if seq == self.seq:
            return []
        if not self._frames or self._frames[0].seq > seq + 1:
            return None
        return [frame for frame in self._frames if frame.seq > seq]

    def snapshot(self) -> Frame:
        """Every active asset's current price, as of the latest tick."""
        prices = {asset_id: m.price for asset_id, m in self.markets.items() if m.active}
        return Frame(self.seq, self.ticked_at, prices)

    # Ranks

    def ranking(self) -> Ranking:
        """Every market by its current market cap, largest first, and its rank (1-based).

        Sorted on the first read after a tick, so a tick that nobody reads ranks costs nothing.
        Equal caps keep the catalogue's order.
        """
        ranking = self._ranking
        if ranking is None or ranking.seq != self.seq:
            ordered = sorted(self.markets.values(), key=lambda m: -m.market_cap)
            ranks = {m.asset.asset_id: number for number, m in enumerate(ordered, start=1)}
            ranking = self._ranking = Ranking(self.seq, ordered, ranks)
        return ranking

    # Control

    def set_regime(self, regime: Regime) -> None:
        """Switch the market regime from the next tick on (owed ticks keep the old one)."""
        self.regime = regime


def _row(saved: SavedMarket) -> tuple[object, ...]:
    return (
        saved.asset_id,
        saved.price,
        saved.deviation,
        saved.ath,
        saved.ath_date,
        saved.atl,
        saved.atl_date,
        saved.updated_at,
    )
