"""The OpenAPI document: quart-schema's paths, completed from what each route declares.

A route declares its contract next to its handler: quart-schema's ``document_request`` and
``document_response`` give the body and the success response; ``documented(...)`` adds the
query parameters (the same objects the handler reads), path parameter patterns, the refusals
particular to the route and any non-JSON success response. Everything common is derived here,
so it cannot be forgotten: bearer security and 401 from ``authenticated``, 403 from
``admin_only``, 413/415/422 from a request body, 422 from parameters, 429 on every ``/api/v1``
route, 503 on routes that wait on an actor or the store, and 504 on every route (the request
deadline). Every error response has the ``ErrorResponse`` schema.

quart-schema's msgspec conversion also references nested Structs without emitting them; they
are put right here. Money fields document themselves as a number or a decimal string
(``web.wire.decimal_text``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from quart_schema import OpenAPIProvider
from werkzeug.routing.rules import Rule

from web import classwire, marketwire, wire
from web.auth import ADMIN, AUTH_ATTRIBUTE
from web.prefix import root_path
from web.query import QueryParam, anchored

REF_TEMPLATE = "#/components/schemas/{name}"
ERROR_REF = {"$ref": REF_TEMPLATE.format(name="ErrorResponse")}
DOC_ATTRIBUTE = "_exchange_doc"
API_PREFIX = "/api/v1"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

F = TypeVar("F", bound=Callable[..., Any])

# The codes each generic refusal can carry (web/errors.py, web/body.py, web/gateway.py).
STANDARD_CODES: dict[int, tuple[str, ...]] = {
    401: ("unauthorized",),
    403: ("forbidden",),
    413: ("payload_too_large",),
    415: ("unsupported_media_type",),
    422: ("validation_error",),
    429: ("rate_limited",),
    503: ("overloaded", "storage_unavailable"),
    504: ("timeout",),
}
STATUS_TEXT = {
    401: "Not authenticated",
    403: "Refused",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Request body is not application/json",
    422: "Invalid input, or a rule of the exchange refuses it",
    429: "Too many requests; retry after Retry-After",
    503: "The exchange cannot take the request now; retry after Retry-After",
    504: "The request took longer than the request deadline",
}
RETRY_AFTER = {
    "description": "Whole seconds to wait before retrying",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The bearer challenge",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}


@dataclass(frozen=True)
class Doc:
    """What one route declares beyond its body and success response."""

    query: tuple[QueryParam, ...] = ()
    path: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    errors: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    busy: bool = False
    body_required: bool = True
    content: tuple[int, str] | None = None
    headers: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


def documented(
    *,
    query: tuple[QueryParam, ...] = (),
    path: Mapping[str, re.Pattern[str]] | None = None,
    errors: Mapping[int, tuple[str, ...]] | None = None,
    busy: bool = False,
    body_required: bool = True,
    content: tuple[int, str] | None = None,
    headers: Mapping[int, Mapping[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Declare a route's contract for the spec.

    ``query``: the parameter objects the handler reads; ``path``: the pattern each path
    parameter must match; ``errors``: the refusals particular to this route, status to codes;
    ``busy``: the route waits on an actor or the store (503 when it is overloaded);
    ``body_required``: False when the body may be left out; ``content``: the status and media
    type of a success response that is not JSON; ``headers``: response headers by status.
    """
    doc = Doc(
        query=query,
        path=path or {},
        errors=errors or {},
        busy=busy,
        body_required=body_required,
        content=content,
        headers=headers or {},
    )

    def decorate(handler: F) -> F:
        setattr(handler, DOC_ATTRIBUTE, doc)
        return handler

    return decorate


def wire_types() -> list[type[msgspec.Struct]]:
    """Every Struct defined in (or used by) the wire modules (``web.wire``, market, class)."""
    return [
        value
        for module in (wire, marketwire, classwire)
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, msgspec.Struct)
    ]


def _error_response(status: int, codes: list[str], headers: Mapping[str, Any]) -> dict[str, Any]:
    listed = ", ".join(f"`{code}`" for code in codes)
    response: dict[str, Any] = {
        "description": f"{STATUS_TEXT.get(status, 'Refused')} ({listed})",
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if headers:
        response["headers"] = dict(headers)
    return response


def _refusals(
    rule: Rule, doc: Doc, auth: str | None, has_body: bool, method: str
) -> dict[int, list[str]]:
    """Every error status of one operation, with the codes it can carry."""
    statuses: list[int] = [504]
    if rule.rule.startswith(API_PREFIX):
        statuses.append(429)
    if auth is not None:
        statuses.append(401)
    if auth == ADMIN:
        statuses.append(403)
    refusals: dict[int, list[str]] = {}
    if auth is not None and method.upper() not in SAFE_METHODS:
        # A browser session's change without its CSRF token (web/sessions.py).
        refusals[403] = ["csrf_failed"]
    if has_body:
        statuses += [413, 415, 422]
    if doc.query or rule.arguments:
        statuses.append(422)
    if doc.busy:
        statuses.append(503)
    for status in statuses:
        refusals.setdefault(status, []).extend(STANDARD_CODES[status])
    for status, codes in doc.errors.items():
        listed = refusals.setdefault(status, [])
        listed.extend(code for code in codes if code not in listed)
    return refusals


def complete_operation(
    operation: dict[str, Any], rule: Rule, func: Callable[..., Any], method: str
) -> None:
    """Add what quart-schema leaves out of one operation: parameters, security, refusals."""
    doc: Doc = getattr(func, DOC_ATTRIBUTE, Doc())
    auth: str | None = getattr(func, AUTH_ATTRIBUTE, None)
    operation["security"] = [{"bearer": []}] if auth is not None else []
    for parameter in operation["parameters"]:
        pattern = doc.path.get(parameter["name"])
        if pattern is not None:
            parameter["schema"] = {"type": "string", "pattern": anchored(pattern)}
    operation["parameters"] = [*operation["parameters"], *(q.parameter() for q in doc.query)]
    body = operation.get("requestBody")
    if body is not None:
        body["required"] = doc.body_required
    responses: dict[int, Any] = dict(operation["responses"])
    operation["responses"] = responses
    if doc.content is not None:
        status, media_type = doc.content
        responses[status] = {
            "description": "",
            "content": {media_type: {"schema": {"type": "string"}}},
        }
    for status, codes in sorted(_refusals(rule, doc, auth, body is not None, method).items()):
        if status not in responses:  # a route may document a status with its own schema
            # The bearer challenge comes with the token check only (a wrong password has none).
            challenge = status != 401 or auth is not None
            headers = HEADERS.get(status, {}) if challenge else {}
            responses[status] = _error_response(status, codes, headers)
    for status, extra in doc.headers.items():
        responses[status].setdefault("headers", {}).update(extra)


class WireOpenAPIProvider(OpenAPIProvider):
    """quart-schema's provider, completed with what each route declares."""

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """quart-schema's path objects of one rule, each operation completed."""
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        for operations in paths.values():
            for method, operation in operations.items():
                # quart-schema shares one operation object between a rule's methods.
                operations[method] = operation = dict(operation)
                complete_operation(operation, rule, func, method)
        return paths, components

    def schema(self) -> dict[str, Any]:
        """The OpenAPI document of the app's routes."""
        document: dict[str, Any] = super().schema()
        _, components = msgspec.json.schema_components(wire_types(), ref_template=REF_TEMPLATE)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, component in components.items():
            schemas.setdefault(name, component)
        # Under a prefix every path is relative to it: clients resolve them against `servers`.
        prefix = root_path()
        if prefix:
            document["servers"] = [{"url": prefix}]
        return document
