"""Service routes: health, the OpenAPI document and the offline docs page."""

from __future__ import annotations

import json
import re

from tests.conftest import Client


async def test_health(client: Client) -> None:
    response = await client.get("/health", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "healthy"
    assert body["service"] == "exchange"
    assert body["checks"]["database"] == "ok"
    assert response.headers["X-Request-ID"]


async def test_openapi_emits_every_referenced_component(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    text = json.dumps(spec)
    referenced = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert referenced, "nested wire types are referenced"
    assert referenced <= set(spec["components"]["schemas"])
    for path in ("/api/v1/auth/register", "/api/v1/balance/deposit", "/health"):
        assert path in spec["paths"]


async def test_docs_page_is_self_contained(client: Client) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert '<meta name="root" content="">' in page, "the viewer loads the spec under the prefix"
    assert not re.search(r'src="https?://', page), "no script from a CDN"


async def test_unknown_routes_and_methods_use_the_error_shape(client: Client) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    assert (await response.get_json())["code"] == "not_found"
    response = await client.delete("/health")
    assert response.status_code == 405
    assert (await response.get_json())["code"] == "method_not_allowed"
