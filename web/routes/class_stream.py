"""The ``/ws/classes/<class_id>/leaderboard`` stream: a class's top rows, live, for a projector.

Authenticate as on ``/ws/account`` (``?token=``, an ``Authorization`` header, or a first
``{"action": "auth", "token": ...}`` message). ``?limit=N`` (1-100, default 10) sets how many
rows. The class's teacher and admins may always watch; a student of the class only while the
class shows its leaderboard. The stream sends one ``leaderboard`` frame at once and then at
most one per tick, only when what it shows changed (rows, status, the latest headline).

Close codes: 4001 not authenticated, token expired or revoked; 4003 not allowed
(``forbidden``, ``leaderboard_hidden``, also when the teacher hides the board later) and 4004
no such class, each after an ``{"type": "error", "code", "detail"}`` message; 4008 fell behind
or did not take a frame within the send deadline; 1008 a bad ``limit``; 1001 the exchange is
stopping; 1013 the connection caps are reached.
"""

from __future__ import annotations

import time

import msgspec
import trio
from quart import Blueprint, current_app, websocket

from exchange.classes import ClassInfo
from exchange.clock import iso_ms
from exchange.engine import Exchange
from exchange.fanout import SHUTTING_DOWN, Subscription
from exchange.pricefeed import Frame
from web.classrules import standing_view
from web.classwire import StandingView
from web.gateway import Gateway, gateway
from web.query import BadInteger, parse_int
from web.state import app_state
from web.streams import POLICY_CLOSE_CODE, message
from web.tokens import Claims
from web.wsauth import (
    GOING_AWAY_CODE,
    SLOW_CLOSE_CODE,
    UNAUTHORIZED_CODE,
    StreamClosed,
    authenticate,
    client_object,
)

blueprint = Blueprint("class_stream", __name__)

STREAM = "leaderboard"
FORBIDDEN_CODE = 4003
NOT_FOUND_CODE = 4004
BUFFER_TICKS = 32
DEFAULT_ROWS = 10
MAX_ROWS = 100
# Frames kept, one per (class, rows): more are dropped all at once (they are remade per tick).
CACHED_FRAMES = 256


class HeadlineView(msgspec.Struct):
    """The latest headline in a board frame."""

    news_id: str
    headline: str
    source: str
    time: str


class BoardContent(msgspec.Struct):
    """What a board frame shows; a frame is sent only when this changes."""

    class_id: str
    status: str
    final: bool
    students: int
    data: list[StandingView]
    headline: HeadlineView | None


_encoder = msgspec.json.Encoder()


class BoardFrames:
    """Each class's board frame, made once per (tick, change) and shared by its viewers."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, int], tuple[object, bytes, bytes]] = {}

    def frame(self, exchange: Exchange, info: ClassInfo, rows: int) -> tuple[bytes, bytes]:
        """``(content, frame)`` of the class's top ``rows`` at the latest tick."""
        feed, classroom = exchange.feed, exchange.classroom
        news = exchange.desk.latest_news
        if news is not None and news.created_at < info.created_at:
            news = None  # from before the class: not its news
        board = classroom.board(info.class_id)
        key = (feed.seq, board.version, None if news is None else news.seq, info)
        made = self._made.get((info.class_id, rows))
        if made is not None and made[0] == key:
            return made[1], made[2]
        started = time.thread_time()
        headline = None
        if news is not None:
            headline = HeadlineView(news.news_id, news.headline, news.kind, iso_ms(news.created_at))
        content = _encoder.encode(
            BoardContent(
                info.class_id,
                info.status,
                info.status == "closed",
                len(board.positions),
                [standing_view(s) for s in classroom.leaderboard(info.class_id, rows)],
                headline,
            )
        )
        # The tick's number and server time lead the shared content: one encoding per tick.
        at = iso_ms(round(feed.ticked_at * 1000))
        frame = f'{{"type":"leaderboard","tick":{feed.seq},"time":"{at}",'.encode() + content[1:]
        metrics = gateway().metrics
        if metrics is not None:
            metrics.board_upkeep.observe(time.thread_time() - started)
        if len(self._made) >= CACHED_FRAMES:
            self._made.clear()
        self._made[(info.class_id, rows)] = (key, content, frame)
        return content, frame


class Refused(StreamClosed):
    """The caller may not watch this board: an ``error`` message, then the close."""

    def __init__(self, close_code: int, code: str, detail: str) -> None:
        super().__init__(close_code, f"{code}: {detail}")
        self.error = message("error", code=code, detail=detail)


