"""Conservation, as a property: random sequences of money moves, orders, cancels and ticks.

Each example runs a fresh exchange (three assets, one tick per virtual second, a 25 bps fee)
on its own Trio run under a ``MockClock``. After every step, once every task has settled:

* the engine's own audit holds (``verify``: cash and holdings equal their ledgers, reservations
  equal the open orders', nothing negative);
* an independent model agrees: cash is what was deposited and withdrawn plus what the filled
  orders say they paid, received and were charged; holdings are the filled quantities; what is
  reserved is what the open orders' levels call for; the triggers index holds exactly the open
  orders; every fill honours its order's limit or stop;
* the portfolio endpoint shows the same cash, reservation and holdings;
* and each command was accepted or rejected exactly as the rules say, given the state and the
  price just before it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.engine import Exchange, open_exchange
from exchange.errors import DomainError, NotPending
from exchange.money import (
    QTY_SCALE,
    cost_cents,
    fee_cents,
    format_quantity,
    format_usd,
    proceeds_cents,
)
from exchange.orders import LIMIT, MARKET, ORDER_TYPES, STOP, STOP_LIMIT, Order, OrderRequest
from tests.conftest import Client, engine_settings, web_settings
from tests.trading_helpers import DOLLAR, add_user, price_at, settle, small_catalogue
from web.app import create_app
from web.tokens import issue

USERS = ("alice_01", "bob_0001")
LOTS = {"BTC": QTY_SCALE // 1000, "ETH": QTY_SCALE // 100, "DOGE": 100 * QTY_SCALE}
FEE_BPS = 25
MAX_ORDER_VALUE = 10_000 * DOLLAR


class Deposit(NamedTuple):
    user: int
    cents: int


class Withdraw(NamedTuple):
    user: int
    cents: int


class Place(NamedTuple):
    user: int
    kind: str
    asset: str
    lots: int
    bps: int  # the price or stop, from the current price
    limit_bps: int  # a stop-limit's limit, from its stop
    tif: str
    expires_in: int | None  # seconds


class Cancel(NamedTuple):
    user: int
    pick: int


class Tick(NamedTuple):
    seconds: int


users = st.integers(0, len(USERS) - 1)
placements = st.builds(
    Place,
    users,
    st.sampled_from(ORDER_TYPES),
    st.sampled_from(tuple(LOTS)),
    st.sampled_from((1, 1, 2, 3, 5, 10, 20, 100, 2_000)),
    st.sampled_from((-3, -1, 1, 3, -50, -10, -2, 0, 2, 10, 50)),
    st.sampled_from((-10, -2, 0, 2, 10)),
    st.sampled_from(("gtc", "gtc", "gtc", "ioc", "day")),
    st.one_of(st.none(), st.integers(1, 60)),
)
# Mostly orders and ticks; some money moves and cancels.
steps = st.integers(0, 9).flatmap(
    lambda n: (
        placements
        if n < 5
        else st.builds(Tick, st.integers(1, 30))
        if n < 7
        else st.builds(Cancel, users, st.integers(0, 50))
        if n < 8
        else st.builds(Deposit, users, st.integers(1, 300_000))
        if n < 9
        else st.builds(Withdraw, users, st.integers(1, 300_000))
    )
)
# Every example starts with both users holding cash and some of each asset.
OPENING: list[object] = [
    step
    for user in range(len(USERS))
    for step in (
        Deposit(user, 800_000),
        Place(user, "market_buy", "BTC", 20, 0, 0, "gtc", None),
        Place(user, "market_buy", "ETH", 50, 0, 0, "gtc", None),
        Place(user, "market_buy", "DOGE", 50, 0, 0, "gtc", None),
    )
]


class Model:
    """What the test itself knows: the money each user moved in and out."""

    def __init__(self) -> None:
        self.external = dict.fromkeys(USERS, 0)
        self.deposited_today = dict.fromkeys(USERS, 0)
        self.withdrawn_today = dict.fromkeys(USERS, 0)


def reservation(order: Order) -> tuple[int, int]:
    """The cash and quantity an open order should hold back, from its own levels."""
    if not order.is_buy:
        return 0, order.quantity
    if order.order_type in LIMIT + STOP_LIMIT:
        assert order.price is not None
        cost = cost_cents(order.quantity, order.price)
    else:
        assert order.stop_price is not None
        cost = cost_cents(order.quantity, order.stop_price)
    return cost + fee_cents(cost, FEE_BPS), 0


def check_fill(order: Order) -> None:
    """A filled order's amounts, and that it honoured its limit or stop."""
    price = order.filled_price
    assert price is not None and order.total_amount is not None
    if order.is_buy:
        assert order.total_amount == cost_cents(order.quantity, price)
        assert order.fee == fee_cents(order.total_amount, FEE_BPS)
    else:
        assert order.total_amount == proceeds_cents(order.quantity, price)
        assert order.fee == min(fee_cents(order.total_amount, FEE_BPS), order.total_amount)
    if order.order_type in LIMIT + STOP_LIMIT:
        assert order.price is not None
        assert price <= order.price if order.is_buy else price >= order.price
    elif order.order_type in STOP:
        assert order.stop_price is not None
        assert price >= order.stop_price if order.is_buy else price <= order.stop_price


