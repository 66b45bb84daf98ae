"""JSON responses encoded once with msgspec."""

from __future__ import annotations

from typing import Any

import msgspec
from quart import Response

_encoder = msgspec.json.Encoder()


def encode(body: Any) -> bytes:
    """JSON bytes of a Struct or plain container."""
    return _encoder.encode(body)


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response; msgspec Structs and plain containers both encode."""
    return Response(encode(body), status=status, content_type="application/json")
