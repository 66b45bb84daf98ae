"""The red-pocket promotion through HTTP: phrases, once a day, limits, concurrency, config."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from exchange.engine import Exchange, open_exchange
from exchange.redpocket import RedPocketError, load_red_pockets
from tests.conftest import Client, engine_settings, login, signed_up

CLAIM = "/api/v1/cny/claim"
LUCKY = "恭喜发财"  # pays 88.88 in the shipped configuration


async def claim(client: Client, headers: dict[str, str], phrase: Any) -> tuple[int, Any]:
    response = await client.post(CLAIM, json={"phrase": phrase}, headers=headers)
    return response.status_code, await response.get_json()


async def balance(client: Client, headers: dict[str, str]) -> str:
    body = await (await client.get("/api/v1/balance", headers=headers)).get_json()
    return str(body["current_balance"])


async def test_a_configured_phrase_pays_once_a_day(client: Client) -> None:
    headers = await signed_up(client)
    status, body = await claim(client, headers, LUCKY)
    assert status == 201
    assert set(body) == {"success", "message", "amount", "got_red_pocket", "timestamp"}
    assert (body["success"], body["amount"], body["got_red_pocket"]) == (True, "88.88", True)
    for phrase in (LUCKY, "Happy Lunar New Year", "anything else"):
        status, body = await claim(client, headers, phrase)
        assert (status, body["code"]) == (422, "already_claimed_today")
    assert await balance(client, headers) == "88.88"
    ledger = await (
        await client.get(
            "/api/v1/balance/transactions?transaction_type=red_pocket", headers=headers
        )
    ).get_json()
    assert [row["amount"] for row in ledger["transactions"]] == ["88.88"]


async def test_other_phrases_pay_the_default(client: Client) -> None:
    headers = await signed_up(client)
    for phrase in ("hello", "gong xi fa cai", "Gong  Xi Fa Cai"):
        status, body = await claim(client, headers, phrase)
        assert (status, body["amount"], body["got_red_pocket"]) == (201, "8.88", False)
    # Matching is exact and case-sensitive, after trimming.
    status, body = await claim(client, headers, "  Gong Xi Fa Cai \n")
    assert (status, body["amount"], body["got_red_pocket"]) == (201, "88.88", True)
    assert await balance(client, headers) == "115.52"


@pytest.mark.parametrize("phrase", ["", "   ", None, 5, ["x"], "<script>", "x" * 201])
async def test_bad_phrases_are_422(client: Client, phrase: object) -> None:
    headers = await signed_up(client)
    status, body = await claim(client, headers, phrase)
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "phrase"]
    assert await balance(client, headers) == "0.00"


async def test_claims_need_a_token(client: Client) -> None:
    response = await client.post(CLAIM, json={})
    assert response.status_code == 401


async def test_the_day_boundary_allows_a_new_claim(client: Client, autojump_clock: object) -> None:
    headers = await signed_up(client)
    assert (await claim(client, headers, LUCKY))[0] == 201
    await trio.sleep(12 * 3600 - 1)  # the exchange clock starts at 12:00 UTC
    headers = await login(client)
    assert (await claim(client, headers, LUCKY))[0] == 422
    await trio.sleep(1)
    status, body = await claim(client, headers, LUCKY)
    assert (status, body["timestamp"]) == (201, "2026-03-15T00:00:00.000Z")


async def test_claims_count_toward_and_are_bounded_by_the_deposit_limit(client: Client) -> None:
    headers = await signed_up(client)
    deposit = "/api/v1/balance/deposit"
    assert (
        await client.post(deposit, json={"amount": "9991.12"}, headers=headers)
    ).status_code == 201
    status, body = await claim(client, headers, "hello")  # 8.88 reaches 10000.00 exactly
    assert status == 201
    status, body = await claim(client, headers, LUCKY)
    assert (status, body["code"]) == (422, "daily_limit_exceeded")
    assert "used today $10000.00" in body["detail"]
    assert await balance(client, headers) == "10000.00"


async def test_a_refused_claim_does_not_use_up_the_day(client: Client) -> None:
    headers = await signed_up(client)
    deposit = "/api/v1/balance/deposit"
    assert (await client.post(deposit, json={"amount": "9950"}, headers=headers)).status_code == 201
    status, body = await claim(client, headers, LUCKY)
    assert (status, body["code"]) == (422, "daily_limit_exceeded")
    status, body = await claim(client, headers, "Happy Lunar New Year")  # 38.88 still fits
    assert (status, body["got_red_pocket"]) == (201, True)


async def test_concurrent_claims_never_pay_twice(client: Client, exchange: Exchange) -> None:
    headers = await signed_up(client)
    statuses: list[int] = []

    async def one() -> None:
        statuses.append((await claim(client, headers, LUCKY))[0])

    async with trio.open_nursery() as nursery:
        for _ in range(30):
            nursery.start_soon(one)
    assert sorted(statuses) == [201] + [422] * 29
    assert await balance(client, headers) == "88.88"
    assert exchange.verify() == []


async def test_the_claimed_day_survives_a_restart(tmp_path: Path) -> None:
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        from exchange.users import NewUser

        await exchange.register(NewUser("alice_01", "a@example.com", "x", "A", "B"))
        assert (await exchange.claim_red_pocket("alice_01", LUCKY)).got_red_pocket
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        from exchange.errors import Rejected

        with pytest.raises(Rejected, match="already claimed"):
            await exchange.claim_red_pocket("alice_01", "Kung Hei Fat Choi")


def _write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "pockets.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("config", "names"),
    [
        (
            {"version": 1, "default_amount": "8.88", "phrases": [{"phrase": " ", "amount": "1"}]},
            "entry 0: field 'phrase'",
        ),
        (
            {"version": 1, "default_amount": "8.88", "phrases": [{"phrase": "a", "amount": "-1"}]},
            "entry 0: field 'amount'",
        ),
        (
            {
                "version": 1,
                "default_amount": "8.88",
                "phrases": [{"phrase": "a", "amount": "1.001"}],
            },
            "entry 0: field 'amount'",
        ),
        (
            {
                "version": 1,
                "default_amount": "8.88",
                "phrases": [{"phrase": "a", "amount": "1"}, {"phrase": "a", "amount": "2"}],
            },
            "entry 1: field 'phrase'",
        ),
        ({"version": 1, "default_amount": "zero", "phrases": []}, "default: field 'amount'"),
        ({"version": 1, "phrases": []}, "default_amount"),
    ],
)
def test_a_bad_configuration_names_the_entry_and_field(
    tmp_path: Path, config: dict[str, Any], names: str
) -> None:
    with pytest.raises(RedPocketError, match=names):
        load_red_pockets(_write(tmp_path, config))


def test_the_shipped_configuration_and_the_default_override() -> None:
    pockets = load_red_pockets()
    assert pockets.default_amount == 888
    assert pockets.amounts[LUCKY] == 8888
    assert load_red_pockets(default_override=Decimal("1.23")).default_amount == 123