async def check_books(exchange: Exchange, model: Model, client: Client, tokens: list[str]) -> None:
    assert exchange.verify() == []
    pending = 0
    for user, token in zip(USERS, tokens, strict=True):
        orders, _ = exchange.orders(user, 10_000, 0)
        cash = model.external[user]
        reserved = 0
        held: dict[str, int] = {}
        promised: dict[str, int] = {}
        for order in orders:
            sign = 1 if order.is_buy else -1
            if order.status == "completed":
                check_fill(order)
                assert order.total_amount is not None
                cash += -sign * order.total_amount - order.fee
                held[order.asset_id] = held.get(order.asset_id, 0) + sign * order.quantity
            else:
                assert (order.filled_price, order.total_amount, order.fee) == (None, None, 0)
            if order.status == "pending":
                pending += 1
                wanted = reservation(order)
                assert (order.reserved_cash, order.reserved_quantity) == wanted
                reserved += wanted[0]
                promised[order.asset_id] = promised.get(order.asset_id, 0) + wanted[1]
            else:
                assert (order.reserved_cash, order.reserved_quantity) == (0, 0)
        snapshot = await exchange.portfolio(user)
        assert (snapshot.cash, snapshot.reserved) == (cash, reserved)
        assert 0 <= reserved <= cash
        holdings = {h.asset_id: (h.quantity, h.reserved) for h in snapshot.holdings}
        expected = {
            asset: (held.get(asset, 0), promised.get(asset, 0))
            for asset in set(held) | set(promised)
            if held.get(asset, 0) or promised.get(asset, 0)
        }
        assert holdings == expected
        for quantity, promised_quantity in holdings.values():
            assert 0 <= promised_quantity <= quantity
        response = await client.get(
            "/api/v1/portfolio", headers={"Authorization": f"Bearer {token}"}
        )
        shown = await response.get_json()
        assert response.status_code == 200, shown
        assert (shown["usd_balance"], shown["reserved_usd"], shown["available_usd"]) == (
            format_usd(cash),
            format_usd(reserved),
            format_usd(cash - reserved),
        )
        assert {a["asset_id"]: a["quantity"] for a in shown["assets"]} == {
            asset: format_quantity(quantity) for asset, (quantity, _) in holdings.items()
        }
    assert len(exchange.triggers) == pending


def expected_rejection(request: OrderRequest, price: int, cash: int, held: int) -> str | None:
    """The code a placement must be rejected with, given the state before it (None: accepted).

    ``cash`` is the available cash, ``held`` the available quantity, ``price`` the current price.
    """
    kind = request.order_type
    quantity = request.quantity
    if kind in MARKET:
        valued = price
    elif kind in STOP:
        # A stop already reached is a market order.
        assert request.stop_price is not None
        reached = price >= request.stop_price if kind == "stop_buy" else price <= request.stop_price
        valued = price if reached else request.stop_price
    else:
        valued = request.price or price
    if cost_cents(quantity, valued) > MAX_ORDER_VALUE:
        return "order_value_exceeded"
    buy = kind.endswith("_buy")
    stop = request.stop_price
    triggered = kind not in STOP + STOP_LIMIT or (
        stop is not None and (price >= stop if buy else price <= stop)
    )
    if kind in MARKET or (kind in STOP and triggered):
        marketable = True
    elif kind in LIMIT + STOP_LIMIT and triggered:
        assert request.price is not None
        marketable = price <= request.price if buy else price >= request.price
    else:
        marketable = False
    if not marketable and request.time_in_force == "ioc":
        return None
    if not buy:
        return "insufficient_holdings" if quantity > held else None
    if marketable:
        level = price
    elif kind in LIMIT + STOP_LIMIT:
        assert request.price is not None
        level = request.price
    else:
        assert stop is not None
        level = stop
    cost = cost_cents(quantity, level)
    return "insufficient_funds" if cost + fee_cents(cost, FEE_BPS) > cash else None


