"""Domain rejections: conditions a caller is told about, never bugs.

    DomainError               (code, status)
    ├── Overloaded            a mailbox is full: try again later (503)
    ├── StorageUnavailable    the database refused a commit (disk full, I/O error, locked):
    │                         nothing of the write was kept; try again later (503)
    ├── RateLimited           too many orders for the class's rate (429, ``retry_after``)
    ├── Forbidden             the caller may not do this (403)
    ├── NotFound              (404)
    │   └── UnknownUser
    ├── Conflict              (409)
    │   ├── UsernameTaken
    │   ├── EmailTaken
    │   └── NotPending        the order is no longer open
    └── Rejected              a business rule said no (422)
        ├── InsufficientFunds
        ├── InsufficientHoldings
        └── DailyLimitExceeded

Each carries a human message and a stable snake_case code; the web layer maps the status.
Any other exception inside an actor is a bug and crashes the supervision nursery.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rejection travelling back to the caller as a value."""

    code = "rejected"
    status = 422
    # Seconds a caller should wait before trying again (``Retry-After``), when it may.
    retry_after: float | None = None

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class Overloaded(DomainError):
    """A bounded mailbox is full; the caller should retry after a moment."""

    code = "overloaded"
    status = 503
    retry_after = 1.0


class StorageUnavailable(DomainError):
    """The database could not commit a write; nothing of it was kept, retrying may succeed."""

    code = "storage_unavailable"
    status = 503
    retry_after = 5.0


class RateLimited(DomainError):
    """Too many requests in a short time; ``retry_after`` seconds until the next is accepted."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


class Forbidden(DomainError):
    """The caller may not do this (another teacher's class, a rule of the class)."""

    code = "forbidden"
    status = 403


class NotFound(DomainError):
    """The thing asked for does not exist (or is not the caller's)."""

    code = "not_found"
    status = 404


class UnknownUser(NotFound):
    """No user has this username."""

    code = "user_not_found"


class Conflict(DomainError):
    """The request clashes with existing state."""

    code = "conflict"
    status = 409


class UsernameTaken(Conflict):
    """The username is registered already (case-insensitively)."""

    code = "username_taken"


class EmailTaken(Conflict):
    """The email address belongs to another user."""

    code = "email_taken"


class NotPending(Conflict):
    """The order has already been filled, cancelled, expired or rejected."""

    code = "order_not_pending"


class Rejected(DomainError):
    """A business rule rejects the request."""


class InsufficientFunds(Rejected):
    """The account does not hold enough to cover the request."""

    code = "insufficient_funds"


class DailyLimitExceeded(Rejected):
    """The request would take the day's total past its limit."""

    code = "daily_limit_exceeded"


class InsufficientHoldings(Rejected):
    """The account does not hold enough of the asset to sell."""

    code = "insufficient_holdings"
