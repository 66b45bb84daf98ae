"""The class leaderboard stream: a frame at once, then one per tick only when it changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from quart.testing.connections import WebsocketDisconnectError

from exchange.clock import iso_ms
from tests.class_helpers import CLASSES, Headers, Room, open_room
from web.routes.class_stream import BUFFER_TICKS

FORBIDDEN = 4003


def board_path(class_id: str, headers: Headers | None = None, query: str = "") -> str:
    path = f"/ws/classes/{class_id}/leaderboard"
    params = [query] if query else []
    if headers is not None:
        params.insert(0, "token=" + headers["Authorization"].removeprefix("Bearer "))
    return path + ("?" + "&".join(params) if params else "")


async def next_message(ws: Any) -> dict[str, Any]:
    with trio.fail_after(5_000):  # virtual seconds under the autojump clock; never reached
        found: dict[str, Any] = json.loads(await ws.receive())
    return found


async def refused(ws: Any) -> tuple[str | None, int]:
    """The error code sent before the close (None without one) and the close code."""
    error = None
    with pytest.raises(WebsocketDisconnectError) as closed:
        while True:
            found = await next_message(ws)
            assert found["type"] == "error", found
            error = found["code"]
    code: int = closed.value.args[0]
    return error, code


def check_tick(room: Room, frame: dict[str, Any]) -> None:
    feed = room.exchange.feed
    assert frame["type"] == "leaderboard"
    assert frame["tick"] == feed.seq
    assert frame["time"] == iso_ms(round(feed.ticked_at * 1000))


async def test_the_board_streams_its_top_rows_when_they_change(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_room(tmp_path) as room:
        teacher = await room.teacher()
        await room.ok("POST", "/api/v1/market/news", teacher, {"headline": "Old news"}, 201)
        await trio.sleep(1)
        info = await room.new_class(teacher, starting_cash="1000")
        class_id = info["class_id"]
        for name in ("student_ann", "student_bob", "student_cat"):
            await room.student(name, code=info["code"])
        async with room.client.websocket(board_path(class_id, teacher, "limit=2")) as ws:
            first = await next_message(ws)
            check_tick(room, first)
            assert {k: first[k] for k in ("class_id", "status", "final", "students")} == {
                "class_id": class_id,
                "status": "open",
                "final": False,
                "students": 3,
            }
            # Headlines from before the class are not its news.
            assert first["headline"] is None
            assert [(r["rank"], r["username"], r["total_value"]) for r in first["data"]] == [
                (1, "student_ann", "1000.00"),
                (1, "student_bob", "1000.00"),
            ]
            # A committed change shows at the next tick.
            adjust = f"{CLASSES}/{class_id}/students/student_cat/adjust"
            await room.ok("POST", adjust, teacher, {"amount": "500", "reason": "prize"})
            seq = room.exchange.feed.seq
            changed = await next_message(ws)
            check_tick(room, changed)
            assert changed["tick"] == seq + 1
            assert [(r["rank"], r["username"], r["total_value"]) for r in changed["data"]] == [
                (1, "student_cat", "1500.00"),
                (2, "student_ann", "1000.00"),
            ]
            # Ticks that change nothing shown send nothing: the next frame is the headline's.
            await trio.sleep(3 * room.exchange.settings.tick_interval)
            news = await room.ok(
                "POST", "/api/v1/market/news", teacher, {"headline": "Rates cut"}, 201
            )
            seq = room.exchange.feed.seq
            assert seq >= changed["tick"] + 3
            headline = await next_message(ws)
            check_tick(room, headline)
            assert headline["tick"] == seq + 1
            assert headline["headline"] == {
                "news_id": headline["headline"]["news_id"],
                "headline": "Rates cut",
                "source": "news",
                "time": news["applied_at"],
            }
            assert headline["data"] == changed["data"]
            # Closing the class freezes it: the final ranking.
            await room.ok("POST", f"{CLASSES}/{class_id}/status", teacher, {"status": "closed"})
            final = await next_message(ws)
            assert (final["status"], final["final"]) == ("closed", True)
            await ws.send(json.dumps({"action": "ping"}))
            assert await next_message(ws) == {"type": "pong"}


async def test_a_student_watches_while_the_class_shows_the_board(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_room(tmp_path) as room:
        teacher = await room.teacher()
        info = await room.new_class(teacher)
        student = await room.student("student_01", code=info["code"])
        async with room.client.websocket(board_path(info["class_id"], student)) as ws:
            first = await next_message(ws)
            assert [r["username"] for r in first["data"]] == ["student_01"]
            rules = f"{CLASSES}/{info['class_id']}/rules"
            await room.ok("PUT", rules, teacher, {"leaderboard_visible": False})
            # Hidden by the teacher: the student's stream ends at the next tick.
            assert await refused(ws) == ("leaderboard_hidden", FORBIDDEN)
        # The teacher still watches it, authenticated by header or first message.
        async with room.client.websocket(board_path(info["class_id"]), headers=teacher) as ws:
            assert (await next_message(ws))["students"] == 1
        async with room.client.websocket(board_path(info["class_id"])) as ws:
            token = teacher["Authorization"].removeprefix("Bearer ")
            await ws.send(json.dumps({"action": "auth", "token": token}))
            assert (await next_message(ws))["type"] == "leaderboard"


async def test_a_viewer_that_falls_behind_is_dropped(
    tmp_path: Path, autojump_clock: object
) -> None:
    interval = 0.05
    async with open_room(tmp_path, tick_interval=interval) as room:
        teacher = await room.teacher()
        info = await room.new_class(teacher)
        student = await room.student("student_01", code=info["code"])
        # Holdings move with every tick, so every tick changes the board.
        status, _ = await room.order(
            student, order_type="market_buy", asset_id="BTC", quantity="0.01"
        )
        assert status == 201
        feed = room.exchange.feed
        path = board_path(info["class_id"], teacher)
        async with room.client.websocket(path) as reader, room.client.websocket(path) as laggard:
            await next_message(reader)
            await next_message(laggard)
            before = feed.subscribers()
            seen: list[int] = []

            async def read() -> None:
                while True:
                    seen.append((await next_message(reader))["tick"])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                await trio.sleep((BUFFER_TICKS + 20.5) * interval)
                assert feed.subscribers() == before - 1
                with pytest.raises(WebsocketDisconnectError) as closed:
                    while True:
                        await next_message(laggard)
                assert closed.value.args[0] == 4008
                nursery.cancel_scope.cancel()
            # The reader kept up, in order (a tick that moves no total by a cent sends nothing).
            assert seen == sorted(set(seen))
            assert len(seen) >= BUFFER_TICKS and seen[-1] >= feed.seq - 1
