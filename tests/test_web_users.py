"""Auth and profile routes through HTTP, and the cross-cutting auth, error and header rules."""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import msgspec
import pytest
import trio
import trio.testing
from jwt.warnings import InsecureKeyLengthWarning
from quart import Response

from exchange.engine import Exchange, open_exchange
from tests.conftest import (
    PASSWORD,
    START_EPOCH,
    Client,
    engine_settings,
    login,
    register,
    signed_up,
    user_body,
    web_settings,
)
from web.app import create_app

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
PROFILE = "/api/v1/auth/profile"
LOGOUT = "/api/v1/auth/logout"
BALANCE = "/api/v1/balance"
TRANSACTIONS = "/api/v1/balance/transactions"

SECRET = web_settings().jwt_secret
TODAY = datetime.fromtimestamp(START_EPOCH, tz=UTC).date()  # 2026-03-14 on the exchange clock
PROFILE_KEYS = {
    "username",
    "email",
    "first_name",
    "last_name",
    "phone",
    "date_of_birth",
    "marketing_emails_consent",
    "role",
    "created_at",
    "updated_at",
}
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (no leap-day edge for 03-14)."""
    return day.replace(year=day.year - years)


YOUNGEST = years_before(TODAY, 13)  # exactly 13 today
OLDEST = years_before(TODAY, 121) + timedelta(days=1)  # 120, turning 121 tomorrow


# Helpers


async def json_of(response: Response) -> Any:
    return await response.get_json()


async def assert_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error in the contract's shape; return its body."""
    body = await json_of(response)
    assert response.status_code == status, body
    assert isinstance(body, dict), body
    assert set(body) == {"detail", "code", "request_id"}, body
    assert isinstance(body["code"], str)
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body["code"]), body["code"]
    if code is not None:
        assert body["code"] == code, body
    assert body["request_id"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    if isinstance(body["detail"], str):
        assert body["detail"]
        # No exception class names in messages.
        assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b", body["detail"]), body
    return dict(body)


async def assert_invalid(response: Response, *locs: list[str | int]) -> list[dict[str, Any]]:
    """A 422 whose detail is a list of field errors naming (at least) ``locs``."""
    body = await assert_error(response, 422, "validation_error")
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    for item in detail:
        assert set(item) == {"loc", "msg", "type"}, item
        assert isinstance(item["loc"], list) and item["loc"][0] == "body", item
        assert isinstance(item["msg"], str) and item["msg"], item
        assert isinstance(item["type"], str) and item["type"], item
    found = [item["loc"] for item in detail]
    for loc in locs:
        assert loc in found, (loc, detail)
    return list(detail)


async def assert_unauthorized(response: Response) -> None:
    await assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def profile_of(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(PROFILE, headers=headers)
    assert response.status_code == 200, await response.get_data()
    body: dict[str, Any] = await json_of(response)
    return body


async def call(client: Client, method: str, path: str, **kwargs: Any) -> Response:
    """A request by method name (the client protocol's ``open`` insists on ``json``)."""
    verbs: dict[str, Callable[..., Awaitable[Response]]] = {
        "GET": client.get,
        "POST": client.post,
        "PUT": client.put,
        "PATCH": client.patch,
        "DELETE": client.delete,
    }
    return await verbs[method](path, **kwargs)


def claims(**overrides: object) -> dict[str, object]:
    """Well-formed access token claims for alice_01 at the exchange's start time."""
    now = int(START_EPOCH)
    values: dict[str, object] = {
        "sub": "alice_01",
        "role": "customer",
        "iat": now,
        "exp": now + 3600,
        "type": "access_token",
        "jti": uuid.uuid4().hex,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def hs512_token() -> str:
    """Well-formed claims signed with the right secret but not with HS256."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims(), SECRET, algorithm="HS512")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_claims(headers: dict[str, str]) -> dict[str, Any]:
    token = headers["Authorization"].removeprefix("Bearer ")
    decoded: dict[str, Any] = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    return decoded


# POST /auth/register


async def test_register_answers_201_and_creates_a_customer(client: Client) -> None:
    response = await client.post(REGISTER, json=user_body())
    assert response.status_code == 201
    assert await json_of(response) == {"message": "User registered successfully"}
    assert REQUEST_ID.fullmatch(response.headers["X-Request-ID"])
    headers = await login(client)
    profile = await profile_of(client, headers)
    assert profile["role"] == "customer"
    assert profile["username"] == "alice_01"
    assert profile["email"] == "alice_01@example.com"
    assert (profile["phone"], profile["date_of_birth"]) == (None, None)
    assert profile["marketing_emails_consent"] is False


async def test_register_creates_a_zero_balance_and_no_transaction(client: Client) -> None:
    headers = await signed_up(client)
    response = await client.get(BALANCE, headers=headers)
    assert response.status_code == 200
    balance = await json_of(response)
    assert balance["current_balance"] == "0.00"
    assert ISO_Z.fullmatch(balance["updated_at"])
    response = await client.get(TRANSACTIONS, headers=headers)
    assert response.status_code == 200
    assert await json_of(response) == {"transactions": [], "total_count": 0, "has_more": False}


async def test_register_with_every_optional_field(client: Client) -> None:
    body = user_body(
        phone="+1 (555) 123-4567",
        date_of_birth="1990-07-04",
        marketing_emails_consent=True,
    )
    assert (await client.post(REGISTER, json=body)).status_code == 201
    profile = await profile_of(client, await login(client))
    assert re.sub(r"\D", "", profile["phone"]) == "15551234567"
    assert profile["date_of_birth"] == "1990-07-04"
    assert profile["marketing_emails_consent"] is True


async def test_register_accepts_null_optional_fields(client: Client) -> None:
    body = user_body(phone=None, date_of_birth=None)
    assert (await client.post(REGISTER, json=body)).status_code == 201


@pytest.mark.parametrize(
    "username",
    ["abcdef", "a" * 30, "ALICE_01", "Under_Score_9", "123456", "______"],
    ids=["6", "30", "upper", "mixed", "digits", "underscores"],
)
async def test_valid_usernames(client: Client, username: str) -> None:
    response = await client.post(REGISTER, json=user_body(username, email="u@example.com"))
    assert response.status_code == 201, await response.get_data()
    headers = await login(client, username)
    assert (await profile_of(client, headers))["username"] == username.lower()


@pytest.mark.parametrize(
    "username",
    [
        "abcde",
        "a" * 31,
        "",
        "alice-01",
        "alice 01",
        "alice.01",
        "alice@01",
        "alicé_01",
        "alice_01\n",
        " alice_01",
        "alice01!",
        "\uff41\uff4c\uff49\uff43\uff45\uff3f\uff10\uff11",
    ],
    ids=[
        "5",
        "31",
        "empty",
        "hyphen",
        "space",
        "dot",
        "at",
        "accent",
        "newline",
        "leading-space",
        "bang",
        "fullwidth",
    ],
)
async def test_invalid_usernames(client: Client, username: str) -> None:
    response = await client.post(REGISTER, json=user_body(username, email="u@example.com"))
    await assert_invalid(response, ["body", "username"])


async def test_username_is_stored_lower_case(client: Client) -> None:
    await register(client, "Alice_Case")
    for spelling in ("alice_case", "ALICE_CASE", "aLiCe_CaSe"):
        headers = await login(client, spelling)
        assert token_claims(headers)["sub"] == "alice_case"
        assert (await profile_of(client, headers))["username"] == "alice_case"


async def test_duplicate_username_is_409_case_insensitively(client: Client) -> None:
    await register(client, "alice_01")
    for spelling in ("alice_01", "ALICE_01", "Alice_01"):
        body = user_body(spelling, email=f"other_{spelling}@example.org")
        response = await client.post(REGISTER, json=body)
        await assert_error(response, 409, "username_taken")
    # The first registration is untouched.
    assert (await profile_of(client, await login(client)))["email"] == "alice_01@example.com"


async def test_duplicate_email_is_409_case_insensitively(client: Client) -> None:
    await register(client, "alice_01")
    for email in ("alice_01@example.com", "ALICE_01@Example.COM", " Alice_01@example.com "):
        response = await client.post(REGISTER, json=user_body("bob_0001", email=email))
        await assert_error(response, 409, "email_taken")
    # Nothing of bob was created.
    response = await client.post(LOGIN, json={"username": "bob_0001", "password": PASSWORD})
    await assert_error(response, 404)


async def test_email_is_stored_lower_case(client: Client) -> None:
    body = user_body(email="Alice.Smith@Example.COM")
    assert (await client.post(REGISTER, json=body)).status_code == 201
    assert (await profile_of(client, await login(client)))["email"] == "alice.smith@example.com"


@pytest.mark.parametrize(
    "password",
    [
        "Abcdefgh1!xy",
        "Abcdefgh1!xy" + "z" * 8,
        *(f"Abcdefgh1{c}xy" for c in "!@#$%^&*()-_=+"),
    ],
    ids=["12", "20", *(f"special-{c}" for c in "!@#$%^&*()-_=+")],
)
async def test_valid_passwords(client: Client, password: str) -> None:
    response = await client.post(REGISTER, json=user_body(password=password))
    assert response.status_code == 201, await response.get_data()
    response = await client.post(LOGIN, json={"username": "alice_01", "password": password})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "password",
    [
        "Abcdefgh1!x",
        "Abcdefgh1!xy" + "z" * 9,
        "",
        "secret-passw0rd",
        "SECRET-PASSW0RD",
        "Secret-Password",
        "SecretPassw0rd1",
        "Secret Passw0rd1",
        "Secret~Passw0rd1",
        "Secret<Passw0rd1",
        "Secret>Passw0rd1",
    ],
    ids=[
        "11",
        "21",
        "empty",
        "no-upper",
        "no-lower",
        "no-digit",
        "no-special",
        "space-not-special",
        "tilde-not-special",
        "lt",
        "gt",
    ],
)
async def test_invalid_passwords(client: Client, password: str) -> None:
    response = await client.post(REGISTER, json=user_body(password=password))
    await assert_invalid(response, ["body", "password"])


@pytest.mark.parametrize(
    "email",
    [
        "first.last+tag@sub.example.co.uk",
        "a@b.io",
        "o'brien@example.com",
        "user_name-1@my-domain.example",
        " padded@example.com ",
    ],
)
async def test_valid_emails(client: Client, email: str) -> None:
    response = await client.post(REGISTER, json=user_body(email=email))
    assert response.status_code == 201, await response.get_data()
    assert (await profile_of(client, await login(client)))["email"] == email.strip().lower()


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "plainaddress",
        "@example.com",
        "alice@",
        "alice@example",
        "alice@@example.com",
        "alice smith@example.com",
        "alice@exa mple.com",
        "alice@-example.com",
        "alice@example.c",
        "alice@example..com",
        "a" * 250 + "@example.com",
        "<alice>@example.com",
    ],
)
async def test_invalid_emails(client: Client, email: str) -> None:
    response = await client.post(REGISTER, json=user_body(email=email))
    await assert_invalid(response, ["body", "email"])


VALID_NAMES = ["A", "A" * 50, "O'Brien", "Mary-Jane", "Anne Marie", "José", "Zoë d'Arc-Lee"]
INVALID_NAMES = ["", "   ", "A" * 51, "Al1ce", "Alice_", "Alice!", "Alice.", "<b>", "Al>ce"]
VALID_NAME_IDS = ["1", "50", "apostrophe", "hyphen", "space", "accent", "mixed"]
INVALID_NAME_IDS = ["empty", "blank", "51", "digit", "underscore", "bang", "dot", "lt", "gt"]


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("name", VALID_NAMES, ids=VALID_NAME_IDS)
async def test_valid_names(client: Client, field: str, name: str) -> None:
    response = await client.post(REGISTER, json=user_body(**{field: name}))
    assert response.status_code == 201, await response.get_data()
    assert (await profile_of(client, await login(client)))[field] == name


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("name", INVALID_NAMES, ids=INVALID_NAME_IDS)
async def test_invalid_names(client: Client, field: str, name: str) -> None:
    response = await client.post(REGISTER, json=user_body(**{field: name}))
    await assert_invalid(response, ["body", field])


@pytest.mark.parametrize(
    "phone",
    [
        "5551234567",
        "123456789012345",
        "+1 (555) 123-4567",
        "555.123.4567",
        "+44 20 7946 0958",
        "+1-555-123-4567-8901",
    ],
    ids=["10", "15", "us-format", "dots", "uk", "15-with-separators"],
)
async def test_valid_phones(client: Client, phone: str) -> None:
    response = await client.post(REGISTER, json=user_body(phone=phone))
    assert response.status_code == 201, await response.get_data()
    stored = (await profile_of(client, await login(client)))["phone"]
    assert re.sub(r"\D", "", stored) == re.sub(r"\D", "", phone)


@pytest.mark.parametrize(
    "phone",
    [
        "555123456",
        "1234567890123456",
        "+1 (555) 123-45",
        "",
        "555-CALL-NOW",
        "555123456x",
        "\uff15" * 10,
        "555/123/4567",
        "<5551234567>",
    ],
    ids=["9", "16", "9-with-separators", "empty", "letters", "x", "fullwidth", "slash", "markup"],
)
async def test_invalid_phones(client: Client, phone: str) -> None:
    response = await client.post(REGISTER, json=user_body(phone=phone))
    await assert_invalid(response, ["body", "phone"])


@pytest.mark.parametrize(
    "born",
    [YOUNGEST.isoformat(), OLDEST.isoformat(), "2000-02-29", "1990-01-01"],
    ids=["13-today", "120-oldest", "leap-day", "ordinary"],
)
async def test_valid_dates_of_birth(client: Client, born: str) -> None:
    response = await client.post(REGISTER, json=user_body(date_of_birth=born))
    assert response.status_code == 201, await response.get_data()
    assert (await profile_of(client, await login(client)))["date_of_birth"] == born


@pytest.mark.parametrize(
    "born",
    [
        (YOUNGEST + timedelta(days=1)).isoformat(),
        (OLDEST - timedelta(days=1)).isoformat(),
        TODAY.isoformat(),
        (TODAY + timedelta(days=1)).isoformat(),
        "2100-01-01",
        "1990-1-5",
        "01/05/1990",
        "1990/01/05",
        "19900105",
        "1990-02-30",
        "1990-13-01",
        "1990-01-05T00:00:00",
        "",
        "yesterday",
        "<1990-01-05>",
    ],
    ids=[
        "12-turning-13-tomorrow",
        "121",
        "today",
        "tomorrow",
        "far-future",
        "unpadded",
        "us-format",
        "slashes",
        "basic-iso",
        "feb-30",
        "month-13",
        "datetime",
        "empty",
        "word",
        "markup",
    ],
)
async def test_invalid_dates_of_birth(client: Client, born: str) -> None:
    response = await client.post(REGISTER, json=user_body(date_of_birth=born))
    await assert_invalid(response, ["body", "date_of_birth"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "alice<01"),
        ("email", "alice>@example.com"),
        ("password", "Secret-Passw0rd<"),
        ("first_name", "<script>"),
        ("last_name", "Smith>"),
        ("phone", "555<1234567"),
        ("date_of_birth", "1990-01-05>"),
    ],
)
async def test_markup_in_any_field_is_422(client: Client, field: str, value: str) -> None:
    response = await client.post(REGISTER, json=user_body(**{field: value}))
    await assert_invalid(response, ["body", field])


async def test_several_bad_fields_are_all_reported(client: Client) -> None:
    body = user_body("bad user", email="a@example.com", password="short", first_name="", phone="12")
    detail = await assert_invalid(
        await client.post(REGISTER, json=body),
        ["body", "username"],
        ["body", "password"],
        ["body", "first_name"],
        ["body", "phone"],
    )
    assert len(detail) == 4


@pytest.mark.parametrize("field", ["username", "email", "password", "first_name", "last_name"])
async def test_missing_required_field_is_422_with_its_loc(client: Client, field: str) -> None:
    body = user_body()
    del body[field]
    detail = await assert_invalid(await client.post(REGISTER, json=body), ["body", field])
    assert detail[0]["loc"] == ["body", field]


@pytest.mark.parametrize("field", ["role", "is_admin", "balance", "password_hash", "Username"])
async def test_unknown_field_is_422(client: Client, field: str) -> None:
    body = user_body(**{field: "admin"})
    await assert_invalid(await client.post(REGISTER, json=body), ["body", field])
    # Nothing was created.
    response = await client.post(LOGIN, json={"username": "alice_01", "password": PASSWORD})
    await assert_error(response, 404)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", 123456),
        ("username", None),
        ("email", ["alice@example.com"]),
        ("password", None),
        ("password", 123456789012),
        ("first_name", {"name": "Alice"}),
        ("last_name", True),
        ("phone", 5551234567),
        ("date_of_birth", 19900105),
        ("marketing_emails_consent", "yes"),
        ("marketing_emails_consent", 1),
        ("marketing_emails_consent", None),
    ],
)
async def test_wrong_types_are_422(client: Client, field: str, value: object) -> None:
    body = user_body()
    body[field] = value
    await assert_invalid(await client.post(REGISTER, json=body), ["body", field])


# Body handling (on register)


@pytest.mark.parametrize(
    "raw",
    [b'{"username": "alice_01",', b"{'username': 'alice_01'}", b"not json", b'{"a": 1}}'],
    ids=["truncated", "single-quotes", "text", "trailing"],
)
async def test_malformed_json_is_422(client: Client, raw: bytes) -> None:
    response = await client.post(REGISTER, data=raw, headers={"Content-Type": "application/json"})
    detail = await assert_invalid(response)
    if not raw.endswith(b"}}"):  # trailing junk may be noticed after the field checks
        assert [item["loc"] for item in detail] == [["body"]]


@pytest.mark.parametrize("raw", [b"[]", b'["alice_01"]', b'"alice_01"', b"42", b"null", b"true"])
async def test_non_object_json_is_422(client: Client, raw: bytes) -> None:
    response = await client.post(REGISTER, data=raw, headers={"Content-Type": "application/json"})
    await assert_invalid(response, ["body"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "application/json"}],
    ids=["no-content-type", "json-content-type"],
)
@pytest.mark.parametrize("raw", [b"", b"   \n"], ids=["empty", "whitespace"])
async def test_empty_body_is_422(client: Client, headers: dict[str, str], raw: bytes) -> None:
    response = await client.post(REGISTER, data=raw, headers=headers)
    await assert_invalid(response, ["body"])


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_wrong_content_type_is_415(client: Client, content_type: str) -> None:
    raw = msgspec.json.encode(user_body())
    response = await client.post(REGISTER, data=raw, headers={"Content-Type": content_type})
    await assert_error(response, 415)


@pytest.mark.parametrize("content_type", ["", " ", "; charset=utf-8"])
async def test_an_empty_content_type_is_415_not_json(client: Client, content_type: str) -> None:
    raw = msgspec.json.encode(user_body())
    response = await client.post(REGISTER, data=raw, headers={"Content-Type": content_type})
    await assert_error(response, 415, "unsupported_media_type")
    # Without the header at all, the body is read as JSON.
    assert (await client.post(REGISTER, data=raw)).status_code == 201


DEEP = b"[" * 10_000 + b"]" * 10_000
# Every route with a body, with a field whose value may be any JSON (or the body itself).
BODY_ROUTES = [
    ("POST", REGISTER, b'{"username": %s}'),
    ("POST", LOGIN, b'{"password": %s}'),
    ("PUT", PROFILE, b'{"first_name": %s}'),
    ("POST", LOGOUT, b'{"anything": %s}'),
    ("POST", LOGOUT, b"%s"),
    ("POST", "/api/v1/balance/deposit", b'{"amount": %s}'),
    ("POST", "/api/v1/balance/withdraw", b'{"amount": %s}'),
    ("POST", "/api/v1/orders", b'{"order_type": "limit_buy", "quantity": %s}'),
    ("POST", "/api/v1/orders", b'{"order_type": "limit_buy", "price": %s}'),
    ("POST", "/api/v1/cny/claim", b'{"phrase": %s}'),
]


@pytest.mark.parametrize(("method", "path", "template"), BODY_ROUTES)
async def test_deeply_nested_json_is_422_on_every_route(
    client: Client, method: str, path: str, template: bytes
) -> None:
    headers = {**await signed_up(client), "Content-Type": JSON}
    for raw in (template % DEEP, template % (b"[" * 10_000), template % (b'{"a":' * 10_000)):
        response = await call(client, method, path, data=raw, headers=headers)
        await assert_invalid(response)  # the body, or the field where msgspec stopped


async def test_oversized_body_is_413(client: Client) -> None:
    body = user_body(first_name="A" * (64 * 1024 + 1))
    response = await client.post(REGISTER, json=body)
    await assert_error(response, 413)
    # Just under the limit is read (and then fails validation normally).
    body = user_body(first_name="A" * (60 * 1024))
    await assert_invalid(await client.post(REGISTER, json=body), ["body", "first_name"])


# POST /auth/login


async def test_login_answers_a_bearer_token(client: Client) -> None:
    await register(client)
    response = await client.post(LOGIN, json={"username": "alice_01", "password": PASSWORD})
    assert response.status_code == 200
    body = await json_of(response)
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2


async def test_token_claims(client: Client) -> None:
    await register(client, "Alice_Claims")
    first_headers = await login(client, "ALICE_CLAIMS")
    assert jwt.get_unverified_header(first_headers["Authorization"][7:])["alg"] == "HS256"
    first = token_claims(first_headers)
    second = token_claims(await login(client, "alice_claims"))
    for decoded in (first, second):
        assert decoded["sub"] == "alice_claims"
        assert decoded["role"] == "customer"
        assert decoded["type"] == "access_token"
        assert isinstance(decoded["jti"], str) and decoded["jti"]
        assert decoded["exp"] - decoded["iat"] == 3600
        assert START_EPOCH - 1 <= decoded["iat"] <= START_EPOCH + 60
    assert first["jti"] != second["jti"]


async def test_login_username_is_case_insensitive(client: Client) -> None:
    await register(client, "alice_01")
    for spelling in ("ALICE_01", "Alice_01", "aLICE_01"):
        headers = await login(client, spelling)
        assert (await profile_of(client, headers))["username"] == "alice_01"


async def test_login_unknown_user_is_404(client: Client) -> None:
    await register(client, "alice_01")
    response = await client.post(LOGIN, json={"username": "nobody_here", "password": PASSWORD})
    await assert_error(response, 404)


async def test_login_wrong_password_is_401(client: Client) -> None:
    await register(client, "alice_01")
    for password in ("Wrong-Passw0rd", PASSWORD.lower().capitalize() + "x", PASSWORD + "1"):
        response = await client.post(LOGIN, json={"username": "alice_01", "password": password})
        await assert_error(response, 401)
    await login(client)


@pytest.mark.parametrize(
    ("username", "password", "bad"),
    [
        ("abc", PASSWORD, "username"),
        ("a" * 31, PASSWORD, "username"),
        ("bad name!", PASSWORD, "username"),
        ("nobody_here", "short", "password"),
        ("nobody_here", "alllowercase-1", "password"),
        ("nobody_here", "NoDigitsHere-!", "password"),
        ("nobody_here", "NoSpecial12345", "password"),
        ("nobody_here", "A" * 30 + "a1!", "password"),
    ],
)
async def test_login_format_rules_come_first(
    client: Client, username: str, password: str, bad: str
) -> None:
    response = await client.post(LOGIN, json={"username": username, "password": password})
    await assert_invalid(response, ["body", bad])


async def test_login_malformed_password_of_a_real_user_is_422(client: Client) -> None:
    await register(client, "alice_01")
    response = await client.post(LOGIN, json={"username": "alice_01", "password": "short"})
    await assert_invalid(response, ["body", "password"])


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice_01"},
        {"password": PASSWORD},
        {},
        {"username": "alice_01", "password": PASSWORD, "remember": True},
        {"username": 123456, "password": PASSWORD},
        {"username": "alice_01", "password": None},
        [],
    ],
    ids=["no-password", "no-username", "empty", "extra", "int-username", "null-password", "list"],
)
async def test_login_body_rules(client: Client, body: object) -> None:
    await register(client, "alice_01")
    await assert_invalid(await client.post(LOGIN, json=body))


# GET/PUT /auth/profile


async def test_profile_has_exactly_the_contract_fields(client: Client) -> None:
    headers = await signed_up(client)
    profile = await profile_of(client, headers)
    assert set(profile) == PROFILE_KEYS
    assert profile == {
        "username": "alice_01",
        "email": "alice_01@example.com",
        "first_name": "Alice",
        "last_name": "Smith",
        "phone": None,
        "date_of_birth": None,
        "marketing_emails_consent": False,
        "role": "customer",
        "created_at": profile["created_at"],
        "updated_at": profile["updated_at"],
    }
    assert ISO_Z.fullmatch(profile["created_at"])
    assert profile["created_at"].startswith("2026-03-14T12:00:")
    assert profile["updated_at"] == profile["created_at"]


async def test_profile_names_are_trimmed_on_register(client: Client) -> None:
    body = user_body(first_name="  Alice ", last_name=" Smith  ")
    assert (await client.post(REGISTER, json=body)).status_code == 201
    profile = await profile_of(client, await login(client))
    assert (profile["first_name"], profile["last_name"]) == ("Alice", "Smith")


async def test_profile_update_is_partial(client: Client) -> None:
    headers = await signed_up(client)
    before = await profile_of(client, headers)
    response = await client.put(PROFILE, json={"first_name": "Alicia"}, headers=headers)
    assert response.status_code == 200
    body = await json_of(response)
    assert set(body) == {"success", "message", "user"}
    assert (body["success"], body["message"]) == (True, "Profile updated successfully")
    assert set(body["user"]) == PROFILE_KEYS
    assert body["user"]["first_name"] == "Alicia"
    for key in PROFILE_KEYS - {"first_name", "updated_at"}:
        assert body["user"][key] == before[key], key
    assert await profile_of(client, headers) == body["user"]


async def test_profile_update_of_every_editable_field(client: Client) -> None:
    headers = await signed_up(client)
    changes = {
        "first_name": "Mary-Jane",
        "last_name": "O'Brien",
        "email": "Mary.Jane@Example.ORG",
        "phone": "+44 20 7946 0958",
        "date_of_birth": YOUNGEST.isoformat(),
        "marketing_emails_consent": True,
    }
    response = await client.put(PROFILE, json=changes, headers=headers)
    assert response.status_code == 200, await response.get_data()
    user = (await json_of(response))["user"]
    assert user["first_name"] == "Mary-Jane"
    assert user["last_name"] == "O'Brien"
    assert user["email"] == "mary.jane@example.org"
    assert re.sub(r"\D", "", user["phone"]) == "442079460958"
    assert user["date_of_birth"] == YOUNGEST.isoformat()
    assert user["marketing_emails_consent"] is True
    assert (user["username"], user["role"]) == ("alice_01", "customer")
    assert await profile_of(client, headers) == user
    # Optional fields can be cleared again.
    response = await client.put(
        PROFILE, json={"phone": None, "date_of_birth": None}, headers=headers
    )
    assert response.status_code == 200
    user = (await json_of(response))["user"]
    assert (user["phone"], user["date_of_birth"]) == (None, None)


async def test_empty_profile_update_changes_nothing(client: Client) -> None:
    headers = await signed_up(client)
    before = await profile_of(client, headers)
    response = await client.put(PROFILE, json={}, headers=headers)
    assert response.status_code == 200
    user = (await json_of(response))["user"]
    for key in PROFILE_KEYS - {"updated_at"}:
        assert user[key] == before[key]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", ""),
        ("first_name", "   "),
        ("first_name", "A" * 51),
        ("first_name", "J0hn"),
        ("first_name", None),
        ("last_name", ""),
        ("last_name", " "),
        ("last_name", "Sm<ith"),
        ("last_name", 42),
        ("email", "not-an-email"),
        ("email", "alice@example"),
        ("email", ""),
        ("email", None),
        ("phone", "555123456"),
        ("phone", "1234567890123456"),
        ("phone", "call me"),
        ("phone", 5551234567),
        ("date_of_birth", (TODAY + timedelta(days=1)).isoformat()),
        ("date_of_birth", (YOUNGEST + timedelta(days=1)).isoformat()),
        ("date_of_birth", (OLDEST - timedelta(days=1)).isoformat()),
        ("date_of_birth", "05/01/1990"),
        ("marketing_emails_consent", "true"),
        ("marketing_emails_consent", None),
        ("username", "new_name_1"),
        ("role", "admin"),
        ("password", "New-Passw0rd!!"),
    ],
)
async def test_profile_update_rules(client: Client, field: str, value: object) -> None:
    headers = await signed_up(client)
    before = await profile_of(client, headers)
    response = await client.put(PROFILE, json={field: value}, headers=headers)
    await assert_invalid(response, ["body", field])
    assert await profile_of(client, headers) == before


async def test_profile_update_rejects_the_whole_body_on_one_bad_field(client: Client) -> None:
    headers = await signed_up(client)
    before = await profile_of(client, headers)
    body = {"first_name": "Alicia", "last_name": "", "email": "new@example.com"}
    response = await client.put(PROFILE, json=body, headers=headers)
    await assert_invalid(response, ["body", "last_name"])
    assert await profile_of(client, headers) == before


async def test_profile_update_email_uniqueness(client: Client) -> None:
    await register(client, "bob_00001")
    headers = await signed_up(client, "alice_01")
    for email in ("bob_00001@example.com", "BOB_00001@EXAMPLE.COM"):
        response = await client.put(PROFILE, json={"email": email}, headers=headers)
        await assert_error(response, 409, "email_taken")
    assert (await profile_of(client, headers))["email"] == "alice_01@example.com"
    # Keeping one's own address (in any case) is no conflict.
    response = await client.put(PROFILE, json={"email": "ALICE_01@example.com"}, headers=headers)
    assert response.status_code == 200
    assert (await json_of(response))["user"]["email"] == "alice_01@example.com"
    # A released address can be taken by someone else.
    response = await client.put(PROFILE, json={"email": "alice@new.example"}, headers=headers)
    assert response.status_code == 200
    body = user_body("carol_001", email="Alice_01@Example.com")
    assert (await client.post(REGISTER, json=body)).status_code == 201


async def test_profile_update_moves_updated_at(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    headers = await signed_up(client)
    before = await profile_of(client, headers)
    await trio.sleep(1)
    response = await client.put(PROFILE, json={"last_name": "Jones"}, headers=headers)
    assert response.status_code == 200
    user = (await json_of(response))["user"]
    assert user["created_at"] == before["created_at"]
    assert user["updated_at"] > before["updated_at"]
    assert ISO_Z.fullmatch(user["updated_at"])
    assert user["updated_at"].startswith("2026-03-14T12:00:01")
    assert await profile_of(client, headers) == user


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"", "application/json", 422),
        (b"[]", "application/json", 422),
        (b'{"first_name":', "application/json", 422),
        (b'{"first_name": "Alicia"}', "text/plain", 415),
    ],
    ids=["empty", "array", "malformed", "text-plain"],
)
async def test_profile_update_body_handling(
    client: Client, raw: bytes, content_type: str, status: int
) -> None:
    headers = await signed_up(client)
    response = await client.put(
        PROFILE, data=raw, headers={**headers, "Content-Type": content_type}
    )
    await assert_error(response, status)


# POST /auth/logout


async def test_logout_refuses_a_body_that_is_not_an_object(client: Client) -> None:
    headers = await signed_up(client)
    for raw in (b"[]", b"null", b"{", b"[" * 10_000, b'{"a":' * 10_000):
        await assert_invalid(
            await client.post(LOGOUT, data=raw, headers={**headers, "Content-Type": JSON}),
            ["body"],
        )
    # Still logged in after the refused logouts.
    assert (await client.get(PROFILE, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain"],
    ids=["no-content-type", "json", "text"],
)
@pytest.mark.parametrize("raw", [b"", b" \r\n"], ids=["no-body", "whitespace"])
async def test_logout_without_a_body_works(
    client: Client, raw: bytes, content_type: str | None
) -> None:
    headers = await signed_up(client)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.post(LOGOUT, data=raw, headers=headers)
    assert response.status_code == 200, await response.get_data()
    assert await json_of(response) == {"message": "Logged out successfully"}
    assert (await client.get(PROFILE, headers=headers)).status_code == 401


async def test_logout_accepts_any_object(client: Client) -> None:
    headers = await signed_up(client)
    response = await client.post(LOGOUT, json={"everywhere": True}, headers=headers)
    assert response.status_code == 200
    assert await json_of(response) == {"message": "Logged out successfully"}


async def test_logout_revokes_the_token_everywhere(client: Client) -> None:
    headers = await signed_up(client)
    other = await login(client)
    response = await client.post(LOGOUT, json={}, headers=headers)
    assert response.status_code == 200
    assert await json_of(response) == {"message": "Logged out successfully"}
    for method, path, body in [
        ("GET", PROFILE, None),
        ("PUT", PROFILE, {"first_name": "Eve"}),
        ("POST", LOGOUT, {}),
        ("GET", BALANCE, None),
        ("POST", "/api/v1/balance/deposit", {"amount": "10.00"}),
        ("POST", "/api/v1/balance/withdraw", {"amount": "1.00"}),
        ("GET", TRANSACTIONS, None),
    ]:
        if body is None:
            response = await call(client, method, path, headers=headers)
        else:
            response = await call(client, method, path, json=body, headers=headers)
        await assert_unauthorized(response)
    # Another token of the same user and a fresh login still work.
    assert (await client.get(PROFILE, headers=other)).status_code == 200
    fresh = await login(client)
    assert (await profile_of(client, fresh))["first_name"] == "Alice"
    assert (await client.get(TRANSACTIONS, headers=fresh)).status_code == 200


async def test_revocation_survives_a_restart(tmp_path: Path) -> None:
    async def run(check: Any) -> None:
        async with open_exchange(engine_settings(tmp_path)) as exchange:
            app = create_app(exchange, web_settings())
            app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
            async with app.test_app() as test_app:
                await check(test_app.test_client())

    revoked: dict[str, str] = {}
    kept: dict[str, str] = {}

    async def before(c: Client) -> None:
        revoked.update(await signed_up(c))
        kept.update(await login(c))
        assert (await c.post(LOGOUT, json={}, headers=revoked)).status_code == 200
        await assert_unauthorized(await c.get(PROFILE, headers=revoked))

    async def after(c: Client) -> None:
        await assert_unauthorized(await c.get(PROFILE, headers=revoked))
        await assert_unauthorized(await c.get(BALANCE, headers=revoked))
        assert (await c.get(PROFILE, headers=kept)).status_code == 200
        assert (await profile_of(c, await login(c)))["username"] == "alice_01"

    await run(before)
    await run(after)


# Token expiry (virtual time)


async def test_token_expires_after_its_lifetime(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    headers = await signed_up(client)
    assert token_claims(headers)["iat"] == int(START_EPOCH)
    await trio.sleep(3599)
    assert (await client.get(PROFILE, headers=headers)).status_code == 200
    assert (await client.get(BALANCE, headers=headers)).status_code == 200
    await trio.sleep(1)
    await assert_unauthorized(await client.get(PROFILE, headers=headers))
    await assert_unauthorized(await client.get(BALANCE, headers=headers))
    # Logging in again gives a token that lives from now.
    fresh = await login(client)
    assert token_claims(fresh)["iat"] == int(START_EPOCH) + 3600
    assert (await client.get(PROFILE, headers=fresh)).status_code == 200


async def test_logout_of_an_expired_token_is_401(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    headers = await signed_up(client)
    await trio.sleep(3601)
    await assert_unauthorized(await client.post(LOGOUT, json={}, headers=headers))


# Auth before validation, on every protected route

BAD_AUTH = [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": ""}, id="empty-header"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-alone"),
    pytest.param({"Authorization": "Bearer "}, id="bearer-empty"),
    pytest.param({"Authorization": "Basic abc"}, id="basic-scheme"),
    pytest.param({"Authorization": "Token " + jwt.encode(claims(), SECRET)}, id="token-scheme"),
    pytest.param({"Authorization": jwt.encode(claims(), SECRET)}, id="no-scheme"),
    pytest.param(bearer("garbage"), id="garbage"),
    pytest.param(bearer("a.b.c"), id="three-garbage-parts"),
    pytest.param(bearer(jwt.encode(claims(), "another-secret-" + "y" * 32)), id="other-secret"),
    pytest.param(bearer(hs512_token()), id="other-algorithm"),
    pytest.param(bearer(jwt.encode(claims(), "", algorithm="none")), id="alg-none"),
    pytest.param(
        bearer(
            jwt.encode(claims(iat=int(START_EPOCH) - 7200, exp=int(START_EPOCH) - 3600), SECRET)
        ),
        id="expired",
    ),
    pytest.param(bearer(jwt.encode(claims(type="refresh_token"), SECRET)), id="refresh-type"),
    pytest.param(bearer(jwt.encode(claims(type=None), SECRET)), id="no-type"),
    pytest.param(bearer(jwt.encode(claims(jti=None), SECRET)), id="no-jti"),
    pytest.param(bearer(jwt.encode(claims(exp=None), SECRET)), id="no-exp"),
]

# Each protected route with a request that is invalid apart from its token, and the status the
# same request gets with a valid token (proving the body or query really is bad).
OVERSIZED = b'{"amount": "' + b"1" * (64 * 1024) + b'"}'
JSON = "application/json"
PROTECTED: list[tuple[str, str, str, bytes | None, str | None, int]] = [
    ("get-profile", "GET", PROFILE + "?x=%3Cscript%3E", None, None, 200),
    ("put-profile-malformed", "PUT", PROFILE, b'{"first_name": "", "role": 1', JSON, 422),
    ("put-profile-blank", "PUT", PROFILE, b'{"first_name": ""}', JSON, 422),
    ("put-profile-text", "PUT", PROFILE, b"first_name=x", "text/plain", 415),
    ("logout-empty-content-type", "POST", LOGOUT, b"{}", "", 415),
    ("logout-array", "POST", LOGOUT, b"[1]", JSON, 422),
    ("balance", "GET", BALANCE + "?bogus=1", None, None, 200),
    ("deposit-negative", "POST", BALANCE + "/deposit", b'{"amount": "-5"}', JSON, 422),
    ("deposit-no-body", "POST", BALANCE + "/deposit", None, None, 422),
    ("deposit-oversized", "POST", BALANCE + "/deposit", OVERSIZED, JSON, 413),
    ("withdraw-bad", "POST", BALANCE + "/withdraw", b'{"amount": "abc", "x": 1}', JSON, 422),
    ("withdraw-malformed", "POST", BALANCE + "/withdraw", b"{", JSON, 422),
    ("transactions-bad-query", "GET",
     TRANSACTIONS + "?limit=0&offset=-1&transaction_type=bogus", None, None, 422),
]  # fmt: skip


async def send(
    client: Client,
    method: str,
    path: str,
    raw: bytes | None,
    content_type: str | None,
    headers: dict[str, str],
) -> Response:
    all_headers = dict(headers)
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return await call(client, method, path, data=raw or b"", headers=all_headers)


@pytest.mark.parametrize("auth", BAD_AUTH)
async def test_auth_is_decided_before_validation(client: Client, auth: dict[str, str]) -> None:
    await register(client, "alice_01")
    for name, method, path, raw, content_type, _ in PROTECTED:
        response = await send(client, method, path, raw, content_type, auth)
        assert response.status_code == 401, (name, await response.get_data())
        await assert_unauthorized(response)


@pytest.mark.parametrize(
    ("method", "path", "raw", "content_type", "valid_status"),
    [pytest.param(*row[1:], id=row[0]) for row in PROTECTED],
)
async def test_the_same_requests_with_a_valid_token(
    client: Client,
    method: str,
    path: str,
    raw: bytes | None,
    content_type: str | None,
    valid_status: int,
) -> None:
    await register(client, "alice_01")
    crafted = bearer(jwt.encode(claims(), SECRET))  # the control for the BAD_AUTH tokens
    response = await send(client, method, path, raw, content_type, crafted)
    assert response.status_code == valid_status, await response.get_data()
    if valid_status >= 400:
        await assert_error(response, valid_status)


# Headlines are public like the prices stream that carries them.
PUBLIC_PREFIXES = (
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/inventory/assets",
    "/api/v1/news",
    "/api/v1/inventory/sparklines",
    "/api/v1/trading/rules",
)
# Signing in to a browser session is public; reading or ending one is not.
PUBLIC_ROUTES = {("POST", "/api/v1/auth/session")}


async def test_every_protected_api_route_refuses_a_missing_or_bad_token(
    exchange: Exchange,
) -> None:
    """Sweeps the app's URL map, so routes added later are held to the same rule."""
    app = create_app(exchange, web_settings())
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
    routes: list[tuple[str, str]] = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.startswith(PUBLIC_PREFIXES):
            continue
        if getattr(rule, "websocket", False):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "X1234567890", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) not in PUBLIC_ROUTES:
                routes.append((method, path))
    expected = {
        ("GET", PROFILE),
        ("PUT", PROFILE),
        ("POST", LOGOUT),
        ("GET", BALANCE),
        ("POST", BALANCE + "/deposit"),
        ("POST", BALANCE + "/withdraw"),
        ("GET", TRANSACTIONS),
    }
    assert expected <= set(routes)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for method, path in routes:
            for headers in ({}, bearer("garbage"), {"Authorization": "Bearer"}):
                response = await call(client, method, path, data=b"{", headers=headers)
                assert response.status_code == 401, (method, path, headers)
                await assert_unauthorized(response)


@pytest.mark.parametrize(
    "auth",
    [
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": ""},
        bearer(jwt.encode(claims(exp=int(START_EPOCH) - 1), SECRET)),
    ],
    ids=["garbage", "bearer-alone", "basic", "empty", "expired"],
)
async def test_bad_auth_on_public_routes_is_ignored(client: Client, auth: dict[str, str]) -> None:
    response = await client.post(REGISTER, json=user_body(), headers=auth)
    assert response.status_code == 201, await response.get_data()
    response = await client.post(
        LOGIN, json={"username": "alice_01", "password": PASSWORD}, headers=auth
    )
    assert response.status_code == 200
    response = await client.get("/health", headers=auth)
    assert response.status_code == 200
    # Validation on a public route is not replaced by an auth error either.
    response = await client.post(LOGIN, json={"username": "x"}, headers=auth)
    await assert_invalid(response)


async def test_a_valid_token_of_a_user_works_across_routes(client: Client) -> None:
    headers = await signed_up(client)
    crafted = bearer(jwt.encode(claims(), SECRET))
    for h in (headers, crafted):
        assert (await client.get(PROFILE, headers=h)).status_code == 200
        assert (await client.get(BALANCE, headers=h)).status_code == 200


# X-Request-ID


@pytest.mark.parametrize(
    "given", ["abc-123", "req.1:part_2", "a" * 128, uuid.uuid4().hex, str(uuid.uuid4())]
)
async def test_well_formed_request_id_is_echoed(client: Client, given: str) -> None:
    headers = {"X-Request-ID": given}
    response = await client.get("/health", headers=headers)
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == given
    # On success of an API route.
    response = await client.post(REGISTER, json=user_body(), headers=headers)
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == given
    # On errors: validation, conflict, auth, not found; the body carries the same id.
    for response in (
        await client.post(REGISTER, json={}, headers=headers),
        await client.post(REGISTER, json=user_body(), headers=headers),
        await client.get(PROFILE, headers=headers),
        await client.get("/api/v1/no/such/route", headers=headers),
    ):
        assert response.status_code >= 400
        assert response.headers["X-Request-ID"] == given
        assert (await json_of(response))["request_id"] == given


@pytest.mark.parametrize(
    "given",
    ["has space", "a" * 129, "x" * 200, "bad/slash", "semi;colon", "ünicode", "a\tb"],
    ids=["space", "129", "200", "slash", "semicolon", "unicode", "tab"],
)
async def test_malformed_request_id_is_replaced(client: Client, given: str) -> None:
    headers = {"X-Request-ID": given}
    response = await client.get("/health", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert generated != given
    assert REQUEST_ID.fullmatch(generated)
    response = await client.get(PROFILE, headers=headers)
    error = await assert_error(response, 401)
    assert response.headers["X-Request-ID"] != given
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["X-Request-ID"] != generated  # one per request


async def test_request_ids_are_generated_per_request(client: Client) -> None:
    ids = set()
    for _ in range(5):
        response = await client.post(REGISTER, json={})
        body = await assert_error(response, 422)
        assert REQUEST_ID.fullmatch(body["request_id"])
        ids.add(body["request_id"])
    assert len(ids) == 5
