"""Strict request bodies: JSON objects decoded by prebuilt msgspec decoders.

quart-schema coerces leniently ("5" passes as an int), so bodies are decoded here instead and
every failure becomes a clear 4xx in the error shape: a content type other than JSON (an empty
one included) 415, malformed or too deeply nested JSON, a non-object body, unknown or mistyped
fields 422, an oversized body 413. A missing Content-Type header is read as JSON.
"""

from __future__ import annotations

import re
from typing import Any, Generic, TypeVar

import msgspec
from quart import request

from web.errors import ApiError, field_error, invalid

T = TypeVar("T")

_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")


class BodyDecoder(Generic[T]):
    """Decode a request body into one Struct type, strictly.

    With ``optional``, a request without a body (or with only whitespace) reads as ``model()``,
    whatever its Content-Type.
    """

    def __init__(self, model: type[T], optional: bool = False) -> None:
        self.model = model
        self.optional = optional
        self._decoder = msgspec.json.Decoder(model)

    async def read(self) -> T:
        """The current request's body as the model; ``ApiError`` on any problem."""
        is_json = _declared_json()
        if not is_json and not self.optional:
            raise _unsupported()
        raw = await request.get_data(cache=False)
        if not raw.strip():
            if self.optional:
                return self.model()
            raise invalid([field_error(["body"], "Field required", "missing")])
        if not is_json:
            raise _unsupported()
        try:
            return self._decoder.decode(raw)
        except msgspec.ValidationError as exc:
            raise invalid([_field_error(str(exc))]) from None
        except msgspec.DecodeError:
            raise invalid([field_error(["body"], "Malformed JSON", "json_invalid")]) from None
        except RecursionError:
            # msgspec refuses nesting deeper than the interpreter's recursion limit.
            message = "JSON nested too deeply"
            raise invalid([field_error(["body"], message, "json_invalid")]) from None


def absent(raw: msgspec.Raw | msgspec.UnsetType) -> bool:
    """True for an optional field left out or given as null."""
    return isinstance(raw, msgspec.UnsetType) or bytes(raw) == b"null"


def number_text(raw: msgspec.Raw) -> str | None:
    """The text of a number field: a JSON string's content, a JSON number's digits, else None."""
    data = bytes(raw)
    first = data[:1]
    if first == b'"':
        return msgspec.json.decode(data, type=str)
    if first and first in b"-0123456789":
        return data.decode()
    return None


def _declared_json() -> bool:
    header = request.headers.get("Content-Type")
    if header is None:
        return True  # curl -d and many small clients send JSON without saying so
    content_type = request.mimetype
    return content_type == "application/json" or content_type.endswith("+json")


def _unsupported() -> ApiError:
    return ApiError(415, "unsupported_media_type", "Request body must be application/json")


def _field_error(message: str) -> dict[str, Any]:
    text, _, path = message.partition(" - at `$")
    loc: list[str | int] = ["body"]
    for name, index in _PATH_PART.findall(path.rstrip("`")):
        loc.append(name if name else int(index))
    if match := _UNKNOWN.search(text):
        return field_error([*loc, match.group(1)], "Unknown field", "extra_forbidden")
    if match := _MISSING.search(text):
        return field_error([*loc, match.group(1)], "Field required", "missing")
    if text.startswith("Expected `object`") and len(loc) == 1:
        return field_error(loc, "Body must be a JSON object", "object_type")
    return field_error(loc, text.replace("`", "'"), "type_error")
