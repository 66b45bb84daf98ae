"""Account event streams: numbered events per account, live and resumable.

Events are written in the same transaction as the change they describe and published only after
the commit, so a stream never shows what might not last. A subscriber that reconnects reads the
events it missed from the database (the last ``EVENTS_KEPT`` per account are kept).
"""

from __future__ import annotations

from exchange.change import EVENTS_KEPT, Event
from exchange.fanout import SHUTTING_DOWN, Fanout, Subscription
from exchange.store import Store

__all__ = ["EVENTS_KEPT", "TOKEN_REVOKED", "AccountEvents"]

TOKEN_REVOKED = "the token was revoked"  # noqa: S105


class AccountEvents:
    """The live event fan-out of every account with a subscriber."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._streams: dict[str, Fanout[Event]] = {}
        self._by_token: dict[str, set[Subscription[Event]]] = {}

    def publish(self, events: list[Event]) -> None:
        """Offer committed events to their accounts' subscribers; never waits."""
        for event in events:
            stream = self._streams.get(event.username)
            if stream is not None:
                stream.publish(event)

    def subscribe(self, username: str, size: int, token_id: str) -> Subscription[Event]:
        """A subscription to an account's following events, opened with token ``token_id``."""
        subscription = self._streams.setdefault(username, Fanout()).subscribe(size)
        self._by_token.setdefault(token_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, username: str, token_id: str, subscription: Subscription[Event]) -> None:
        """Stop a subscription; forget the account's stream when nobody listens."""
        tokens = self._by_token.get(token_id)
        if tokens is not None:
            tokens.discard(subscription)
            if not tokens:
                del self._by_token[token_id]
        stream = self._streams.get(username)
        if stream is None:
            return
        stream.unsubscribe(subscription)
        if not len(stream):
            del self._streams[username]

    def end_token(self, token_id: str) -> None:
        """End the streams opened with a token that has just been revoked."""
        for subscription in self._by_token.pop(token_id, set()):
            subscription.end(TOKEN_REVOKED)

    def since(self, username: str, seq: int) -> list[Event] | None:
        """Committed events after ``seq``, oldest first; None if some were pruned already."""
        rows = self._store.read(
            "SELECT seq, body FROM account_events WHERE username = ? AND seq > ? ORDER BY seq",
            (username, seq),
        )
        if rows and rows[0][0] != seq + 1:
            return None
        return [Event(username, number, bytes(body)) for number, body in rows]

    def latest(self, username: str) -> int:
        """The account's last committed event number (0 if none)."""
        row = self._store.read_one(
            "SELECT MAX(seq) FROM account_events WHERE username = ?", (username,)
        )
        return int(row[0]) if row and row[0] is not None else 0

    def close_all(self) -> None:
        """End every subscription (the exchange is stopping)."""
        for stream in self._streams.values():
            stream.end_all(SHUTTING_DOWN)
        self._streams.clear()

    def subscribers(self) -> int:
        """How many subscriptions are live."""
        return sum(len(stream) for stream in self._streams.values())
