"""Wire encoding of price frames, each made once per frame and shared by every client, and the
decoding of what websocket clients send."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from exchange.clock import iso_ms
from exchange.money import price_to_float
from exchange.pricefeed import Frame
from web.query import parse_int

# Distinct symbol filters cached per frame; clients beyond that are encoded one by one.
CACHED_FILTERS = 32

_encoder = msgspec.json.Encoder()
# The close code of a request the stream cannot serve, such as a malformed ``since``.
POLICY_CLOSE_CODE = 1008


def _prices(prices: dict[str, int], symbols: frozenset[str] | None) -> dict[str, float]:
    return {
        asset_id: price_to_float(price)
        for asset_id, price in prices.items()
        if symbols is None or asset_id in symbols
    }


def encode_frame(frame: Frame, kind: str, symbols: frozenset[str] | None, **extra: object) -> bytes:
    """A frame as ``{"type", "seq", "time", "prices", ...}``, cached per kind and filter."""
    key = (kind, symbols, tuple(sorted(extra.items())))
    cached = frame.encoded.get(key)
    if cached is not None:
        return cached
    body = {
        "type": kind,
        "seq": frame.seq,
        "time": iso_ms(round(frame.time * 1000)),
        "prices": _prices(frame.prices, symbols),
        **extra,
    }
    encoded = _encoder.encode(body)
    if len(frame.encoded) < CACHED_FILTERS:
        frame.encoded[key] = encoded
    return encoded


def merge_frames(frames: Iterable[Frame]) -> Frame:
    """Several queued frames as one: the latest price of each asset, the last seq and time."""
    merged: dict[str, int] = {}
    last = None
    for frame in frames:
        merged.update(frame.prices)
        last = frame
    assert last is not None
    return Frame(last.seq, last.time, merged)


def message(kind: str, **fields: object) -> bytes:
    """A control message: ``{"type": kind, ...}``."""
    return _encoder.encode({"type": kind, **fields})


def decode_message(raw: str | bytes) -> Any:
    """A client message as JSON; ``msgspec.DecodeError`` when it is not JSON or nests too deep."""
    try:
        return msgspec.json.decode(raw)
    except RecursionError:
        # msgspec stops at the interpreter's recursion limit; that is bad input, not a crash.
        raise msgspec.DecodeError("JSON nested too deeply") from None


def since_param(raw: str | None) -> int | None:
    """A stream's ``?since=<seq>``: None when absent or empty, else a sequence number.

    Raises ``BadInteger`` when it is not one (the stream closes with ``POLICY_CLOSE_CODE``).
    """
    return None if raw is None or raw == "" else parse_int(raw, 0)