async def apply(exchange: Exchange, model: Model, step: object) -> None:
    if isinstance(step, Tick):
        await trio.sleep(step.seconds)
        return
    assert isinstance(step, Deposit | Withdraw | Place | Cancel)
    user = USERS[step.user]
    before = await exchange.portfolio(user)
    available = before.cash - before.reserved
    if isinstance(step, Deposit):
        allowed = model.deposited_today[user] + step.cents <= 10_000 * DOLLAR
        try:
            await exchange.deposit(user, step.cents)
        except DomainError as rejection:
            assert (rejection.code, allowed) == ("daily_limit_exceeded", False)
        else:
            assert allowed
            model.external[user] += step.cents
            model.deposited_today[user] += step.cents
    elif isinstance(step, Withdraw):
        if step.cents > available:
            wanted: str | None = "insufficient_funds"
        elif model.withdrawn_today[user] + step.cents > 5_000 * DOLLAR:
            wanted = "daily_limit_exceeded"
        else:
            wanted = None
        try:
            await exchange.withdraw(user, step.cents)
        except DomainError as rejection:
            assert rejection.code == wanted
        else:
            assert wanted is None
            model.external[user] -= step.cents
            model.withdrawn_today[user] += step.cents
    elif isinstance(step, Cancel):
        orders, _ = exchange.orders(user, 10_000, 0)
        if not orders:
            return
        order = orders[step.pick % len(orders)]
        try:
            cancelled = await exchange.cancel_order(user, order.order_id)
        except NotPending:
            assert order.status != "pending"
        else:
            assert order.status == "pending"
            assert (cancelled.status, cancelled.reserved_cash, cancelled.reserved_quantity) == (
                "cancelled",
                0,
                0,
            )
    else:
        await place(exchange, user, step, available, before.holdings)


async def place(exchange: Exchange, user: str, step: Place, cash: int, holdings: list[Any]) -> None:
    current = exchange.market(step.asset).price
    level = price_at(current, step.bps)
    kind = step.kind
    price = stop_price = None
    if kind in LIMIT:
        price = level
    elif kind in STOP:
        stop_price = level
    elif kind in STOP_LIMIT:
        stop_price, price = level, price_at(level, step.limit_bps)
    expires_at = None
    if step.expires_in is not None:
        expires_at = exchange.clock.now_ms() + step.expires_in * 1000
    request = OrderRequest(
        kind,
        step.asset,
        step.lots * LOTS[step.asset],
        price=price,
        stop_price=stop_price,
        time_in_force=step.tif,
        expires_at=expires_at,
    )
    held = sum(h.quantity - h.reserved for h in holdings if h.asset_id == step.asset)
    wanted = expected_rejection(request, current, cash, held)
    try:
        order = await exchange.place_order(user, request)
    except DomainError as rejection:
        assert rejection.code == wanted, (request, current, cash, held)
        return
    assert wanted is None, (request, current, cash, held, order)
    assert order.status in ("completed", "pending", "cancelled")
    if order.status == "cancelled":
        assert order.time_in_force == "ioc"


