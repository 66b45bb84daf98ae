"""Account event streams: numbered events per account, live and resumable.

Events are published only after the commit of the change they describe, so a stream never
shows what might not last. The latest ``EVENTS_KEPT`` events of the ``ACCOUNTS_KEPT`` most
recently active accounts are held in memory for streams that reconnect with ``since``; the
numbering itself is durable (``accounts.event_seq``), so it continues across restarts.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from exchange.change import Event
from exchange.fanout import SHUTTING_DOWN, Fanout, Subscription
from exchange.store import Store

EVENTS_KEPT = 500
ACCOUNTS_KEPT = 10_000
TOKEN_REVOKED = "the token was revoked"  # noqa: S105


class AccountEvents:
    """The live event fan-out of every account, and the recent events held for resuming."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._streams: dict[str, Fanout[Event]] = {}
        self._by_token: dict[str, set[Subscription[Event]]] = {}
        self._recent: OrderedDict[str, deque[Event]] = OrderedDict()

    def publish(self, events: list[Event]) -> None:
        """Hold committed events and offer them to their accounts' subscribers; never waits."""
        for event in events:
            recent = self._recent.get(event.username)
            if recent is None:
                recent = self._recent[event.username] = deque(maxlen=EVENTS_KEPT)
                if len(self._recent) > ACCOUNTS_KEPT:
                    self._recent.popitem(last=False)
            else:
                self._recent.move_to_end(event.username)
            recent.append(event)
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

    def latest(self, username: str) -> int:
        """The number of the account's last committed event (0 if none)."""
        recent = self._recent.get(username)
        if recent:
            return recent[-1].seq
        row = self._store.read_one("SELECT event_seq FROM accounts WHERE username = ?", (username,))
        return int(row[0]) if row else 0

    def since(self, username: str, seq: int) -> list[Event] | None:
        """Committed events after ``seq``, oldest first; None if they are not all held."""
        latest = self.latest(username)
        if seq == latest:
            return []
        recent = self._recent.get(username)
        if seq > latest or seq < 0 or not recent or recent[0].seq > seq + 1:
            return None
        return [event for event in recent if event.seq > seq]

    def close_all(self) -> None:
        """End every subscription (the exchange is stopping)."""
        for stream in self._streams.values():
            stream.end_all(SHUTTING_DOWN)
        self._streams.clear()

    def subscribers(self) -> int:
        """How many subscriptions are live."""
        return sum(len(stream) for stream in self._streams.values())
