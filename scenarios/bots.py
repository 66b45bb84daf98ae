"""Built-in bots: noise, momentum, mean reversion, DCA, panic seller and whale.

Each bot is a strategy (``on_start``/``on_tick`` on a read-only view) with its own random
stream; the runner makes it a real user account (role ``bot``) and sends its orders through
the engine like anyone's. Parameters are checked when the scenario loads.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scenarios.model import parse_duration
from scenarios.strategy import Buy, Request, Sell, View


@dataclass
class Checked:
    """Parameters with defaults filled in, and each problem as (field, message)."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Param:
    """One parameter: its kind (number, seconds, asset, assets, orders), default and bounds."""

    kind: str
    default: Any
    low: float = 0.0
    high: float = 1e12
    doc: str = ""


class Bot:
    """Shared behaviour: parameters, the random stream, the assets it trades."""

    kind: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    summary: ClassVar[str] = ""

    def __init__(self, values: Mapping[str, Any], rng: random.Random, tick: float) -> None:
        self.values = dict(values)
        self.rng = rng
        self.tick_interval = tick
        self.phase = 0
        self.every = self.ticks(self.values["every"]) if "every" in self.values else 1

    @classmethod
    def check_params(
        cls, raw: Mapping[str, Any], in_play: tuple[str, ...], duration: float
    ) -> Checked:
        """Fill defaults and check every parameter against its rule."""
        checked = Checked()
        for name in sorted(set(raw) - set(cls.params)):
            checked.problems.append((name, f"is not a parameter of {cls.kind} bots"))
        for name, rule in cls.params.items():
            value = raw.get(name, rule.default)
            checked.values[name] = _check(rule, name, value, in_play, duration, checked)
        return checked

    def ticks(self, seconds: float) -> int:
        """A span in seconds as a whole number of ticks (at least one)."""
        return max(1, round(seconds / self.tick_interval))

    def spread_out(self) -> None:
        """Give this bot its own phase and a threshold within 20% of the set one.

        Bots of one entry would otherwise act in lockstep; each draws from its own stream.
        """
        if "every" in self.values:
            self.phase = self.rng.randrange(self.every)
        for name in ("threshold", "drawdown"):
            if name in self.values:
                self.values[name] *= self.rng.uniform(0.8, 1.2)

    def due(self, tick: int) -> bool:
        """True at the ticks this bot looks at the market (every ``every``, at its phase)."""
        return tick % self.every == self.phase

    def next_tick(self, tick: int) -> int | None:
        """The first tick after ``tick`` at which this bot may act (None: any tick).

        The runner builds no view for a bot, nor calls it, before that tick; ``on_tick``
        returns nothing at the ticks in between anyway.
        """
        if "every" not in self.values:
            return None
        return tick + 1 + (self.phase - tick - 1) % self.every

    def on_start(self, view: View) -> list[Request] | None:
        """Nothing at the start unless the kind says so."""
        return None

    def on_tick(self, view: View) -> list[Request] | None:
        """Nothing unless the kind says so."""
        return None


def _check(
    rule: Param,
    name: str,
    value: Any,
    in_play: tuple[str, ...],
    duration: float,
    checked: Checked,
) -> Any:
    fail = checked.problems.append
    if rule.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail((name, "must be a number"))
            return rule.default
        if not (math.isfinite(value) and rule.low <= value <= rule.high):
            fail((name, f"must be between {rule.low:g} and {rule.high:g}"))
            return rule.default
        return float(value)
    if rule.kind == "seconds":
        seconds = parse_duration(value)
        if seconds is None or seconds <= 0:
            fail((name, "must be a positive duration (seconds or '15m', '2h')"))
            return parse_duration(rule.default)
        return seconds
    if rule.kind == "asset":
        chosen = in_play[0] if value is None else value
        if chosen not in in_play:
            fail((name, f"must be an asset in play, not {chosen!r}"))
        return chosen
    if rule.kind == "assets":
        chosen = list(in_play[:3]) if value is None else value
        if not isinstance(chosen, list) or not chosen or any(a not in in_play for a in chosen):
            fail((name, "must be a non-empty list of assets in play"))
            return list(in_play[:1])
        return chosen
    if rule.kind == "orders":
        return _orders(value, in_play, duration, fail)
    raise AssertionError(rule.kind)