def board_frames() -> BoardFrames:
    """The running app's board frames."""
    found: BoardFrames = current_app.extensions.setdefault("class_boards", BoardFrames())
    return found


def _rows() -> int:
    raw = websocket.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_ROWS
    try:
        return parse_int(raw, 1, MAX_ROWS)
    except BadInteger as exc:
        raise StreamClosed(POLICY_CLOSE_CODE, f"limit: {exc}") from None


def _class(exchange: Exchange, class_id: str, claims: Claims, member: bool) -> ClassInfo:
    """The class if the caller may watch its board now; ``StreamClosed`` otherwise."""
    if exchange.is_revoked(claims.jti):
        raise StreamClosed(UNAUTHORIZED_CODE, "Token has been revoked")
    info = exchange.classroom.info(class_id)
    if info is None:
        raise Refused(NOT_FOUND_CODE, "class_not_found", "Class not found")
    if claims.role == "admin" or (claims.role == "teacher" and info.teacher == claims.sub):
        return info
    if claims.role != "customer" or not member:
        detail = "Only the class's teacher, an admin or its students may watch"
        raise Refused(FORBIDDEN_CODE, "forbidden", detail)
    if not info.rules.leaderboard_visible:
        detail = "The teacher has hidden this leaderboard"
        raise Refused(FORBIDDEN_CODE, "leaderboard_hidden", detail)
    return info


async def _send(gate: Gateway, data: bytes) -> None:
    if not await gate.send_websocket(data):
        raise StreamClosed(SLOW_CLOSE_CODE, "slow consumer: send deadline passed")
    gate.sent(STREAM)


async def _forward(
    gate: Gateway,
    exchange: Exchange,
    class_id: str,
    claims: Claims,
    member: bool,
    rows: int,
    ticks: Subscription[Frame],
) -> None:
    frames = board_frames()
    info = _class(exchange, class_id, claims, member)
    shown, frame = frames.frame(exchange, info, rows)
    await _send(gate, frame)
    async for _ in ticks.items:
        # Ticks queued while sending fold into one frame: a board is a state, not a delta.
        while True:
            try:
                ticks.items.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        info = _class(exchange, class_id, claims, member)
        content, frame = frames.frame(exchange, info, rows)
        if content != shown:
            await _send(gate, frame)
            shown = content
    if ticks.dropped == SHUTTING_DOWN:
        raise StreamClosed(GOING_AWAY_CODE, SHUTTING_DOWN)
    raise StreamClosed(SLOW_CLOSE_CODE, ticks.dropped or "stream ended")


async def _answer_pings(gate: Gateway) -> None:
    while True:
        if client_object(await websocket.receive()).get("action") == "ping":
            await _send(gate, message("pong"))
        else:
            await _send(
                gate, message("error", code="unknown_action", detail="Only 'ping' is accepted")
            )


@blueprint.websocket("/ws/classes/<class_id>/leaderboard")
async def class_leaderboard(class_id: str) -> None:
    """Stream a class's leaderboard until the client leaves, is refused, or the server stops."""

    async def stream(gate: Gateway) -> None:
        await _stream(gate, class_id)

    await gateway().serve_websocket(STREAM, stream)


async def _stream(gate: Gateway, class_id: str) -> None:
    exchange = app_state().exchange
    try:
        claims = await authenticate()
        rows = _rows()
        member = claims.role == "customer" and exchange.classroom.is_member(class_id, claims.sub)
        _class(exchange, class_id, claims, member)
        ticks = exchange.feed.subscribe(BUFFER_TICKS)
        try:
            with trio.move_on_at(trio.current_time() + claims.exp - exchange.clock.now()):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_answer_pings, gate)
                    await _forward(gate, exchange, class_id, claims, member, rows, ticks)
            raise StreamClosed(UNAUTHORIZED_CODE, "Token has expired")
        finally:
            exchange.feed.unsubscribe(ticks)
    except* StreamClosed as group:
        closed = group.exceptions[0]
        assert isinstance(closed, StreamClosed)
        if closed.code == SLOW_CLOSE_CODE:
            gate.dropped(STREAM)
        if isinstance(closed, Refused) and await gate.send_websocket(closed.error):
            gate.sent(STREAM)
        await gate.close_websocket(closed.code, closed.reason)
