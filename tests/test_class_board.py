"""The leaderboard's arithmetic, resets and cash adjustments, and the monitor.

Prices stay at the catalogue's reference prices: BTC 64,250, ETH 2,480, DOGE 0.162.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.leaderboard import Board, Position, rank, return_pct
from exchange.money import PRICE_SCALE, QTY_SCALE
from tests.class_helpers import CLASSES, Room, open_room
from tests.conftest import login


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with open_room(tmp_path) as running:
        yield running


def test_ranking_arithmetic_ties_and_a_zero_basis() -> None:
    btc = 64_250 * PRICE_SCALE
    positions = {
        "ann": Position(5_000_00, ("BTC",), (QTY_SCALE // 10,), 10_000_00, 3),
        "bob": Position(11_425_00, (), (), 10_000_00, 1),
        "cid": Position(0, (), (), 0, 0),
    }
    ann, bob, cid = rank(positions, {"BTC": btc})
    # ann: 5,000 cash + 0.1 BTC at 64,250 = 11,425, the same as bob: a shared rank.
    assert (ann.username, ann.rank, ann.holdings_value, ann.total_value) == (
        "ann",
        1,
        6_425_00,
        11_425_00,
    )
    assert (ann.pnl, ann.return_pct, ann.trades) == (1_425_00, Decimal("14.25"), 3)
    assert (bob.username, bob.rank, bob.total_value) == ("bob", 1, 11_425_00)
    assert (cid.rank, cid.return_pct) == (3, None)
    assert return_pct(-1, 3) == Decimal("-33.33")


def test_a_board_ranks_once_per_tick_and_change() -> None:
    board = Board()
    board.update("ann", Position(100, (), (), 100, 0))
    first = board.ranking(1, {})
    assert board.ranking(1, {}) is first
    assert board.ranking(2, {}) is not first
    board.update("ann", None)
    assert board.ranking(2, {}) == []


ASSETS = ("BTC", "ETH", "DOGE")
positions_st = st.builds(
    lambda cash, held, basis, trades: Position(
        cash, tuple(a for a, _ in held), tuple(q for _, q in held), basis, trades
    ),
    st.integers(0, 10**12),
    st.lists(
        st.tuples(st.sampled_from(ASSETS), st.integers(0, 10**18)),
        unique_by=lambda pair: pair[0],
        max_size=3,
    ),
    st.integers(0, 10**12),
    st.integers(0, 1000),
)


def naive_totals(positions: dict[str, Position], prices: dict[str, int]) -> dict[str, int]:
    return {
        name: p.cash
        + sum(q * prices[a] for a, q in zip(p.assets, p.quantities, strict=True))
        // (QTY_SCALE * PRICE_SCALE // 100)
        for name, p in positions.items()
    }


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(("ann", "bob", "cid", "dee")), st.none() | positions_st),
        max_size=30,
    ),
    st.fixed_dictionaries({a: st.integers(0, 10**16) for a in ASSETS}),
)
def test_the_packed_board_agrees_with_plain_arithmetic(
    changes: list[tuple[str, Position | None]], prices: dict[str, int]
) -> None:
    board = Board()
    expected: dict[str, Position] = {}
    for seq, (name, position) in enumerate(changes):
        board.update(name, position)
        if position is None:
            expected.pop(name, None)
        else:
            expected[name] = position
        rows = board.ranking(seq, prices)
        totals = naive_totals(expected, prices)
        assert {r.username: r.total_value for r in rows} == totals
        assert [r.total_value for r in rows] == sorted(totals.values(), reverse=True)
        for row in rows:
            assert row.rank == 1 + sum(1 for t in totals.values() if t > row.total_value)
            assert row.holdings_value == row.total_value - row.cash
            assert row.pnl == row.total_value - expected[row.username].basis


async def test_the_leaderboard_ranks_by_total_value_with_return_and_trades(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, fee_bps=100)
    ann = await room.student("student_ann", code=info["code"])
    await room.student("student_bob", code=info["code"])
    await room.order(ann, order_type="market_buy", asset_id="ETH", quantity="2")
    await room.order(ann, order_type="market_sell", asset_id="ETH", quantity="1")
    path = f"{CLASSES}/{info['class_id']}/leaderboard"
    board = await room.ok("GET", path, teacher)
    assert board["status"] == "open" and board["final"] is False
    # bob: untouched. ann: paid 4,960 + 49.60 fee, got 2,480 - 24.80 fee back, holds 1 ETH.
    assert board["data"] == [
        {
            "rank": 1,
            "username": "student_bob",
            "cash": "10000.00",
            "holdings_value": "0.00",
            "total_value": "10000.00",
            "basis": "10000.00",
            "pnl": "0.00",
            "return_pct": "0.00",
            "trades": 0,
        },
        {
            "rank": 2,
            "username": "student_ann",
            "cash": "7445.60",
            "holdings_value": "2480.00",
            "total_value": "9925.60",
            "basis": "10000.00",
            "pnl": "-74.40",
            "return_pct": "-0.74",
            "trades": 2,
        },
    ]
    top = await room.ok("GET", f"{path}?limit=1", teacher)
    assert top["data"] == board["data"][:1]
    # Students see it while the class allows.
    assert (await room.ok("GET", path, ann))["data"] == board["data"]
    await room.ok(
        "PUT",
        f"{CLASSES}/{info['class_id']}/rules",
        teacher,
        {"leaderboard_visible": False, "fee_bps": 100},
    )
    status, body = await room.call("GET", path, ann)
    assert (status, body["code"]) == (403, "leaderboard_hidden")
    mine = await room.ok("GET", f"{CLASSES}/mine", ann)
    assert mine["standing"] is None
    assert (await room.ok("GET", path, teacher))["data"] == board["data"]


async def test_the_board_is_rebuilt_from_the_database_at_start(tmp_path: Path) -> None:
    async with open_room(tmp_path) as room:
        teacher = await room.teacher()
        info = await room.new_class(teacher)
        student = await room.student("student_01", code=info["code"])
        await room.order(student, order_type="market_buy", asset_id="ETH", quantity="1")
        path = f"{CLASSES}/{info['class_id']}/leaderboard"
        before = (await room.ok("GET", path, teacher))["data"]
    async with open_room(tmp_path) as room:
        teacher = await login(room.client, "teacher_01")
        assert (await room.ok("GET", path, teacher))["data"] == before


async def test_reset_cancels_orders_removes_holdings_and_keeps_every_row(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, starting_cash="5000")
    student = await room.student("student_01", code=info["code"])
    other = await room.student("student_02", code=info["code"])
    await room.order(student, order_type="market_buy", asset_id="ETH", quantity="1")
    _, resting = await room.order(
        student, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="1000"
    )
    _, selling = await room.order(
        student, order_type="limit_sell", asset_id="ETH", quantity="0.5", price="9000"
    )
    await room.order(other, order_type="market_buy", asset_id="ETH", quantity="1")
    base = f"{CLASSES}/{info['class_id']}"
    await room.ok("POST", f"{base}/students/student_01/reset", teacher)
    assert await room.cash(student) == "5000.00"
    portfolio = await room.ok("GET", "/api/v1/portfolio", student)
    assert portfolio["assets"] == []
    assert portfolio["total_value"] == "5000.00"
    for order in (resting, selling):
        after = await room.ok("GET", f"/api/v1/orders/{order['data']['order_id']}", student)
        assert after["data"]["status"] == "cancelled"
    ledger = await room.ok("GET", "/api/v1/balance/transactions?limit=100", student)
    kinds = [t["transaction_type"] for t in ledger["transactions"]]
    assert kinds == ["class_reset", "order_payment", "class_grant"]
    # Nothing deleted: the buy is still in the order history.
    orders = await room.ok("GET", "/api/v1/orders", student)
    assert orders["total_count"] == 3
    assert room.exchange.verify() == []
    board = (await room.ok("GET", f"{base}/leaderboard", teacher))["data"]
    row = next(r for r in board if r["username"] == "student_01")
    assert (row["total_value"], row["basis"], row["trades"]) == ("5000.00", "5000.00", 0)
    # The other student was not touched.
    assert await room.cash(other) == "2520.00"
    # The whole class at once.
    reset = await room.ok("POST", f"{base}/reset", teacher)
    assert reset == {"reset": 2}
    assert await room.cash(other) == "5000.00"
    assert room.exchange.verify() == []


async def test_adjusting_cash_moves_the_basis_with_a_reason(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, starting_cash="1000")
    student = await room.student("student_01", code=info["code"])
    base = f"{CLASSES}/{info['class_id']}/students/student_01/adjust"
    await room.ok("POST", base, teacher, {"amount": "250.50", "reason": "Won the quiz"})
    await room.ok("POST", base, teacher, {"amount": "-50", "reason": "Late homework"})
    assert await room.cash(student) == "1200.50"
    ledger = await room.ok("GET", "/api/v1/balance/transactions", student)
    rows = [(t["transaction_type"], t["amount"], t["description"]) for t in ledger["transactions"]]
    assert rows[:2] == [
        ("class_adjustment", "-50.00", "Late homework"),
        ("class_adjustment", "250.50", "Won the quiz"),
    ]
    board = (await room.ok("GET", f"{CLASSES}/{info['class_id']}/leaderboard", teacher))["data"]
    assert (board[0]["basis"], board[0]["pnl"]) == ("1200.50", "0.00")
    only = await room.ok(
        "GET", "/api/v1/balance/transactions?transaction_type=class_adjustment", student
    )
    assert len(only["transactions"]) == 2
    status, body = await room.call("POST", base, teacher, {"amount": "-5000", "reason": "x"})
    assert (status, body["code"]) == (422, "insufficient_funds")
    status, body = await room.call("POST", base, teacher, {"amount": "0", "reason": " "})
    assert status == 422
    assert {tuple(e["loc"]) for e in body["detail"]} == {("body", "amount"), ("body", "reason")}
    status, body = await room.call(
        "POST",
        f"{CLASSES}/{info['class_id']}/students/nobody_here/adjust",
        teacher,
        {"amount": "1", "reason": "x"},
    )
    assert (status, body["code"]) == (404, "student_not_found")
    assert room.exchange.verify() == []


async def test_the_monitor_shows_cash_holdings_orders_trades_and_notes(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher)
    student = await room.student("student_01", code=info["code"])
    await room.order(
        student, order_type="market_buy", asset_id="ETH", quantity="1", note="earnings soon"
    )
    await room.order(student, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="1000")
    seen = await room.ok("GET", f"{CLASSES}/{info['class_id']}/students/student_01", teacher)
    assert (seen["cash"], seen["reserved"]) == ("7520.00", "10.00")
    assert seen["holdings"] == [
        {"asset_id": "ETH", "quantity": "1", "reserved": "0", "value": "2480.00"}
    ]
    assert [o["asset_id"] for o in seen["open_orders"]] == ["BTC"]
    assert [o["note"] for o in seen["trades"]] == ["earnings soon"]
    assert [n["note"] for n in seen["notes"]] == ["earnings soon"]
    assert seen["standing"]["total_value"] == "10000.00"