async def run_example(commands: list[object]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory)
        engine = engine_settings(
            path,
            tick_interval=1.0,
            fee_bps=FEE_BPS,
            catalogue=small_catalogue(path, *LOTS),
        )
        async with open_exchange(engine) as exchange:
            web = web_settings()
            app = create_app(exchange, web)
            app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
            async with app.test_app() as test_app:
                client = test_app.test_client()
                tokens = []
                for user in USERS:
                    await add_user(exchange, user)
                    token, _ = issue(web.jwt_secret, user, "customer", exchange.clock.now(), 3600)
                    tokens.append(token)
                model = Model()
                for command in OPENING + commands:
                    await apply(exchange, model, command)
                    await settle()
                    await check_books(exchange, model, client, tokens)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(steps, min_size=20, max_size=40))
def test_every_step_conserves_money_and_assets(commands: list[object]) -> None:
    trio.run(run_example, commands, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_busy_sequence_conserves_money_and_assets() -> None:
    """A fixed sequence that reaches every kind of fill, cancel and expiry."""
    commands: list[object] = []
    for kind in ORDER_TYPES:
        for user in (0, 1):
            commands.append(Place(user, "market_buy", "ETH", 20, 0, 0, "gtc", None))
            commands.append(Place(user, kind, "ETH", 5, 3 if "buy" in kind else -3, 2, "gtc", None))
            commands.append(
                Place(user, kind, "DOGE", 10, -3 if "buy" in kind else 3, -2, "gtc", 20)
            )
    commands += [Tick(30), Cancel(0, 3), Cancel(1, 7), Withdraw(0, 100_000), Tick(60)]
    commands += [Place(0, "limit_sell", "ETH", 1, 1, 0, "day", None), Tick(120), Cancel(0, 0)]
    trio.run(run_example, commands, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_verify_reports_every_kind_of_drift(exchange: Exchange) -> None:
    """The audit the property leans on does catch each kind of disagreement."""
    user = USERS[0]
    await add_user(exchange, user)
    await exchange.deposit(user, 1_000 * DOLLAR)
    await exchange.place_order(user, OrderRequest("market_buy", "ETH", QTY_SCALE // 10))
    btc = exchange.market("BTC").price
    await exchange.place_order(
        user, OrderRequest("limit_buy", "BTC", QTY_SCALE // 100, price=btc // 2)
    )
    await exchange.place_order(
        user,
        OrderRequest("limit_sell", "ETH", QTY_SCALE // 20, price=exchange.market("ETH").price * 2),
    )
    assert exchange.verify() == []
    conn = exchange.store.conn
    drifts = [
        (
            "UPDATE accounts SET cash = cash + 1",
            "UPDATE accounts SET cash = cash - 1",
            "ledger sum",
        ),
        (
            "UPDATE transactions SET balance_after = balance_after + 1 "
            "WHERE seq = (SELECT MAX(seq) FROM transactions)",
            "UPDATE transactions SET balance_after = balance_after - 1 "
            "WHERE seq = (SELECT MAX(seq) FROM transactions)",
            "last balance_after",
        ),
        (
            "UPDATE accounts SET reserved = reserved + 1",
            "UPDATE accounts SET reserved = reserved - 1",
            "reserved cash",
        ),
        (
            "UPDATE accounts SET reserved = reserved + cash * 2",
            "UPDATE accounts SET reserved = reserved - cash * 2",
            "reserved cash",
        ),
        (
            "UPDATE holdings SET quantity = quantity + 1",
            "UPDATE holdings SET quantity = quantity - 1",
            "asset ledger sum",
        ),
        (
            "UPDATE holdings SET reserved = reserved + 1",
            "UPDATE holdings SET reserved = reserved - 1",
            "open orders",
        ),
        (
            "UPDATE holdings SET reserved = reserved + quantity",
            "UPDATE holdings SET reserved = reserved - quantity",
            "reserved",
        ),
    ]
    for drift, undo, named in drifts:
        conn.execute(drift)
        problems = exchange.verify()
        conn.execute(undo)
        assert problems, drift
        assert all(problem.startswith(f"{user}: ") for problem in problems)
        assert any(named in problem for problem in problems), (drift, problems)
        assert exchange.verify() == []
    rows = conn.execute("SELECT * FROM holdings").fetchall()
    conn.execute("DELETE FROM holdings")
    problems = exchange.verify()
    assert problems == [f"{user}: ETH has ledger rows but no holding"]
    assert len(rows[0]) == 7
    conn.executemany("INSERT INTO holdings VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    assert exchange.verify() == []
