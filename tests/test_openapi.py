"""The OpenAPI document says what the server does: security, refusals, parameters and types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import PASSWORD, Client, signed_up
from tests.test_gateway import ADMIN_PASSWORD, ADMIN_USERNAME, with_admin

ERROR_REF = "#/components/schemas/ErrorResponse"
PUBLIC = {
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/docs"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("get", "/api/v1/inventory/assets"),
    ("get", "/api/v1/inventory/assets/{asset_id}"),
    ("get", "/api/v1/inventory/assets/{asset_id}/candles"),
    ("get", "/api/v1/inventory/assets/{asset_id}/image.svg"),
    ("get", "/api/v1/news"),
    ("post", "/api/v1/auth/session"),
    ("get", "/api/v1/inventory/sparklines"),
    ("get", "/api/v1/trading/rules"),
}


async def spec_of(client: Client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = await response.get_json()
    return spec


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


async def test_security_is_declared_per_operation_and_only_where_required(client: Client) -> None:
    spec = await spec_of(client)
    assert "security" not in spec, "no blanket requirement: /metrics and the catalogue are public"
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    seen = set()
    for method, path, operation in operations(spec):
        seen.add((method, path))
        if (method, path) in PUBLIC:
            assert operation["security"] == [], (method, path)
            # Only a wrong password is a 401 here (login), with no bearer challenge.
            assert "headers" not in operation["responses"].get("401", {}), (method, path)
        else:
            assert operation["security"] == [{"bearer": []}], (method, path)
            challenge = operation["responses"]["401"]["headers"]["WWW-Authenticate"]
            assert challenge["required"] is True
    assert seen >= PUBLIC


async def test_every_operation_documents_its_refusals_with_the_error_schema(
    client: Client,
) -> None:
    spec = await spec_of(client)
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        assert "504" in responses, (method, path)
        if path.startswith("/api/v1"):
            assert responses["429"]["headers"]["Retry-After"]["required"] is True
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= responses.keys(), (method, path)
        if "{" in path or operation["parameters"]:
            assert "422" in responses, (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")) and not (path == "/health" and status == "503"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, status)
    audit = spec["paths"]["/api/v1/admin/audit"]["get"]["responses"]
    assert "`forbidden`" in audit["403"]["description"]
    place = spec["paths"]["/api/v1/orders"]["post"]["responses"]
    assert "`duplicate_client_order_id`" in place["409"]["description"]
    assert "`order_rate_limited`" in place["429"]["description"]
    assert "`insufficient_funds`" in place["422"]["description"]
    assert place["503"]["headers"]["Retry-After"]["required"] is True
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "`ip_blocked`" in login["403"]["description"]
    assert "Retry-After" in login["403"]["headers"]
    health = spec["paths"]["/health"]["get"]["responses"]
    assert health["503"]["content"]["application/json"]["schema"]["title"] == "HealthResponse"
    metrics = spec["paths"]["/metrics"]["get"]["responses"]
    assert "text/plain" in next(iter(metrics["200"]["content"]))
    assert (
        "image/svg+xml"
        in (
            spec["paths"]["/api/v1/inventory/assets/{asset_id}/image.svg"]["get"]["responses"][
                "200"
            ]["content"]
        )
    )


async def test_decimal_request_fields_accept_numbers_and_strings(client: Client) -> None:
    schemas = (await spec_of(client))["components"]["schemas"]
    amount = schemas["AmountRequest"]["properties"]["amount"]
    assert [branch["type"] for branch in amount["anyOf"]] == ["number", "string"]
    assert amount["anyOf"][0]["exclusiveMinimum"] == 0
    order = schemas["OrderRequestBody"]["properties"]
    assert order["quantity"]["anyOf"][0]["minimum"] == 0.001
    price_types = [branch.get("type") for branch in order["price"]["anyOf"]]
    assert price_types == ["number", "string", "null"]
    assert order["price"]["anyOf"][1]["maxLength"] == 40
    assert order["order_type"]["enum"][0] == "market_buy"
    assert set(order["time_in_force"]["enum"]) == {"gtc", "ioc", "day"}


async def test_response_strings_with_fixed_values_are_enums(client: Client) -> None:
    schemas = (await spec_of(client))["components"]["schemas"]
    order = schemas["OrderView"]["properties"]
    assert "cancelled" in order["status"]["enum"]
    assert "stop_limit_sell" in order["order_type"]["enum"]
    assert schemas["TokenResponse"]["properties"]["token_type"]["enum"] == ["bearer"]
    assert "red_pocket" in schemas["TransactionResponse"]["properties"]["transaction_type"]["enum"]
    assert "login_failure" in schemas["AuditEntryResponse"]["properties"]["event"]["enum"]


async def test_order_views_document_the_impact_of_a_fill(client: Client) -> None:
    order = (await spec_of(client))["components"]["schemas"]["OrderView"]["properties"]
    for name in ("model_price", "impact_pct", "fill_explanation"):
        assert [branch["type"] for branch in order[name]["anyOf"]] == ["string", "null"]
        assert order[name]["description"]
    assert "model price 100.00 + 1.20% impact" in order["fill_explanation"]["description"]


async def test_logout_documents_an_optional_body(client: Client) -> None:
    logout = (await spec_of(client))["paths"]["/api/v1/auth/logout"]["post"]
    assert logout["requestBody"]["required"] is False


def fill(path: str, class_id: str) -> str:
    return path.replace("{asset_id}", "BTC").replace("{class_id}", class_id)


async def test_every_documented_query_bound_is_the_one_enforced(tmp_path: Path) -> None:
    """Each integer parameter's documented maximum is accepted and one more is a 422."""
    async with with_admin(tmp_path) as (_, _, client):
        response = await client.post(
            "/api/v1/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
        )
        admin = {"Authorization": f"Bearer {(await response.get_json())['access_token']}"}
        created = await client.post("/api/v1/classes", json={"name": "Bounds"}, headers=admin)
        assert created.status_code == 201, await created.get_data()
        class_id = (await created.get_json())["data"]["class_id"]
        spec = await spec_of(client)
        checked = 0
        for method, path, operation in operations(spec):
            if method != "get":
                continue
            for parameter in operation["parameters"]:
                schema = parameter["schema"]
                if parameter["in"] != "query":
                    continue
                url = fill(path, class_id)
                name = parameter["name"]
                if schema.get("type") == "integer":
                    for value, status in ((schema["maximum"], 200), (schema["maximum"] + 1, 422)):
                        got = await client.get(url, query_string={name: value}, headers=admin)
                        assert got.status_code == status, (path, name, value)
                    got = await client.get(url, query_string={name: schema["minimum"] - 1})
                    assert got.status_code in (401, 422), (path, name)
                    checked += 1
                elif "enum" in schema:
                    for value in schema["enum"]:
                        got = await client.get(url, query_string={name: value}, headers=admin)
                        assert got.status_code == 200, (path, name, value)
                    got = await client.get(url, query_string={name: "nope"}, headers=admin)
                    assert got.status_code == 422, (path, name)
                    checked += 1
        assert checked >= 15


async def test_a_405_names_the_allowed_methods(client: Client) -> None:
    response = await client.delete("/api/v1/balance", headers=await signed_up(client))
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD", "OPTIONS"}
    response = await client.put("/api/v1/auth/login", json={"password": PASSWORD})
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
