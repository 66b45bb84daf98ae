"""Every class route answers only the class's teacher or an admin: refusals, route by route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.class_helpers import CLASSES, open_room
from tests.test_class_stream import FORBIDDEN, board_path, next_message, refused


def routes(class_id: str, order_id: str) -> list[tuple[str, str, Any]]:
    base = f"{CLASSES}/{class_id}"
    student = f"{base}/students/student_01"
    listed: list[tuple[str, str, Any]] = [
        ("GET", base, None),
        ("PUT", f"{base}/rules", {"fee_bps": 10}),
        ("POST", f"{base}/status", {"status": "paused"}),
        ("GET", f"{base}/students", None),
        ("GET", student, None),
        ("POST", f"{student}/reset", None),
        ("POST", f"{base}/reset", None),
        ("POST", f"{student}/adjust", {"amount": "10", "reason": "gift"}),
        ("POST", f"{base}/students/generate", {"count": 1, "prefix": "intruder"}),
        ("GET", f"{base}/reviews", None),
        ("GET", f"{base}/reviews/stats", None),
        ("POST", f"{base}/reviews/{order_id}/approve", {}),
        ("POST", f"{base}/reviews/{order_id}/reject", {"note": "no"}),
    ]
    listed.extend(
        ("GET", f"{base}/exports/{kind}.csv", None)
        for kind in ("roster", "leaderboard", "trades", "orders", "actions")
    )
    return listed


async def test_another_teacher_a_student_and_no_token_are_refused(tmp_path: Path) -> None:
    async with open_room(tmp_path) as room:
        teacher = await room.teacher()
        other = await room.teacher("teacher_02")
        info = await room.new_class(teacher, review_above="100", leaderboard_visible=False)
        student = await room.student("student_01", code=info["code"])
        outsider = await room.student("student_02")
        _, held = await room.order(student, order_type="market_buy", asset_id="ETH", quantity="1")
        order_id = held["data"]["order_id"]
        for method, path, body in routes(info["class_id"], order_id):
            for who, headers in (("teacher", other), ("student", student)):
                status, answer = await room.call(method, path, headers, body)
                assert (status, answer["code"]) == (403, "forbidden"), (who, method, path)
            status, answer = await room.call(method, path, None, body)
            assert (status, answer["code"]) == (401, "unauthorized"), (method, path)
        # The leaderboard: an outsider is refused, a member only while it is hidden.
        board = f"{CLASSES}/{info['class_id']}/leaderboard"
        for headers, code in (
            (other, "forbidden"),
            (outsider, "forbidden"),
            (student, "leaderboard_hidden"),
        ):
            status, answer = await room.call("GET", board, headers)
            assert (status, answer["code"]) == (403, code)
        status, _ = await room.call("GET", board, None)
        assert status == 401
        # Class creation and listing are for staff; teachers are made by an admin only.
        for method, path, body in (
            ("POST", CLASSES, {"name": "Mine"}),
            ("GET", CLASSES, None),
        ):
            status, answer = await room.call(method, path, student, body)
            assert (status, answer["code"]) == (403, "forbidden")
            status, _ = await room.call(method, path, None, body)
            assert status == 401
        # Nothing was changed by any refused call.
        assert (await room.ok("GET", f"/api/v1/orders/{order_id}", student))["data"][
            "status"
        ] == "review"
        assert (await room.ok("GET", f"{CLASSES}/{info['class_id']}", teacher))["data"][
            "status"
        ] == "open"
        assert room.exchange.credentials("intruder01") is None
        assert await room.cash(student) == "10000.00"
        # The teacher and an admin pass where the others were refused.
        for headers in (teacher, room.admin):
            await room.ok("GET", f"{CLASSES}/{info['class_id']}/students", headers)
            await room.ok("GET", board, headers)
        status, answer = await room.call("GET", f"{CLASSES}/cls_unknown", teacher)
        assert (status, answer["code"]) == (404, "class_not_found")


async def test_the_board_stream_refuses_whoever_may_not_watch(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_room(tmp_path) as room:
        teacher = await room.teacher()
        other = await room.teacher("teacher_02")
        info = await room.new_class(teacher, leaderboard_visible=False)
        member = await room.student("student_01", code=info["code"])
        outsider = await room.student("student_02")
        class_id = info["class_id"]
        for headers, error, code in (
            (other, "forbidden", FORBIDDEN),
            (outsider, "forbidden", FORBIDDEN),
            (member, "leaderboard_hidden", FORBIDDEN),
            (None, None, 4001),
        ):
            async with room.client.websocket(board_path(class_id, headers)) as ws:
                assert await refused(ws) == (error, code)
        async with room.client.websocket(board_path("cls_unknown", teacher)) as ws:
            assert await refused(ws) == ("class_not_found", 4004)
        async with room.client.websocket(board_path(class_id, teacher, "limit=0")) as ws:
            assert await refused(ws) == (None, 1008)
        # The class's teacher and an admin watch it.
        for headers in (teacher, room.admin):
            async with room.client.websocket(board_path(class_id, headers)) as ws:
                assert (await next_message(ws))["students"] == 1
