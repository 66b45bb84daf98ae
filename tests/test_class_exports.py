"""Class exports as CSV: columns, UTF-8 with BOM, formula-safe cells; generated logins."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from exchange.clock import iso_ms
from exchange.exports import safe_cell, to_csv
from tests.class_helpers import CLASSES, Headers, Room, open_room
from tests.conftest import login
from web.logins import generated_password


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with open_room(tmp_path) as running:
        yield running


async def download(room: Room, headers: Headers, path: str) -> list[list[str]]:
    response = await room.client.get(path, headers=headers)
    assert response.status_code == 200, await response.get_data()
    assert response.content_type == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = await response.get_data(as_text=False)
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline="")))


def test_cells_that_would_run_as_formulas_are_quoted() -> None:
    assert [safe_cell(v) for v in ("=1+2", "+A1", "-2", "@SUM(A1)", "\tx", "\rx")] == [
        "'=1+2",
        "'+A1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
    ]
    # Numbers we write ourselves stay numbers, negative ones included.
    assert [safe_cell(v) for v in (Decimal("-12.50"), -3, None, "plain")] == [
        "-12.50",
        "-3",
        "",
        "plain",
    ]
    rows = list(
        csv.reader(io.StringIO(to_csv(("a",), [['say "hi", then\nleave']]).decode("utf-8-sig")))
    )
    assert rows == [["a"], ['say "hi", then\nleave']]


async def test_every_export_has_its_columns_and_escapes_hostile_text(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, review_above="3000", fee_bps=100)
    await room.ok("POST", CLASSES, teacher, {"name": '=cmd|"/C calc"!A0', "rules": {}}, 201)
    base = f"{CLASSES}/{info['class_id']}"
    hostile_note = '=HYPERLINK("http://evil.example","click"), "quoted"\nsecond line'
    ann = await room.student(
        "student_ann", code=info["code"], first_name="-Robert", last_name="O'Neil"
    )
    status, _ = await room.order(
        ann, order_type="market_buy", asset_id="ETH", quantity="1", note=hostile_note
    )
    assert status == 201
    _, held = await room.order(
        ann, order_type="market_buy", asset_id="BTC", quantity="0.1", note="@SUM(1)"
    )
    await room.ok(
        "POST", f"{base}/reviews/{held['data']['order_id']}/reject", teacher, {"note": "+too big"}
    )
    await room.ok(
        "POST", f"{base}/students/student_ann/adjust", teacher, {"amount": "-1", "reason": "-fine"}
    )

    roster = await download(room, teacher, f"{base}/exports/roster.csv")
    assert roster[0] == [
        "username",
        "first_name",
        "last_name",
        "joined_at",
        "cash",
        "total_value",
        "pnl",
        "return_pct",
        "trades",
        "open_orders",
    ]
    assert roster[1][:3] == ["student_ann", "'-Robert", "O'Neil"]
    # 10,000 - 2,480 - 24.80 fee - 1 = 7,494.20 cash; P&L is a plain negative number.
    assert roster[1][4:10] == ["7494.20", "9974.20", "-24.80", "-0.25", "1", "0"]

    board = await download(room, teacher, f"{base}/exports/leaderboard.csv")
    assert board[0] == [
        "rank",
        "username",
        "cash",
        "holdings_value",
        "total_value",
        "basis",
        "pnl",
        "return_pct",
        "trades",
    ]
    assert board[1] == [
        "1",
        "student_ann",
        "7494.20",
        "2480.00",
        "9974.20",
        "9999.00",
        "-24.80",
        "-0.25",
        "1",
    ]

    trades = await download(room, teacher, f"{base}/exports/trades.csv")
    assert trades[0] == [
        "time",
        "username",
        "order_id",
        "order_type",
        "asset_id",
        "quantity",
        "price",
        "total",
        "fee",
        "tick",
    ]
    [trade] = trades[1:]
    assert trade[1] == "student_ann" and trade[3:] == [
        "market_buy",
        "ETH",
        "1",
        "2480",
        "2480.00",
        "24.80",
        str(room.exchange.feed.seq),
    ]

    orders = await download(room, teacher, f"{base}/exports/orders.csv")
    assert orders[0][-6:] == [
        "reason",
        "note",
        "review_status",
        "review_note",
        "reviewed_by",
        "reviewed_at",
    ]
    filled, rejected = orders[1:]
    assert filled[orders[0].index("note")] == "'" + hostile_note
    assert filled[orders[0].index("review_status")] == ""
    assert rejected[orders[0].index("note")] == "'@SUM(1)"
    assert rejected[orders[0].index("status")] == "rejected"
    assert rejected[-4:-1] == ["rejected", "'+too big", "teacher_01"]

    actions = await download(room, teacher, f"{base}/exports/actions.csv")
    assert actions[0] == ["time", "source", "actor", "action", "username", "status", "detail"]
    assert [row[3] for row in actions[1:]] == ["created", "open", "joined", "adjust"]
    assert actions[1][6] == "Economics 101"
    # The other class's hostile name is in its own log, quoted.
    [other] = [
        c for c in (await room.ok("GET", CLASSES, teacher))["data"] if c["name"] != "Economics 101"
    ]
    other_actions = await download(
        room, teacher, f"{CLASSES}/{other['class_id']}/exports/actions.csv"
    )
    assert other_actions[1][6] == '\'=cmd|"/C calc"!A0'
    # A detail starting with '-' is quoted like any other text cell.
    assert actions[-1][6] == "'-1.00: -fine"

    status, body = await room.call("GET", f"{base}/exports/secrets.csv", teacher)
    assert (status, body["detail"][0]["loc"]) == (422, ["path", "kind"])


async def test_generated_logins_are_shown_once_and_join_the_class(room: Room) -> None:
    teacher = await room.teacher()
    info = await room.new_class(teacher, starting_cash="500")
    # Someone already holds the first name: numbering skips it.
    await room.student("period3_01")
    response = await room.client.post(
        f"{CLASSES}/{info['class_id']}/students/generate",
        headers=teacher,
        json={"count": 3, "prefix": "Period3_"},
    )
    assert response.status_code == 201
    text = (await response.get_data(as_text=False)).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["username", "password"]
    assert [r[0] for r in rows[1:]] == ["period3_02", "period3_03", "period3_04"]
    assert len({r[1] for r in rows[1:]}) == 3
    assert all(r[1][0].isalpha() for r in rows[1:])
    for username, password in rows[1:]:
        answer = await room.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert answer.status_code == 200
    headers = await login(room.client, "period3_01")
    mine = await room.ok("GET", f"{CLASSES}/mine", headers)
    assert mine["data"] is None
    roster = await room.ok("GET", f"{CLASSES}/{info['class_id']}/students", teacher)
    assert [s["username"] for s in roster["data"]] == ["period3_02", "period3_03", "period3_04"]
    assert all(s["standing"]["cash"] == "500.00" for s in roster["data"])
    status, body = await room.call(
        "POST",
        f"{CLASSES}/{info['class_id']}/students/generate",
        teacher,
        {"count": 0, "prefix": "a"},
    )
    assert status == 422
    assert {tuple(e["loc"]) for e in body["detail"]} == {("body", "count"), ("body", "prefix")}


def test_generated_passwords_never_need_the_formula_guard() -> None:
    for _ in range(2000):
        password = generated_password()
        assert safe_cell(password) == password
        assert len(password) == 16


async def test_the_actions_export_holds_the_markets_actions_and_headlines_of_the_class(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_room(tmp_path) as room:
        teacher = await room.teacher()
        market = "/api/v1/market"
        await room.ok("POST", f"{market}/news", teacher, {"headline": "Before the class"}, 201)
        await trio.sleep(1)
        info = await room.new_class(teacher)
        base = f"{CLASSES}/{info['class_id']}"
        await room.student("student_ann", code=info["code"])
        await trio.sleep(1)
        hostile = '=HYPERLINK("http://evil.example","click"), "quoted"'
        await room.ok("POST", f"{market}/pause", teacher, {"reason": "Quiz, part 1"}, 201)
        await room.ok("POST", f"{market}/resume", room.admin, {}, 201)
        await room.ok("POST", f"{market}/news", teacher, {"headline": hostile}, 201)
        shock = {"percent": -10, "asset_id": "BTC", "headline": "-10% on BTC"}
        await room.ok("POST", f"{market}/shock", teacher, shock, 201)
        at = iso_ms(room.exchange.clock.now_ms() + 3_600_000)
        later = await room.ok(
            "POST", f"{market}/regime", teacher, {"regime": "bull", "at": at}, 201
        )
        await trio.sleep(1)
        await room.ok("DELETE", f"{market}/actions/{later['action_id']}", room.admin)
        await trio.sleep(1)
        await room.ok("POST", f"{base}/status", teacher, {"status": "closed"})
        await trio.sleep(1)
        await room.ok("POST", f"{market}/news", teacher, {"headline": "After the class"}, 201)

        rows = await download(room, teacher, f"{base}/exports/actions.csv")
        assert rows[0] == ["time", "source", "actor", "action", "username", "status", "detail"]
        listed = [(r[1], r[2], r[3], r[5]) for r in rows[1:]]
        assert listed == [
            ("class", "teacher_01", "created", "done"),
            ("class", "teacher_01", "open", "done"),
            ("class", "student_ann", "joined", "done"),
            ("market", "teacher_01", "pause", "done"),
            ("market", "admin_01", "resume", "done"),
            ("market", "teacher_01", "news", "done"),
            ("market", "teacher_01", "headline", ""),
            ("market", "teacher_01", "shock", "done"),
            ("market", "teacher_01", "headline", ""),
            ("market", "teacher_01", "regime", "cancelled"),
            ("class", "teacher_01", "closed", "done"),
        ]
        details = [r[6] for r in rows[1:]]
        assert json.loads(details[3]) == {
            "reason": "Quiz, part 1",
            "freeze_prices": False,
            "headline": None,
        }
        # The hostile headline is a plain text cell, in the headline row and in the action's.
        assert details[6] == "'" + hostile
        assert json.loads(details[5]) == {"headline": hostile}
        assert details[8] == "'-10% on BTC"
        assert json.loads(details[7])["percent"] == -10
        assert details[9] == (
            f'{{"regime":"bull","headline":null}}; scheduled for {at}; cancelled by admin_01'
        )
        times = [r[0] for r in rows[1:]]
        assert times == sorted(times)
