"""The OpenAPI document, with every wire type emitted as a component.

quart-schema's msgspec conversion references nested Structs (``#/components/schemas/X``)
without emitting them; this provider adds the components of every wire type.
"""

from __future__ import annotations

import inspect
from typing import Any

import msgspec
from quart_schema import OpenAPIProvider

from web import classwire, wire

REF_TEMPLATE = "#/components/schemas/{name}"


def wire_types() -> list[type[msgspec.Struct]]:
    """Every Struct defined in (or used by) ``web.wire`` and ``web.classwire``."""
    return [
        value
        for module in (wire, classwire)
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, msgspec.Struct)
    ]


class WireOpenAPIProvider(OpenAPIProvider):
    """quart-schema's provider, plus the components its msgspec conversion leaves out."""

    def schema(self) -> dict[str, Any]:
        """The OpenAPI document of the app's routes."""
        document: dict[str, Any] = super().schema()
        _, components = msgspec.json.schema_components(wire_types(), ref_template=REF_TEMPLATE)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, component in components.items():
            schemas.setdefault(name, component)
        return document
