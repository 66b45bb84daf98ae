"""A class's rules enforced on its students' orders and cash.

Prices stay at the catalogue's reference prices: BTC 64,250, ETH 2,480, DOGE 0.162.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.money import PRICE_SCALE
from exchange.pricefeed import Frame
from tests.class_helpers import CLASSES, Room, open_room
from tests.trading_helpers import DEPOSIT, WITHDRAW, settle


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with open_room(tmp_path) as running:
        yield running


def market_buy(asset_id: str, quantity: str) -> dict[str, str]:
    return {"order_type": "market_buy", "asset_id": asset_id, "quantity": quantity}


async def test_only_allowed_assets_or_categories_trade(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, allowed_assets=["eth"], allowed_categories=["meme"])
    assert info["rules"]["allowed_assets"] == ["ETH"]
    student = await room.student("student_01", code=info["code"])
    status, body = await room.order(student, **market_buy("BTC", "0.01"))
    assert (status, body["code"]) == (422, "asset_not_allowed")
    status, _ = await room.order(student, **market_buy("ETH", "0.5"))
    assert status == 201
    status, _ = await room.order(student, **market_buy("DOGE", "100"))
    assert status == 201  # a meme coin: its category is allowed


async def test_the_class_fee_is_charged_on_each_fill(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, fee_bps=50)
    student = await room.student("student_01", code=info["code"])
    status, body = await room.order(student, **market_buy("ETH", "1"))
    assert status == 201
    # 2,480.00 and 0.5% of it.
    assert body["data"]["fee"] == "12.40"
    assert await room.cash(student) == "7507.60"
    assert room.exchange.verify() == []


async def test_the_class_caps_the_value_of_one_order(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, max_order_value="2000")
    student = await room.student("student_01", code=info["code"])
    status, body = await room.order(student, **market_buy("ETH", "1"))
    assert (status, body["code"]) == (422, "order_value_exceeded")
    assert "$2000.00" in body["detail"]
    status, _ = await room.order(student, **market_buy("ETH", "0.8"))
    assert status == 201


async def test_no_more_than_the_allowed_share_of_equity_in_one_asset(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, max_position_pct=30)
    student = await room.student("student_01", code=info["code"])
    # 30% of 10,000 is 3,000: one ETH (2,480) fits, a second would make 4,960.
    status, _ = await room.order(student, **market_buy("ETH", "1"))
    assert status == 201
    status, body = await room.order(student, **market_buy("ETH", "1"))
    assert (status, body["code"]) == (422, "position_limit_exceeded")
    assert "at most 30%" in body["detail"]
    # Another asset has its own share; selling is never limited.
    status, _ = await room.order(student, **market_buy("DOGE", "1000"))
    assert status == 201
    status, _ = await room.order(student, order_type="market_sell", asset_id="ETH", quantity="0.5")
    assert status == 201


async def test_each_student_has_the_class_order_rate(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, orders_per_minute=3)
    first = await room.student("student_01", code=info["code"])
    second = await room.student("student_02", code=info["code"])
    for _ in range(3):
        status, _ = await room.order(first, **market_buy("DOGE", "10"))
        assert status == 201
    response = await room.client.post(
        "/api/v1/orders", headers=first, json=market_buy("DOGE", "10")
    )
    assert response.status_code == 429
    body = await response.get_json()
    assert body["code"] == "class_order_rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # The rate is per student.
    status, _ = await room.order(second, **market_buy("DOGE", "10"))
    assert status == 201


async def test_deposits_and_withdrawals_follow_the_class(room: Room) -> None:
    teacher = await room.teacher()
    closed = await room.new_class(teacher)
    open_ = await room.new_class(teacher, deposits_allowed=True, withdrawals_allowed=True)
    strict = await room.student("student_01", code=closed["code"])
    loose = await room.student("student_02", code=open_["code"])
    for path, code in ((DEPOSIT, "deposits_not_allowed"), (WITHDRAW, "withdrawals_not_allowed")):
        status, body = await room.call("POST", path, strict, {"amount": "10"})
        assert (status, body["code"]) == (403, code)
        status, _ = await room.call("POST", path, loose, {"amount": "10"})
        assert status == 201
    assert await room.cash(strict) == "10000.00"
    assert await room.cash(loose) == "10000.00"
    # Deposits and withdrawals move the basis, so they are neither gain nor loss.
    board = await room.ok("GET", f"{CLASSES}/{open_['class_id']}/leaderboard", teacher)
    [row] = board["data"]
    assert (row["basis"], row["pnl"]) == ("10000.00", "0.00")


async def test_an_order_note_is_kept_and_limited(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher)
    student = await room.student("student_01", code=info["code"])
    status, body = await room.order(student, **market_buy("ETH", "0.1"), note="  why not  ")
    assert status == 201 and body["data"]["note"] == "why not"
    status, body = await room.order(student, **market_buy("ETH", "0.1"), note="x" * 1001)
    assert status == 422 and body["detail"][0]["loc"] == ["body", "note"]
    status, body = await room.order(student, **market_buy("ETH", "0.1"), note="a\x00b")
    assert status == 422
    status, body = await room.order(student, **market_buy("ETH", "0.1"), note="x" * 1000)
    assert status == 201


async def test_resting_orders_wait_while_the_class_is_paused(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher)
    student = await room.student("student_01", code=info["code"])
    _, resting = await room.order(
        student, order_type="limit_buy", asset_id="ETH", quantity="1", price="2000"
    )
    order_id = resting["data"]["order_id"]
    status_path = f"{CLASSES}/{info['class_id']}/status"
    await room.ok("POST", status_path, teacher, {"status": "paused"})
    exchange = room.exchange
    crossing = 1_990 * PRICE_SCALE
    # A tick crosses the limit while paused: the order waits, armed for the next tick.
    exchange.triggers.on_tick(Frame(10_001, exchange.clock.now(), {"ETH": crossing}), ["ETH"])
    await settle()
    order = await room.ok("GET", f"/api/v1/orders/{order_id}", student)
    assert order["data"]["status"] == "pending"
    assert len(exchange.triggers) == 1
    await room.ok("POST", status_path, teacher, {"status": "open"})
    exchange.triggers.on_tick(Frame(10_002, exchange.clock.now(), {"ETH": crossing}), ["ETH"])
    await settle()
    order = await room.ok("GET", f"/api/v1/orders/{order_id}", student)
    assert (order["data"]["status"], order["data"]["filled_tick_seq"]) == ("completed", 10_002)
    assert exchange.verify() == []
