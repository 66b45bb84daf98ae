"""The scenario runner: plays a timeline and its participants against a running exchange.

Order never comes from task scheduling. After each price tick the runner, and only the
runner, acts: first the timeline's events that are due (in file order, through the market
desk, as a teacher would), then each participant in a fixed order (bots in the file's order,
then strategies), each one's orders sent and answered one after the other. Offline, the runner
wakes half a tick after each tick on trio's virtual clock, so every account actor and store
commit of the tick has finished before it looks.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import trio

from exchange.control import kind_of
from exchange.engine import Exchange
from exchange.errors import DomainError
from exchange.ledger import find_mismatches
from exchange.money import CENTS, PRICE_SCALE, QTY_SCALE
from exchange.orders import Order, OrderRequest
from exchange.pricemodel import stream
from exchange.users import NewUser
from scenarios import virtual
from scenarios.bots import BOT_KINDS, Bot
from scenarios.digest import digests
from scenarios.model import Scenario
from scenarios.strategy import Buy, Cancel, OpenOrder, Request, Sell, Strategy, View

SCENARIO_USER = "scenario"
SEAT = "seat"
# How many points each chart keeps: a day of ticks is sampled down to this many.
CHART_POINTS = 600
# Prices kept per watched asset for ``View.history``: ten hours of one-second ticks.
HISTORY_TICKS = 36_000


@dataclass
class Fill:
    """One filled order as the runner saw it: at which tick, what it paid and why."""

    tick: int
    time: float
    participant: str
    asset: str
    side: str
    order_type: str
    quantity: int
    price: int
    model_price: int
    fee: int
    total: int
    order_id: str


@dataclass
class Participant:
    """One trader of the story: a bot or a strategy, its account and what it holds."""

    username: str
    label: str
    kind: str
    strategy: Strategy
    funded: int  # cents deposited at the start
    cash: int = 0
    available: int = 0
    holdings: dict[str, int] = field(default_factory=dict)
    held_free: dict[str, int] = field(default_factory=dict)
    # What views show of ``held_free`` (units), made once per refresh.
    view_holdings: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    open_orders: tuple[OpenOrder, ...] = ()
    dirty: bool = True
    failure: str | None = None
    orders: int = 0
    rejected: int = 0
    last_rejection: str | None = None
    equity: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class EventRecord:
    """What became of one timeline entry."""

    tick: int
    at: float
    kind: str
    status: str
    detail: str


@dataclass
class RunResult:
    """Everything the reports need of a finished run."""

    scenario: Scenario
    seed: int
    ticks: int
    participants: list[Participant]
    events: list[EventRecord]
    fills: list[Fill]
    prices: dict[str, list[tuple[int, float]]]
    headlines: list[tuple[int, str]]
    digests: dict[str, Any]
    final_prices: dict[str, int]
    problems: list[str]
    wall: float


@dataclass(frozen=True)
class Standing:
    """One line of the live leaderboard."""

    rank: int
    participant: str
    label: str
    kind: str
    equity: float
    return_pct: float


def seat_username(number: int) -> str:
    """The account name of the ``number``-th human seat (1-based)."""
    return f"seat_{number:03d}"


def bot_username(name: str, number: int) -> str:
    """The account name of the ``number``-th bot of a bots entry."""
    return f"bot_{name}_{number:03d}"


class Runner:
    """Plays one scenario against one running exchange."""

    def __init__(
        self,
        exchange: Exchange,
        scenario: Scenario,
        seed: int,
        strategies: Sequence[tuple[str, Callable[[], Strategy]]] = (),
        progress: Callable[[int, int], None] | None = None,
        seats: int = 0,
    ) -> None:
        self.exchange = exchange
        self.seats = seats
        self.scenario = scenario
        self.seed = seed
        self.progress = progress
        self.in_play = scenario.assets or tuple(a.asset_id for a in exchange.assets)
        self.participants: list[Participant] = []
        self.events: list[EventRecord] = []
        self.fills: list[Fill] = []
        self.headlines: list[tuple[int, str]] = []
        self.tick = 0
        self._next_event = 0
        self._strategies = strategies
        self._history: dict[str, deque[float]] = {}
        self._chart: dict[str, list[tuple[int, float]]] = {a: [] for a in self.in_play}
        self._sample_every = max(1, scenario.ticks // CHART_POINTS)
        self._started = 0.0
        self._first_seq = 0
        # Who acts when: participants acting at every tick, and the others' next ticks.
        self._always: set[int] = set()
        self._always_list: list[int] = []
        self._wakes: list[tuple[int, int]] = []
        # Live control.
        self.paused = False
        self.stopped = False
        self._resumed = trio.Event()
        self._skip = trio.Event()

    # Set-up

    def _build(self) -> None:
        tick = self.scenario.tick_interval
        for spec in self.scenario.bots:
            cls = BOT_KINDS[spec.kind]
            for number in range(spec.count):
                username = bot_username(spec.name, number)
                # One named stream per bot: adding a bot never shifts another's draws.
                rng = stream(self.seed, f"bot:{username}")
                self.participants.append(
                    Participant(
                        username,
                        f"{spec.name} #{number}",
                        f"bot:{spec.kind}",
                        _bot(cls, spec.params, rng, tick),
                        spec.cash,
                    )
                )
        for number, (label, factory) in enumerate(self._strategies):
            username = f"strategy_{number:02d}"
            try:
                strategy = factory()
            except Exception as exc:
                strategy = _Broken()
                failure: str | None = f"constructor raised {exc!r}"
            else:
                failure = None
            participant = Participant(
                username, label, "strategy", strategy, self.scenario.starting_cash
            )
            participant.failure = failure
            if hasattr(strategy, "rng") or failure is None:
                _give_rng(strategy, stream(self.seed, f"strategy:{username}"))
            self.participants.append(participant)
        for number in range(1, self.seats + 1):
            # A seat is a person's account: it is funded and ranked, and never acts here.
            self.participants.append(
                Participant(
                    seat_username(number),
                    f"Seat {number}",
                    SEAT,
                    _Broken(),
                    self.scenario.starting_cash,
                )
            )
        watched = {a for p in self.participants for a in _watched(p, self.in_play)}
        self._history = {a: deque(maxlen=HISTORY_TICKS) for a in self.in_play if a in watched}

    async def setup(self) -> None:
        """Create every participant's account (role ``bot``) and fund it."""
        self._build()
        exchange = self.exchange
        exchange.impact.set_rules(self.scenario.impact)
        if exchange.credentials(SCENARIO_USER) is None:
            await exchange.register(
                NewUser(
                    SCENARIO_USER, "scenario@bots.invalid", "!", "Scenario", "Runner", role="bot"
                )
            )
        for participant in self.participants:
            name = participant.username
            if participant.kind == SEAT:
                # Funded once, when created: a restart leaves a person's account as it is.
                # The password is unusable until a teacher issues the seats' logins.
                if exchange.credentials(name) is None:
                    await exchange.register(
                        NewUser(name, f"{name}@seats.invalid", "!", "Seat", name.split("_")[1])
                    )
                    if participant.funded:
                        await exchange.deposit(name, participant.funded, "Scenario starting cash")
                await self._refresh(participant)
                continue
            if exchange.credentials(name) is None:
                await exchange.register(
                    NewUser(name, f"{name}@bots.invalid", "!", "Bot", name, role="bot")
                )
            if participant.funded:
                await exchange.deposit(name, participant.funded, "Scenario starting cash")
            await self._refresh(participant)

    # Running

    async def run_offline(self) -> None:
        """Play every tick on the (virtual) clock, acting half a tick after each.

        The feed is driven (``Settings.feed_driven``): the runner takes each tick when the
        clock reaches it, then sleeps half a tick so that whatever the tick set off finishes.
        """
        feed = self.exchange.feed
        interval = self.scenario.tick_interval
        first_seq = self._first_seq = feed.seq
        self._started = time.perf_counter()
        # Prices read at every tick are stepped at every tick (the others when read).
        feed.keep_current(self._history)
        await self._step(0)
        for tick in range(1, self.scenario.ticks + 1):
            await virtual.sleep_until(feed.next_tick_at)
            await feed.advance()
            await virtual.sleep_until(feed.next_tick_at - 0.5 * interval)
            assert feed.seq == first_seq + tick, "the runner fell behind the feed"
            await self._step(tick)

    async def run_live(self) -> None:
        """Play the story on the exchange clock while the API serves; obeys live control."""
        feed = self.exchange.feed
        self._started = time.perf_counter()
        self._first_seq = feed.seq
        await self._step(0)
        tick = 0
        ticked = trio.Event()

        def on_tick(frame: object) -> None:
            ticked.set()

        feed.on_tick(on_tick)
        while tick < self.scenario.ticks and not self.stopped:
            if self.paused:
                await self._resumed.wait()
                continue
            await ticked.wait()
            ticked = trio.Event()
            if self.paused or self.stopped:
                continue
            tick += 1
            await self._step(tick)
            if self._skip.is_set():
                self._skip = trio.Event()
                tick = self._skip_to_next(tick)
        self.stopped = True

    def _skip_to_next(self, tick: int) -> int:
        """Jump the story's own time to the tick before its next event (live only)."""
        if self._next_event >= len(self.scenario.timeline):
            return tick
        at = self.scenario.timeline[self._next_event].at
        target = max(tick, math.ceil(at / self.scenario.tick_interval) - 1)
        self.tick = target
        return target

    async def _step(self, tick: int) -> None:
        self.tick = tick
        elapsed = tick * self.scenario.tick_interval
        await self._fire_events(tick, elapsed)
        self._record_prices(tick)
        for number in self._due(tick):
            participant = self.participants[number]
            if participant.failure is not None:
                continue
            await self._act(participant, tick, elapsed)
            strategy = participant.strategy
            if isinstance(strategy, Bot) and number not in self._always:
                heapq.heappush(self._wakes, (_next_tick(strategy, tick), number))
        if tick % self._sample_every == 0 or tick == self.scenario.ticks:
            for participant in self.participants:
                participant.equity.append((tick, self._equity(participant)))
        if self.progress is not None:
            self.progress(tick, self.scenario.ticks)

    def _due(self, tick: int) -> list[int]:
        """The participants (by number) that act at this tick, in their fixed order.

        Everyone acts at tick 0; then strategies and bots that may act at any tick act at
        every tick, and every other bot at the ticks it names (``Bot.next_tick``).
        """
        if tick == 0:
            actors = [n for n, p in enumerate(self.participants) if p.kind != SEAT]
            for number in actors:
                strategy = self.participants[number].strategy
                if not isinstance(strategy, Bot) or strategy.next_tick(0) is None:
                    self._always.add(number)
            self._always_list = sorted(self._always)
            return actors
        wakes = self._wakes
        if not wakes or wakes[0][0] > tick:
            return self._always_list
        due = set(self._always)
        while wakes and wakes[0][0] <= tick:
            due.add(heapq.heappop(wakes)[1])
        return sorted(due)

    async def _fire_events(self, tick: int, elapsed: float) -> None:
        timeline = self.scenario.timeline
        while self._next_event < len(timeline) and timeline[self._next_event].at <= elapsed:
            event = timeline[self._next_event]
            self._next_event += 1
            headline = getattr(event.action, "headline", None) or ""
            try:
                await self.exchange.desk.submit(event.action, SCENARIO_USER, None)
            except DomainError as refusal:
                self.events.append(
                    EventRecord(tick, event.at, event.kind, "failed", refusal.message)
                )
                continue
            self.events.append(EventRecord(tick, event.at, kind_of(event.action), "done", headline))
            if headline:
                self.headlines.append((tick, headline))

    def _record_prices(self, tick: int) -> None:
        markets = self.exchange.feed.markets
        for asset, history in self._history.items():
            history.append(markets[asset].price / PRICE_SCALE)
        if tick % self._sample_every == 0 or tick == self.scenario.ticks:
            for asset, points in self._chart.items():
                points.append((tick, markets[asset].price / PRICE_SCALE))

    def _price(self, asset: str) -> float | None:
        if asset not in self._chart:
            return None
        return self.exchange.feed.markets[asset].price / PRICE_SCALE

    def _recent(self, asset: str, count: int) -> Sequence[float]:
        history = self._history.get(asset)
        if history is None or count <= 0:
            return ()
        if count >= len(history):
            return tuple(history)
        newest_first = tuple(itertools.islice(reversed(history), count))
        return newest_first[::-1]

    def _view(self, participant: Participant, tick: int, elapsed: float) -> View:
        return View(
            tick,
            elapsed,
            self._price,
            self._recent,
            participant.available / CENTS,
            participant.view_holdings,
            participant.open_orders,
        )

    async def _act(self, participant: Participant, tick: int, elapsed: float) -> None:
        if participant.dirty:
            await self._refresh(participant)
        view = self._view(participant, tick, elapsed)
        try:
            requests = (
                participant.strategy.on_start(view)
                if tick == 0
                else participant.strategy.on_tick(view)
            )
        except Exception as exc:
            participant.failure = (
                f"tick {tick}: {'on_start' if tick == 0 else 'on_tick'} raised {exc!r}"
            )
            return
        if not requests:
            if participant.open_orders:
                participant.dirty = True  # a resting order may fill at any tick
            return
        if not isinstance(requests, list | tuple):
            participant.failure = f"tick {tick}: returned {type(requests).__name__}, not a list"
            return
        for request in requests:
            problem = await self._send(participant, request, tick, elapsed)
            if problem is not None:
                participant.failure = f"tick {tick}: invalid order {request!r}: {problem}"
                break
        participant.dirty = True

    async def _send(
        self, participant: Participant, request: Request, tick: int, elapsed: float
    ) -> str | None:
        """Send one request; an invalid one is returned as a problem, refusals are counted."""
        exchange = self.exchange
        if isinstance(request, Cancel):
            if not any(o.order_id == request.order_id for o in participant.open_orders):
                return "not an open order of this participant"
            try:
                await exchange.cancel_order(participant.username, request.order_id)
            except DomainError as refusal:
                self._refused(participant, refusal)
            return None
        if not isinstance(request, Buy | Sell):
            return "not a Buy, Sell or Cancel"
        if request.asset not in self._chart:
            return f"asset {request.asset!r} is not in play"
        quote = exchange.quote(request.asset)
        if quote.price <= 0:
            return "no price"
        limit = None
        if request.limit is not None:
            if not _positive(request.limit):
                return "limit must be a positive number"
            limit = max(1, round(request.limit * PRICE_SCALE))
        quantity = self._quantity(participant, request, quote.price)
        if isinstance(quantity, str):
            return quantity
        if quantity <= 0:
            return None  # nothing to trade: not an error
        side = "buy" if isinstance(request, Buy) else "sell"
        order_type = f"{'limit' if limit else 'market'}_{side}"
        for piece in self._pieces(quantity, limit or quote.price):
            try:
                order = await exchange.place_order(
                    participant.username,
                    OrderRequest(order_type, request.asset, piece, price=limit),
                )
            except DomainError as refusal:
                self._refused(participant, refusal)
                break
            participant.orders += 1
            if order.status == "completed":
                self._record_fill(participant, order, tick, elapsed)
        return None

    def _quantity(self, participant: Participant, request: Buy | Sell, price: int) -> int | str:
        if isinstance(request, Sell):
            if request.quantity is None:
                return participant.held_free.get(request.asset, 0)
            if not _positive(request.quantity):
                return "quantity must be a positive number"
            units = math.floor(request.quantity * QTY_SCALE)
            return min(units, participant.held_free.get(request.asset, 0))
        if request.usd is not None and request.quantity is not None:
            return "give quantity or usd, not both"
        if request.usd is not None:
            if not _positive(request.usd):
                return "usd must be a positive number"
            level = price if request.limit is None else round(request.limit * PRICE_SCALE)
            return math.floor(request.usd * CENTS * (QTY_SCALE * PRICE_SCALE // CENTS) / level)
        if request.quantity is None or not _positive(request.quantity):
            return "quantity must be a positive number"
        return math.floor(request.quantity * QTY_SCALE)

    def _pieces(self, quantity: int, price: int) -> list[int]:
        """The quantity in orders each within the largest order value (a whale's slicing)."""
        cap_units = self.scenario.max_order_value * (QTY_SCALE * PRICE_SCALE // CENTS) // price
        cap_units = cap_units * 99 // 100  # room for the price moving between pieces
        if cap_units <= 0:
            return [quantity]
        pieces = [cap_units] * (quantity // cap_units)
        if quantity % cap_units:
            pieces.append(quantity % cap_units)
        return pieces[:1000]

    def _record_fill(
        self, participant: Participant, order: Order, tick: int, elapsed: float
    ) -> None:
        assert order.filled_price is not None and order.total_amount is not None
        # The order keeps its tick's price without the impact part (none: impact is off).
        model = order.filled_price if order.model_price is None else order.model_price
        self.fills.append(
            Fill(
                tick,
                elapsed,
                participant.username,
                order.asset_id,
                "buy" if order.is_buy else "sell",
                order.order_type,
                order.quantity,
                order.filled_price,
                model,
                order.fee,
                order.total_amount,
                order.order_id,
            )
        )

    def _refused(self, participant: Participant, refusal: DomainError) -> None:
        participant.rejected += 1
        participant.last_rejection = f"{refusal.code}: {refusal.message}"

    async def _refresh(self, participant: Participant) -> None:
        portfolio = await self.exchange.portfolio(participant.username)
        participant.cash = portfolio.cash
        participant.available = portfolio.cash - portfolio.reserved
        participant.holdings = {h.asset_id: h.quantity for h in portfolio.holdings}
        participant.held_free = {h.asset_id: h.available for h in portfolio.holdings}
        participant.view_holdings = MappingProxyType(
            {a: q / QTY_SCALE for a, q in participant.held_free.items() if q}
        )
        if participant.open_orders or participant.orders:
            pending, _ = self.exchange.orders(participant.username, 500, 0, status="pending")
            participant.open_orders = tuple(_open(order) for order in pending)
        participant.dirty = bool(participant.open_orders)

    async def standings(self) -> list[Standing]:
        """Every participant by equity now (cash and holdings at the latest tick), best first.

        Read from each account as it stands, so a seat's trades count the moment they are made.
        """
        standings = []
        for participant in self.participants:
            portfolio = await self.exchange.portfolio(participant.username)
            total = self._worth(
                portfolio.cash, {h.asset_id: h.quantity for h in portfolio.holdings}
            )
            start = participant.funded / CENTS
            change = round((total / start - 1) * 100, 4) if start else 0.0
            standings.append(
                Standing(
                    0, participant.username, participant.label, participant.kind, total, change
                )
            )
        standings.sort(key=lambda s: (-s.equity, s.participant))
        return [replace(s, rank=rank) for rank, s in enumerate(standings, start=1)]

    def seat_names(self) -> list[str]:
        """The seats' account names, in order."""
        return [p.username for p in self.participants if p.kind == SEAT]

    def _equity(self, participant: Participant) -> float:
        return self._worth(participant.cash, participant.holdings)

    def _worth(self, cash: int, holdings: Mapping[str, int]) -> float:
        """Cash (cents) and holdings (units) in USD at the latest tick, to the cent."""
        markets = self.exchange.feed.markets
        total = cash / CENTS
        for asset, quantity in holdings.items():
            market = markets.get(asset)  # an asset no longer in play is worth nothing here
            if market is not None:
                total += quantity / QTY_SCALE * market.price / PRICE_SCALE
        return round(total, 2)

    # Live control

    def pause(self) -> None:
        """Hold the story (the market itself keeps its state)."""
        self.paused = True
        self._resumed = trio.Event()

    def resume(self) -> None:
        """Go on with the story."""
        self.paused = False
        self._resumed.set()

    def skip(self) -> None:
        """Jump to the next event at the next step."""
        self._skip.set()

    def stop(self) -> None:
        """End the story; the exchange goes on serving."""
        self.stopped = True
        self._resumed.set()

    def next_event(self) -> tuple[float, str] | None:
        """The offset and label of the next timeline event, if any."""
        if self._next_event >= len(self.scenario.timeline):
            return None
        event = self.scenario.timeline[self._next_event]
        return event.at, event.label

    # Results

    async def finish(self) -> None:
        """Bring every participant's figures up to date."""
        await self.exchange.feed.flush()
        await self.exchange.store.barrier()
        for participant in self.participants:
            await self._refresh(participant)

    def result(self, wall: float) -> RunResult:
        """The run's results, with the ledgers' digests and the ledger check."""
        store = self.exchange.store
        usernames = [SCENARIO_USER, *(p.username for p in self.participants)]
        fills = [*self.fills, *self._resting_fills()]
        ranks = {
            order_id: rank
            for rank, (order_id,) in enumerate(
                store.read("SELECT order_id FROM orders ORDER BY seq")
            )
        }
        fills.sort(key=lambda fill: (fill.tick, ranks.get(fill.order_id, 0)))
        return RunResult(
            scenario=self.scenario,
            seed=self.seed,
            ticks=self.tick,
            participants=self.participants,
            events=self.events,
            fills=fills,
            prices=self._chart,
            headlines=self.headlines,
            digests=digests(store, usernames),
            final_prices={a: self.exchange.feed.markets[a].price for a in self.in_play},
            problems=find_mismatches(store.conn),
            wall=wall,
        )

    def _resting_fills(self) -> list[Fill]:
        """Fills of resting orders (made by the triggers at a tick), as their rows keep them."""
        seen = {fill.order_id for fill in self.fills}
        names = {p.username for p in self.participants}
        interval = self.scenario.tick_interval
        fills = []
        for row in self.exchange.store.read(
            "SELECT order_id, username, order_type, asset_id, quantity, filled_price, fee, "
            "total_amount, fill_seq, model_price FROM orders WHERE status = 'completed' "
            "ORDER BY seq"
        ):
            order_id, username, kind, asset, quantity, price, fee, total, seq, model = row
            if order_id in seen or username not in names:
                continue
            tick = seq - self._first_seq
            side = kind.rsplit("_", 1)[1]
            fills.append(
                Fill(
                    tick,
                    tick * interval,
                    username,
                    asset,
                    side,
                    kind,
                    quantity,
                    price,
                    price if model is None else model,
                    fee,
                    total,
                    order_id,
                )
            )
        return fills

    def chart(self) -> dict[str, list[tuple[int, float]]]:
        """The sampled price path per asset in play."""
        return self._chart


def _next_tick(bot: Bot, tick: int) -> int:
    wake = bot.next_tick(tick)
    return tick + 1 if wake is None else max(wake, tick + 1)


def _bot(cls: type[Bot], params: dict[str, Any], rng: random.Random, tick: float) -> Bot:
    bot = cls(params, rng, tick)
    bot.spread_out()
    return bot


class _Broken:
    """Stands in for a strategy whose constructor failed; never called."""

    def on_start(self, view: View) -> list[Request] | None:
        return None

    def on_tick(self, view: View) -> list[Request] | None:
        return None


def _give_rng(strategy: object, rng: random.Random) -> None:
    # A strategy may use ``self.rng``: its own stream, so its draws are part of the seed.
    with contextlib.suppress(AttributeError):
        strategy.rng = rng  # type: ignore[attr-defined]


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _watched(participant: Participant, in_play: tuple[str, ...]) -> tuple[str, ...]:
    if participant.kind == "strategy":
        return in_play
    values = getattr(participant.strategy, "values", {})
    return tuple(values.get("assets", ())) + ((values["asset"],) if "asset" in values else ())


def _open(order: Order) -> OpenOrder:
    return OpenOrder(
        order.order_id,
        order.asset_id,
        "buy" if order.is_buy else "sell",
        order.order_type,
        order.quantity / QTY_SCALE,
        None if order.price is None else order.price / PRICE_SCALE,
    )
