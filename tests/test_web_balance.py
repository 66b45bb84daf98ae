"""Balance routes through HTTP: amounts, limits, funds, the ledger and body handling."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from exchange.engine import Exchange
from tests.conftest import Client, login, signed_up

DEPOSIT = "/api/v1/balance/deposit"
WITHDRAW = "/api/v1/balance/withdraw"


async def post(client: Client, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
    response = await client.post(path, json=body, headers=headers)
    return response.status_code, await response.get_json()


async def test_deposit_answers_201_with_the_contract_shape(client: Client) -> None:
    headers = await signed_up(client)
    status, body = await post(client, DEPOSIT, headers, {"amount": 100.5})
    assert status == 201
    assert set(body) == {"success", "message", "transaction_id", "timestamp"}
    assert body["success"] is True
    assert body["message"] == "Successfully deposited $100.50"
    assert body["timestamp"].startswith("2026-03-14T12:00:")
    assert body["timestamp"].endswith("Z")
    status, body = await post(client, WITHDRAW, headers, {"amount": "0.5"})
    assert (status, body["message"]) == (201, "Successfully withdrew $0.50")
    response = await client.get("/api/v1/balance", headers=headers)
    balance = await response.get_json()
    assert balance["current_balance"] == "100.00"
    assert balance["updated_at"].startswith("2026-03-14T12:00:")


@pytest.mark.parametrize(
    "amount",
    [
        0,
        "0",
        -1,
        "-0.01",
        "0.001",
        1.005,
        "1,000",
        "abc",
        "",
        None,
        True,
        [1],
        {"v": 1},
        "NaN",
        "Infinity",
        1_000_000.01,
        "1e7",
    ],
)
async def test_bad_amounts_are_422_naming_the_field(client: Client, amount: object) -> None:
    headers = await signed_up(client)
    for path in (DEPOSIT, WITHDRAW):
        status, body = await post(client, path, headers, {"amount": amount})
        assert status == 422, (amount, body)
        assert body["code"] == "validation_error"
        assert body["detail"][0]["loc"] == ["body", "amount"]
        assert body["request_id"]


@pytest.mark.parametrize("amount", [1_000_000, "1000000.00", "0.01", 0.01, "1e2"])
async def test_amount_bounds_accept_numbers_and_strings(client: Client, amount: object) -> None:
    headers = await signed_up(client)
    status, body = await post(client, DEPOSIT, headers, {"amount": amount})
    # Valid amounts pass validation; a million is still over the daily limit.
    assert status in (201, 422)
    assert body.get("code") in (None, "daily_limit_exceeded")


# Raw JSON values of "amount", with the field error each must get: out of range either way,
# or not in the one accepted form.
HOSTILE_AMOUNTS: list[tuple[bytes, str]] = [
    (b"1e999990", "less_than_equal"),
    (b'"1e999990"', "less_than_equal"),
    (b"1e999999999", "less_than_equal"),
    (b'"1e999999999"', "less_than_equal"),
    (b"-1e999999999", "greater_than"),
    (b'"-1e999999999"', "greater_than"),
    (b"1E+9999999999999999999999999999", "less_than_equal"),
    (b"1" + b"0" * 60_000, "decimal_parsing"),
    (b"1." + b"0" * 60_000 + b"1", "decimal_parsing"),
    (b"1e-999999999", "decimal_places"),
    (b'"\\uff11\\uff10\\uff10"', "decimal_parsing"),  # fullwidth 100
    ('"\u0661\u0660\u0660"'.encode(), "decimal_parsing"),  # Arabic-Indic 100, as UTF-8
    (b'"1_000"', "decimal_parsing"),
    (b'" 100"', "decimal_parsing"),
    (b'"100 "', "decimal_parsing"),
    (b'"+100"', "decimal_parsing"),
    (b'"0100"', "decimal_parsing"),
]


async def test_hostile_amounts_are_422_at_once_and_move_nothing(client: Client) -> None:
    headers = {**await signed_up(client), "Content-Type": "application/json"}
    # Each is answered without scaling the value: scaling 1e999990 used to freeze the loop 24 s.
    with trio.fail_after(10):
        for raw, kind in HOSTILE_AMOUNTS:
            for path in (DEPOSIT, WITHDRAW):
                response = await client.post(
                    path, data=b'{"amount": ' + raw + b"}", headers=headers
                )
                body = await response.get_json()
                assert response.status_code == 422, (raw[:30], body)
                assert [e["loc"] for e in body["detail"]] == [["body", "amount"]], raw[:30]
                assert body["detail"][0]["type"] == kind, (raw[:30], body)
    balance = await (await client.get("/api/v1/balance", headers=headers)).get_json()
    assert balance["current_balance"] == "0.00"
    status, _ = await post(client, DEPOSIT, headers, {"amount": "1000"})
    assert status == 201


async def test_daily_deposit_limit_message(client: Client) -> None:
    headers = await signed_up(client)
    assert (await post(client, DEPOSIT, headers, {"amount": "9999.99"}))[0] == 201
    status, body = await post(client, DEPOSIT, headers, {"amount": "0.02"})
    assert status == 422
    assert body["code"] == "daily_limit_exceeded"
    assert body["detail"] == (
        "Daily deposit limit exceeded: limit $10000.00, used today $9999.99, requested $0.02"
    )
    assert (await post(client, DEPOSIT, headers, {"amount": "0.01"}))[0] == 201


async def test_daily_withdraw_limit_and_insufficient_funds(client: Client) -> None:
    headers = await signed_up(client)
    status, body = await post(client, WITHDRAW, headers, {"amount": 1})
    assert (status, body["code"]) == (422, "insufficient_funds")
    await post(client, DEPOSIT, headers, {"amount": 10_000})
    assert (await post(client, WITHDRAW, headers, {"amount": 5_000}))[0] == 201
    status, body = await post(client, WITHDRAW, headers, {"amount": "0.01"})
    assert (status, body["code"]) == (422, "daily_limit_exceeded")
    assert "limit $5000.00, used today $5000.00, requested $0.01" in body["detail"]
    balance = await (await client.get("/api/v1/balance", headers=headers)).get_json()
    assert balance["current_balance"] == "5000.00"


async def test_limits_roll_over_at_midnight(client: Client, autojump_clock: object) -> None:
    headers = await signed_up(client)
    assert (await post(client, DEPOSIT, headers, {"amount": 10_000}))[0] == 201
    assert (await post(client, DEPOSIT, headers, {"amount": 1}))[0] == 422
    await trio.sleep(12 * 3600 - 1)  # the exchange clock starts at 12:00 UTC
    headers = await login(client)  # the first token has expired meanwhile
    assert (await post(client, DEPOSIT, headers, {"amount": 1}))[0] == 422
    await trio.sleep(1)
    assert (await post(client, DEPOSIT, headers, {"amount": 10_000}))[0] == 201


async def test_transactions_are_newest_first_and_paginate(client: Client) -> None:
    headers = await signed_up(client)
    for cents in range(1, 121):
        await post(
            client, DEPOSIT, headers, {"amount": f"0.{cents:02d}" if cents < 100 else "1.00"}
        )
    await post(client, WITHDRAW, headers, {"amount": "0.50"})
    url = "/api/v1/balance/transactions"
    page = await (await client.get(url, headers=headers)).get_json()
    assert page["total_count"] == 121
    assert page["has_more"] is True
    assert len(page["transactions"]) == 50
    first = page["transactions"][0]
    assert set(first) == {
        "transaction_id",
        "transaction_type",
        "amount",
        "status",
        "description",
        "reference_id",
        "created_at",
    }
    assert (first["transaction_type"], first["amount"]) == ("withdraw", "-0.50")
    last_page = await (await client.get(f"{url}?limit=100&offset=100", headers=headers)).get_json()
    assert len(last_page["transactions"]) == 21
    assert last_page["has_more"] is False
    assert last_page["transactions"][-1]["amount"] == "0.01"
    deposits = await (
        await client.get(f"{url}?transaction_type=withdraw", headers=headers)
    ).get_json()
    assert deposits["total_count"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=x",
        "offset=-1",
        "transaction_type=bogus",
        "limit=%EF%BC%91%EF%BC%90",  # fullwidth 10
        "limit=%D9%A1%D9%A0",  # Arabic-Indic 10
        "limit=1_0",
        "limit=%2010",
        "limit=10%20",
        "limit=%2B10",
        "offset=%C2%B2",
        "offset=" + "9" * 5000,
        "offset=9223372036854775808",
    ],
)
async def test_transaction_query_validation(client: Client, query: str) -> None:
    headers = await signed_up(client)
    response = await client.get(f"/api/v1/balance/transactions?{query}", headers=headers)
    assert response.status_code == 422
    body = await response.get_json()
    assert body["detail"][0]["loc"][0] == "query"


async def test_bodies_are_strict(client: Client) -> None:
    headers = await signed_up(client)
    cases: list[tuple[bytes, str, int]] = [
        (b'{"amount": ', "application/json", 422),
        (b"[1, 2]", "application/json", 422),
        (b'"100"', "application/json", 422),
        (b"", "application/json", 422),
        (b'{"amount": 1, "extra": 2}', "application/json", 422),
        (b"amount=1", "application/x-www-form-urlencoded", 415),
        (b'{"amount": "' + b"1" * 70_000 + b'"}', "application/json", 413),
    ]
    for raw, content_type, expected in cases:
        response = await client.post(
            DEPOSIT, data=raw, headers={**headers, "Content-Type": content_type}
        )
        assert response.status_code == expected, raw[:40]
        body = await response.get_json()
        assert set(body) == {"detail", "code", "request_id"}
        assert body["request_id"] == response.headers["X-Request-ID"]


async def test_many_concurrent_requests_end_exact(client: Client, exchange: Exchange) -> None:
    users = [f"trader_{i}" for i in range(3)]
    headers = {user: await signed_up(client, user) for user in users}
    accepted: dict[str, int] = dict.fromkeys(users, 0)

    async def move(user: str, path: str, cents: int) -> None:
        status, _ = await post(client, path, headers[user], {"amount": f"{cents / 100:.2f}"})
        if status == 201:
            accepted[user] += cents if path == DEPOSIT else -cents
        else:
            assert status == 422

    async with trio.open_nursery() as nursery:
        for i in range(100):
            for user in users:
                nursery.start_soon(move, user, DEPOSIT, 100 + i)
                nursery.start_soon(move, user, WITHDRAW, 150)
    for user in users:
        balance = await (await client.get("/api/v1/balance", headers=headers[user])).get_json()
        assert balance["current_balance"] == f"{accepted[user] / 100:.2f}"
    assert exchange.verify() == []


async def test_daily_limits_show_today_used_and_remaining(
    client: Client, autojump_clock: object
) -> None:
    headers = await signed_up(client)
    await post(client, DEPOSIT, headers, {"amount": "2500.25"})
    await post(client, WITHDRAW, headers, {"amount": "100"})
    response = await client.get("/api/v1/balance/limits", headers=headers)
    assert response.status_code == 200
    assert await response.get_json() == {
        "day": "2026-03-14",
        "deposit": {"limit": "10000.00", "used": "2500.25", "remaining": "7499.75"},
        "withdraw": {"limit": "5000.00", "used": "100.00", "remaining": "4900.00"},
    }
    await trio.sleep(12 * 3600 + 1)  # past midnight on the exchange clock
    headers = await login(client)
    body = await (await client.get("/api/v1/balance/limits", headers=headers)).get_json()
    assert body["day"] == "2026-03-15"
    assert body["deposit"]["used"] == "0.00"
    assert body["withdraw"]["remaining"] == "5000.00"
    assert (await client.get("/api/v1/balance/limits")).status_code == 401
