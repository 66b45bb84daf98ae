"""Classes through HTTP: teachers, creation and rules, join codes, grants and the lifecycle.

Prices stay at the catalogue's reference prices (the test exchange ticks once a minute of
real time): BTC at 64,250, ETH at 2,480.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.classes import CODE_ALPHABET, CODE_LENGTH
from tests.class_helpers import CLASSES, Room, open_room
from tests.conftest import login, user_body


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with open_room(tmp_path) as running:
        yield running


async def test_an_admin_creates_teachers_and_nobody_else_can(room: Room) -> None:
    teacher = await room.teacher()
    profile = await room.ok("GET", "/api/v1/auth/profile", teacher)
    assert profile["role"] == "teacher"
    student = await room.student("student_01")
    for headers in (teacher, student):
        status, body = await room.call(
            "POST", "/api/v1/admin/teachers", headers, user_body("teacher_02")
        )
        assert (status, body["code"]) == (403, "forbidden")
    status, _ = await room.call("POST", "/api/v1/admin/teachers", None, user_body("teacher_02"))
    assert status == 401
    # Students and anonymous callers cannot create classes either.
    status, body = await room.call("POST", CLASSES, student, {"name": "Mine"})
    assert (status, body["code"]) == (403, "forbidden")


async def test_a_new_class_has_a_join_code_a_link_and_the_documented_defaults(room: Room) -> None:
    teacher = await room.teacher()
    info = (await room.ok("POST", CLASSES, teacher, {"name": "  Econ  "}, 201))["data"]
    assert info["name"] == "Econ"
    assert info["status"] == "draft"
    assert info["teacher"] == "teacher_01"
    code = info["code"]
    assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    assert not set(code) & set("0O1IL5S2Z8B")
    assert info["join_path"] == f"/join/{code}"
    assert info["rules"] == {
        "starting_cash": "10000.00",
        "allowed_assets": None,
        "allowed_categories": None,
        "fee_bps": 0,
        "max_order_value": None,
        "max_position_pct": None,
        "orders_per_minute": 30,
        "deposits_allowed": False,
        "withdrawals_allowed": False,
        "opens_at": None,
        "closes_at": None,
        "leaderboard_visible": True,
        "review_above": None,
    }
    listed = await room.ok("GET", CLASSES, teacher)
    assert [c["class_id"] for c in listed["data"]] == [info["class_id"]]
    # Another teacher lists only their own; the admin lists every class.
    other = await room.teacher("teacher_02")
    assert (await room.ok("GET", CLASSES, other))["data"] == []
    assert len((await room.ok("GET", CLASSES, room.admin))["data"]) == 1


async def test_rules_are_validated_field_by_field(room: Room) -> None:
    teacher = await room.teacher()
    rules = {
        "starting_cash": "-5",
        "allowed_assets": ["BTC", "NOPE"],
        "allowed_categories": ["not-a-category"],
        "fee_bps": 5000,
        "max_order_value": "0",
        "max_position_pct": 0,
        "orders_per_minute": 0,
        "opens_at": "2026-03-15T00:00:00Z",
        "closes_at": "2026-03-14T00:00:00Z",
        "review_above": "1.001",
    }
    status, body = await room.call("POST", CLASSES, teacher, {"name": "X", "rules": rules})
    assert status == 422
    bad = {tuple(e["loc"]) for e in body["detail"]}
    assert bad == {
        ("body", "rules", name)
        for name in (
            "starting_cash",
            "allowed_assets",
            "allowed_categories",
            "fee_bps",
            "max_order_value",
            "max_position_pct",
            "orders_per_minute",
            "closes_at",
            "review_above",
        )
    }
    status, body = await room.call("POST", CLASSES, teacher, {"name": "X", "rules": {"bogus": 1}})
    assert (status, body["detail"][0]["loc"]) == (422, ["body", "rules", "bogus"])
    status, body = await room.call("POST", CLASSES, teacher, {"name": "<b>x</b>"})
    assert (status, body["detail"][0]["loc"]) == (422, ["body", "name"])


async def test_joining_grants_the_starting_cash_as_its_own_ledger_entry(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, starting_cash="2500")
    student = await room.student("student_01")
    joined = await room.ok("POST", f"{CLASSES}/join", student, {"code": info["code"].lower()}, 201)
    assert joined["data"]["class_id"] == info["class_id"]
    assert await room.cash(student) == "2500.00"
    ledger = await room.ok("GET", "/api/v1/balance/transactions", student)
    [grant] = ledger["transactions"]
    assert grant["transaction_type"] == "class_grant"
    assert grant["amount"] == "2500.00"
    assert room.exchange.verify() == []
    mine = await room.ok("GET", f"{CLASSES}/mine", student)
    assert mine["data"]["class_id"] == info["class_id"]
    assert mine["standing"]["total_value"] == "2500.00"
    # One class at a time, even another one.
    other = await room.new_class(teacher)
    status, body = await room.call("POST", f"{CLASSES}/join", student, {"code": other["code"]})
    assert (status, body["code"]) == (409, "already_in_class")
    status, body = await room.call("POST", f"{CLASSES}/join", student, {"code": "QQQQQQ"})
    assert (status, body["code"]) == (404, "invalid_class_code")
    assert await room.cash(student) == "2500.00"
    # Teachers and admins are not students.
    status, body = await room.call("POST", f"{CLASSES}/join", teacher, {"code": info["code"]})
    assert (status, body["code"]) == (403, "forbidden")


async def test_registering_with_a_class_code_joins_at_once(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher)
    student = await room.student("student_01", code=info["code"])
    assert await room.cash(student) == "10000.00"
    roster = await room.ok("GET", f"{CLASSES}/{info['class_id']}/students", teacher)
    assert [s["username"] for s in roster["data"]] == ["student_01"]
    # A wrong code is a field error, and no account is created.
    body = user_body("student_02", class_code="WRONG1")
    status, answer = await room.call("POST", "/api/v1/auth/register", None, body)
    assert status == 422
    assert answer["detail"][0]["loc"] == ["body", "class_code"]
    assert room.exchange.credentials("student_02") is None
    # A closed class takes nobody.
    await room.ok("POST", f"{CLASSES}/{info['class_id']}/status", teacher, {"status": "closed"})
    body = user_body("student_03", class_code=info["code"])
    status, answer = await room.call("POST", "/api/v1/auth/register", None, body)
    assert status == 422 and answer["detail"][0]["type"] == "class_closed"


async def test_the_lifecycle_decides_what_trading_is_allowed(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, status="draft")
    path = f"{CLASSES}/{info['class_id']}/status"
    student = await room.student("student_01", code=info["code"])
    buy = {"order_type": "market_buy", "asset_id": "ETH", "quantity": "1"}
    status, body = await room.order(student, **buy)
    assert (status, body["code"]) == (409, "class_not_open")
    await room.ok("POST", path, teacher, {"status": "open"})
    status, body = await room.order(student, **buy)
    assert status == 201 and body["data"]["status"] == "completed"
    limit = {"order_type": "limit_buy", "asset_id": "ETH", "quantity": "1", "price": "1000"}
    status, resting = await room.order(student, **limit)
    assert status == 201 and resting["data"]["status"] == "pending"
    await room.ok("POST", path, teacher, {"status": "paused"})
    status, body = await room.order(student, **buy)
    assert (status, body["code"]) == (409, "class_paused")
    assert "only cancels" in body["detail"]
    # Paused is cancel-only: the cancel works.
    order_id = resting["data"]["order_id"]
    cancelled = await room.ok("DELETE", f"/api/v1/orders/{order_id}", student)
    assert cancelled["data"]["status"] == "cancelled"
    await room.ok("POST", path, teacher, {"status": "open"})
    status, resting = await room.order(student, **limit)
    assert status == 201
    await room.ok("POST", path, teacher, {"status": "closed"})
    status, body = await room.order(student, **buy)
    assert (status, body["code"]) == (409, "class_closed")
    # Closing cancelled the resting order and released its reservation.
    order = await room.ok("GET", f"/api/v1/orders/{resting['data']['order_id']}", student)
    assert (order["data"]["status"], order["data"]["reason"]) == ("cancelled", "the class closed")
    for wanted in ("open", "paused", "closed"):
        status, body = await room.call("POST", path, teacher, {"status": wanted})
        assert (status, body["code"]) == (409, "invalid_transition")
    status, body = await room.call("POST", path, teacher, {"status": "draft"})
    assert status == 422
    assert room.exchange.verify() == []


async def test_closing_keeps_the_final_ranking_across_a_restart(tmp_path: Path) -> None:
    async with open_room(tmp_path) as room:
        teacher = await room.teacher()
        info = await room.new_class(teacher)
        student = await room.student("student_01", code=info["code"])
        await room.order(student, order_type="market_buy", asset_id="BTC", quantity="0.1")
        path = f"{CLASSES}/{info['class_id']}"
        await room.ok("POST", f"{path}/status", teacher, {"status": "closed"})
        final = await room.ok("GET", f"{path}/leaderboard", teacher)
        assert final["final"] is True and final["status"] == "closed"
    async with open_room(tmp_path) as room:
        teacher = await login(room.client, "teacher_01")
        again = await room.ok("GET", f"{path}/leaderboard", teacher)
        assert again["data"] == final["data"]
        assert again["final"] is True


async def test_trading_outside_the_window_is_refused(room: Room) -> None:
    teacher = await room.teacher()
    # The test clock starts at 2026-03-14T12:00:00Z.
    later = await room.new_class(teacher, opens_at="2026-03-15T09:00:00Z")
    early = await room.student("student_01", code=later["code"])
    over = await room.new_class(
        teacher, opens_at="2026-03-13T09:00:00Z", closes_at="2026-03-14T11:00:00Z"
    )
    late = await room.student("student_02", code=over["code"])
    for headers in (early, late):
        status, body = await room.order(
            headers, order_type="market_buy", asset_id="ETH", quantity="1"
        )
        assert (status, body["code"]) == (409, "outside_trading_window")


async def test_rules_can_be_replaced_until_the_class_closes(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher)
    student = await room.student("student_01", code=info["code"])
    path = f"{CLASSES}/{info['class_id']}/rules"
    updated = await room.ok("PUT", path, teacher, {"max_order_value": "100", "fee_bps": 25})
    assert updated["data"]["rules"]["max_order_value"] == "100.00"
    # Fields left out take their default.
    assert updated["data"]["rules"]["starting_cash"] == "10000.00"
    status, body = await room.order(student, order_type="market_buy", asset_id="ETH", quantity="1")
    assert (status, body["code"]) == (422, "order_value_exceeded")
    status, body = await room.call("PUT", path, teacher, {"fee_bps": -1})
    assert (status, body["detail"][0]["loc"]) == (422, ["body", "fee_bps"])
    await room.ok("POST", f"{CLASSES}/{info['class_id']}/status", teacher, {"status": "closed"})
    status, body = await room.call("PUT", path, teacher, {"fee_bps": 1})
    assert (status, body["code"]) == (409, "class_closed")
