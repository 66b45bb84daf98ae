"""The review desk: held orders, the queue and its search, approve, reject, statistics.

Prices stay at the catalogue's reference prices: BTC 64,250, ETH 2,480.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.class_helpers import CLASSES, Headers, Room, open_room
from tests.conftest import login


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with open_room(tmp_path) as running:
        yield running


async def balance(room: Room, headers: Headers) -> dict[str, str]:
    portfolio = await room.ok("GET", "/api/v1/portfolio", headers)
    return {
        "current_balance": portfolio["usd_balance"],
        "available_balance": portfolio["available_usd"],
    }


async def next_event(ws: Any, kind: str) -> dict[str, Any]:
    with trio.fail_after(5):
        while True:
            event: dict[str, Any] = json.loads(await ws.receive())
            if event.get("type") == kind:
                return event


async def test_an_order_above_review_above_waits_with_its_reservation(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, review_above="1000")
    student = await room.student("student_01", code=info["code"])
    status, small = await room.order(
        student, order_type="market_buy", asset_id="ETH", quantity="0.1"
    )
    assert status == 201 and small["data"]["status"] == "completed"
    status, held = await room.order(
        student, order_type="market_buy", asset_id="ETH", quantity="1", note="big bet"
    )
    assert status == 201
    assert held["data"]["status"] == "review"
    # The market buy reserves its cost at the current price.
    cash = await balance(room, student)
    assert (cash["current_balance"], cash["available_balance"]) == ("9752.00", "7272.00")
    assert room.exchange.verify() == []
    # The student may still cancel it: the reservation comes back, the desk says so.
    order_id = held["data"]["order_id"]
    cancelled = await room.ok("DELETE", f"/api/v1/orders/{order_id}", student)
    assert cancelled["data"]["status"] == "cancelled"
    assert (await balance(room, student))["available_balance"] == "9752.00"
    desk = await room.ok("GET", f"{CLASSES}/{info['class_id']}/reviews", teacher)
    assert [(r["review_status"], r["order"]["note"]) for r in desk["data"]] == [
        ("cancelled", "big bet")
    ]


async def test_approve_executes_as_it_would_have_and_reject_releases(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, review_above="1000")
    ann = await room.student("student_ann", code=info["code"])
    bob = await room.student("student_bob", code=info["code"])
    desk = f"{CLASSES}/{info['class_id']}/reviews"
    _, market = await room.order(ann, order_type="market_buy", asset_id="ETH", quantity="1")
    _, limit = await room.order(
        ann, order_type="limit_buy", asset_id="BTC", quantity="0.1", price="60000"
    )
    _, rejected = await room.order(
        bob, order_type="market_buy", asset_id="ETH", quantity="2", note="all in"
    )
    # While the class is paused nothing trades, approved or not.
    status_path = f"{CLASSES}/{info['class_id']}/status"
    await room.ok("POST", status_path, teacher, {"status": "paused"})
    status, body = await room.call(
        "POST", f"{desk}/{market['data']['order_id']}/approve", teacher, {}
    )
    assert (status, body["code"]) == (409, "class_paused")
    await room.ok("POST", status_path, teacher, {"status": "open"})
    token = ann["Authorization"].removeprefix("Bearer ")
    async with room.client.websocket(f"/ws/account?token={token}") as ws:
        approved = await room.ok(
            "POST", f"{desk}/{market['data']['order_id']}/approve", teacher, {"note": "ok"}
        )
        # A market order fills at the current tick on approval.
        assert approved["data"]["status"] == "completed"
        assert approved["data"]["filled_tick_seq"] == room.exchange.feed.seq
        event = await next_event(ws, "review")
        assert (event["decision"], event["note"]) == ("approved", "ok")
        assert event["order"]["order_id"] == market["data"]["order_id"]
    # A limit order rests on approval (BTC is above its limit), keeping its reservation.
    rested = await room.ok("POST", f"{desk}/{limit['data']['order_id']}/approve", teacher, {})
    assert rested["data"]["status"] == "pending"
    assert (await balance(room, ann))["available_balance"] == "1520.00"
    token = bob["Authorization"].removeprefix("Bearer ")
    async with room.client.websocket(f"/ws/account?token={token}") as ws:
        note = "Too risky: <b>diversify</b>"
        answer = await room.ok(
            "POST", f"{desk}/{rejected['data']['order_id']}/reject", teacher, {"note": note}
        )
        assert (answer["data"]["status"], answer["data"]["reason"]) == ("rejected", note)
        event = await next_event(ws, "review")
        assert (event["decision"], event["note"]) == ("rejected", note)
    assert (await balance(room, bob))["available_balance"] == "10000.00"
    # Deciding twice is refused.
    status, body = await room.call(
        "POST", f"{desk}/{rejected['data']['order_id']}/approve", teacher, {}
    )
    assert (status, body["code"]) == (409, "review_not_pending")
    stats = await room.ok("GET", f"{desk}/stats", teacher)
    assert stats == {
        "total": 3,
        "pending": 0,
        "approved": 2,
        "rejected": 1,
        "cancelled": 0,
        "approval_rate": 0.6667,
    }
    assert room.exchange.verify() == []


async def test_the_queue_filters_by_status_and_searches_usernames(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, review_above="100")
    for name in ("student_ann", "student_anna", "student_bob"):
        headers = await room.student(name, code=info["code"])
        status, _ = await room.order(
            headers, order_type="market_buy", asset_id="ETH", quantity="0.5"
        )
        assert status == 201
    desk = f"{CLASSES}/{info['class_id']}/reviews"
    everyone = await room.ok("GET", desk, teacher)
    assert everyone["total"] == 3
    assert [r["username"] for r in everyone["data"]] == [
        "student_bob",
        "student_anna",
        "student_ann",
    ]
    assert everyone["data"][0]["value"] == "1240.00"
    partial = await room.ok("GET", f"{desk}?username=ANN", teacher)
    assert {r["username"] for r in partial["data"]} == {"student_ann", "student_anna"}
    exact = await room.ok("GET", f"{desk}?username=student_ann&match=exact", teacher)
    assert [r["username"] for r in exact["data"]] == ["student_ann"]
    # '_' and '%' are matched literally in a partial search.
    assert (await room.ok("GET", f"{desk}?username=%25", teacher))["total"] == 0
    first = everyone["data"][2]["order"]["order_id"]
    await room.ok("POST", f"{desk}/{first}/reject", teacher, {"note": "no"})
    waiting = await room.ok("GET", f"{desk}?status=review", teacher)
    assert waiting["total"] == 2
    done = await room.ok("GET", f"{desk}?status=rejected", teacher)
    assert [r["decision_note"] for r in done["data"]] == ["no"]
    assert done["data"][0]["decided_by"] == "teacher_01"
    status, _ = await room.call("GET", f"{desk}?status=bogus", teacher)
    assert status == 422
    # Another class's order is not on this desk.
    other = await room.new_class(teacher)
    status, body = await room.call(
        "POST", f"{CLASSES}/{other['class_id']}/reviews/{first}/approve", teacher, {}
    )
    assert (status, body["code"]) == (404, "order_not_found")


async def test_a_held_order_survives_a_restart_and_can_be_approved(tmp_path: Path) -> None:
    async with open_room(tmp_path) as room:
        teacher = await room.teacher()
        info = await room.new_class(teacher, review_above="100")
        student = await room.student("student_01", code=info["code"])
        _, held = await room.order(
            student, order_type="limit_buy", asset_id="ETH", quantity="1", price="3000"
        )
        order_id = held["data"]["order_id"]
    async with open_room(tmp_path) as room:
        teacher = await login(room.client, "teacher_01")
        student = await login(room.client, "student_01")
        assert (await balance(room, student))["available_balance"] == "7000.00"
        desk = f"{CLASSES}/{info['class_id']}/reviews"
        approved = await room.ok("POST", f"{desk}/{order_id}/approve", teacher, {})
        # Marketable on approval: it fills at the current price, not its limit.
        assert (approved["data"]["status"], approved["data"]["filled_price"]) == (
            "completed",
            "2480",
        )
        assert (await balance(room, student))["available_balance"] == "7520.00"
        assert room.exchange.verify() == []