def _orders(value: Any, in_play: tuple[str, ...], duration: float, fail: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        fail(("orders", "must be a non-empty list of {at, side, usd, asset}"))
        return []
    orders = []
    for number, order in enumerate(value):
        where = f"orders[{number}]"
        if not isinstance(order, dict) or set(order) - {"at", "side", "usd", "asset", "over"}:
            fail((where, "must be a table of at, side, usd, asset and over"))
            continue
        over = parse_duration(order.get("over", 0))
        if over is None:
            fail((f"{where}.over", "must be a duration (seconds or '10m')"))
            continue
        at = parse_duration(order.get("at"))
        if at is None or (duration and at >= duration):
            fail((f"{where}.at", "must be a time within the scenario"))
            continue
        side = order.get("side")
        if side not in ("buy", "sell"):
            fail((f"{where}.side", "must be buy or sell"))
            continue
        usd = order.get("usd")
        if isinstance(usd, bool) or not isinstance(usd, int | float) or not 0 < usd <= 1e9:
            fail((f"{where}.usd", "must be a positive number of USD"))
            continue
        asset = order.get("asset", in_play[0])
        if asset not in in_play:
            fail((f"{where}.asset", f"must be an asset in play, not {asset!r}"))
            continue
        orders.append({"at": at, "side": side, "usd": float(usd), "asset": asset, "over": over})
    return sorted(orders, key=lambda o: o["at"])


def _affordable(view: View, usd: float) -> float:
    # Leave a little cash for the fee and the rounding of the cost.
    return min(usd, view.cash * 0.98)


class Noise(Bot):
    """Trades at random: at each tick, with probability ``rate``, buys or sells a random asset."""

    kind = "noise"
    summary = "random buys and sells: the background hum of a market"
    params: ClassVar[dict[str, Param]] = {
        "assets": Param("assets", None, doc="assets it trades (default: the first three)"),
        "rate": Param("number", 0.01, 0.0, 1.0, "chance of an order at each tick"),
        "usd_min": Param("number", 50.0, 1.0, 1e9, "smallest order in USD"),
        "usd_max": Param("number", 500.0, 1.0, 1e9, "largest order in USD"),
    }

    # The next tick it trades at: the gaps between trades are drawn (geometric, as one draw
    # per tick with probability ``rate`` would give), so quiet ticks cost nothing.
    _next: int | None = None

    def _draw_next(self, tick: int) -> int:
        rate = self.values["rate"]
        if rate >= 1.0:
            gap = 0
        elif rate <= 0.0:
            gap = 1 << 62
        else:
            gap = int(math.log(1.0 - self.rng.random()) / math.log(1.0 - rate))
        self._next = tick + 1 + min(gap, 1 << 62)
        return self._next

    def next_tick(self, tick: int) -> int | None:
        """The next tick it trades at."""
        if self._next is None or self._next <= tick:
            return self._draw_next(tick)
        return self._next

    def on_tick(self, view: View) -> list[Request] | None:
        """One random order at each of its trading ticks."""
        rng = self.rng
        due = self._draw_next(view.tick - 1) if self._next is None else self._next
        if view.tick < due:
            return None
        self._draw_next(view.tick)
        asset = rng.choice(self.values["assets"])
        usd = rng.uniform(
            self.values["usd_min"], max(self.values["usd_min"], self.values["usd_max"])
        )
        held = view.holdings.get(asset, 0.0)
        if rng.random() < 0.5 or held <= 0:
            usd = _affordable(view, usd)
            return [Buy(asset, usd=usd)] if usd >= 1 else None
        price = view.price(asset) or 0.0
        quantity = min(held, usd / price) if price else held
        return [Sell(asset, quantity=quantity)]


class Momentum(Bot):
    """Follows the trend: buys after a rise of ``threshold`` % over ``lookback``, sells a fall."""

    kind = "momentum"
    summary = "buys what went up, sells what went down"
    params: ClassVar[dict[str, Param]] = {
        "assets": Param("assets", None, doc="assets it watches"),
        "lookback": Param("seconds", "10m", doc="how far back the trend is measured"),
        "threshold": Param("number", 0.5, 0.0, 100.0, "move in percent that counts as a trend"),
        "usd": Param("number", 500.0, 1.0, 1e9, "size of each buy in USD"),
        "every": Param("seconds", "1m", doc="how often it looks"),
    }

    def on_tick(self, view: View) -> list[Request] | None:
        """Look every ``every`` seconds; trade each watched asset with a trend."""
        if not self.due(view.tick):
            return None
        back = self.ticks(self.values["lookback"]) + 1

        def trend(prices: Sequence[float]) -> float:
            return (prices[-1] / prices[0] - 1) * 100

        return _on_signal(self, view, back, trend)


class MeanReversion(Bot):
    """Bets on the return to the average: buys ``threshold`` % below it, sells as far above."""

    kind = "mean_reversion"
    summary = "buys dips below the moving average, sells rallies above it"
    params: ClassVar[dict[str, Param]] = {
        "assets": Param("assets", None, doc="assets it watches"),
        "window": Param("seconds", "30m", doc="span of the moving average"),
        "threshold": Param("number", 1.0, 0.0, 100.0, "distance from the average in percent"),
        "usd": Param("number", 500.0, 1.0, 1e9, "size of each buy in USD"),
        "every": Param("seconds", "1m", doc="how often it looks"),
    }

    def on_tick(self, view: View) -> list[Request] | None:
        """Compare each watched asset with its moving average."""
        if not self.due(view.tick):
            return None
        window = self.ticks(self.values["window"])

        def below_average(prices: Sequence[float]) -> float:
            # How far below its average the price is: a dip is the signal to buy.
            return (1 - prices[-1] / (sum(prices) / len(prices))) * 100

        return _on_signal(self, view, window, below_average)


def _on_signal(
    bot: Bot, view: View, count: int, signal: Callable[[Sequence[float]], float]
) -> list[Request]:
    """Buy each watched asset whose signal over ``count`` prices reaches ``threshold`` %, sell
    all of one at minus as much (when it holds some)."""
    threshold = bot.values["threshold"]
    orders: list[Request] = []
    for asset in bot.values["assets"]:
        prices = view.history(asset, count)
        if len(prices) < count:
            continue
        strength = signal(prices)
        if strength >= threshold:
            usd = _affordable(view, bot.values["usd"])
            if usd >= 1:
                orders.append(Buy(asset, usd=usd))
        elif strength <= -threshold and view.holdings.get(asset, 0.0) > 0:
            orders.append(Sell(asset))
    return orders


class Dca(Bot):
    """Dollar-cost averaging: buys ``usd`` of one asset every ``every``, whatever the price."""

    kind = "dca"
    summary = "buys a fixed amount at fixed intervals"
    params: ClassVar[dict[str, Param]] = {
        "asset": Param("asset", None, doc="the asset it buys"),
        "usd": Param("number", 100.0, 1.0, 1e9, "USD per purchase"),
        "every": Param("seconds", "1h", doc="time between purchases"),
    }

    def on_tick(self, view: View) -> list[Request] | None:
        """Buy on schedule while cash lasts."""
        if not self.due(view.tick):
            return None
        usd = _affordable(view, self.values["usd"])
        return [Buy(self.values["asset"], usd=usd)] if usd >= 1 else None


class Panic(Bot):
    """Buys at the start, then sells it all once the price falls ``drawdown`` % from its peak."""

    kind = "panic"
    summary = "holds, then sells into a drawdown"
    params: ClassVar[dict[str, Param]] = {
        "asset": Param("asset", None, doc="the asset it holds"),
        "usd": Param("number", 2000.0, 1.0, 1e9, "what it buys at the start in USD"),
        "drawdown": Param("number", 5.0, 0.1, 99.0, "fall from the peak in percent that panics it"),
        "rebuy": Param(
            "number", 0.0, 0.0, 100.0, "rise from the low in percent to buy back (0: never)"
        ),
    }

    def __init__(self, values: Mapping[str, Any], rng: random.Random, tick: float) -> None:
        super().__init__(values, rng, tick)
        self.peak = 0.0
        self.low = math.inf
        self.out = False

    def on_start(self, view: View) -> list[Request] | None:
        """Buy the position."""
        usd = _affordable(view, self.values["usd"])
        return [Buy(self.values["asset"], usd=usd)] if usd >= 1 else None

    def on_tick(self, view: View) -> list[Request] | None:
        """Sell on a drawdown; buy back after a rebound if asked."""
        price = view.price(self.values["asset"])
        if price is None:
            return None
        if self.out:
            self.low = min(self.low, price)
            rebuy = self.values["rebuy"]
            if rebuy and price >= self.low * (1 + rebuy / 100):
                self.out, self.peak = False, price
                usd = _affordable(view, self.values["usd"])
                return [Buy(self.values["asset"], usd=usd)] if usd >= 1 else None
            return None
        self.peak = max(self.peak, price)
        held = view.holdings.get(self.values["asset"], 0.0)
        if held > 0 and price <= self.peak * (1 - self.values["drawdown"] / 100):
            self.out, self.low = True, price
            return [Sell(self.values["asset"])]
        return None


class Whale(Bot):
    """Trades large at scheduled moments (the runner slices each order to the value cap)."""

    kind = "whale"
    summary = "big orders at scheduled moments"
    params: ClassVar[dict[str, Param]] = {
        "orders": Param("orders", None, doc="list of {at, side, usd, asset, over}"),
    }

    def __init__(self, values: Mapping[str, Any], rng: random.Random, tick: float) -> None:
        super().__init__(values, rng, tick)
        # An order spread ``over`` a span goes out in equal parts, one each tick.
        self.pending = []
        for order in values["orders"]:
            parts = max(1, round(order["over"] / tick))
            for part in range(parts):
                at = order["at"] + part * tick
                self.pending.append({**order, "at": at, "usd": order["usd"] / parts})
        self.pending.sort(key=lambda o: o["at"])

    def next_tick(self, tick: int) -> int | None:
        """The tick of its next scheduled order (or one before it: ``on_tick`` checks)."""
        if not self.pending:
            return 1 << 62
        at: float = self.pending[0]["at"]
        return max(tick + 1, math.floor(at / self.tick_interval))

    def on_tick(self, view: View) -> list[Request] | None:
        """Send every scheduled order that is due."""
        orders: list[Request] = []
        while self.pending and self.pending[0]["at"] <= view.time:
            order = self.pending.pop(0)
            if order["side"] == "buy":
                usd = _affordable(view, order["usd"])
                if usd >= 1:
                    orders.append(Buy(order["asset"], usd=usd))
            else:
                price = view.price(order["asset"]) or 0.0
                held = view.holdings.get(order["asset"], 0.0)
                quantity = min(held, order["usd"] / price) if price else held
                if quantity > 0:
                    orders.append(Sell(order["asset"], quantity=quantity))
        return orders


BOT_KINDS: dict[str, type[Bot]] = {
    bot.kind: bot for bot in (Noise, Momentum, MeanReversion, Dca, Panic, Whale)
}
