"""Versioned schema migrations, applied in order at start (``PRAGMA user_version``)."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: users, their cash accounts, the cash ledger, revoked tokens.
    """
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        phone TEXT,
        date_of_birth TEXT,
        marketing_emails_consent INTEGER NOT NULL DEFAULT 0,
        role TEXT NOT NULL DEFAULT 'customer',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE accounts (
        username TEXT PRIMARY KEY REFERENCES users (username),
        cash INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE transactions (
        seq INTEGER PRIMARY KEY,
        transaction_id TEXT NOT NULL UNIQUE,
        username TEXT NOT NULL REFERENCES users (username),
        transaction_type TEXT NOT NULL,
        amount INTEGER NOT NULL,
        balance_after INTEGER NOT NULL,
        status TEXT NOT NULL,
        description TEXT NOT NULL,
        reference_id TEXT,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX transactions_by_user ON transactions (username, seq);
    CREATE INDEX transactions_by_user_type ON transactions (username, transaction_type, seq);
    CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
    ) STRICT;
    """,
    # 2: market data: the price feed's state per asset and its candle history.
    """
    CREATE TABLE markets (
        asset_id TEXT PRIMARY KEY,
        price INTEGER NOT NULL,
        deviation REAL NOT NULL,
        ath INTEGER NOT NULL,
        ath_date TEXT NOT NULL,
        atl INTEGER NOT NULL,
        atl_date TEXT NOT NULL,
        updated_at REAL NOT NULL
    ) STRICT;
    CREATE TABLE candles (
        asset_id TEXT NOT NULL,
        width INTEGER NOT NULL,
        start INTEGER NOT NULL,
        open INTEGER NOT NULL,
        high INTEGER NOT NULL,
        low INTEGER NOT NULL,
        close INTEGER NOT NULL,
        PRIMARY KEY (asset_id, width, start)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE feed (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        regime TEXT NOT NULL
    ) STRICT;
    """,
    # 3: trading: reservations, holdings, orders, the asset ledger, account event numbers.
    """
    ALTER TABLE accounts ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE holdings (
        username TEXT NOT NULL REFERENCES users (username),
        asset_id TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        reserved INTEGER NOT NULL,
        cost INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (username, asset_id)
    ) STRICT;
    CREATE TABLE orders (
        seq INTEGER PRIMARY KEY,
        order_id TEXT NOT NULL UNIQUE,
        username TEXT NOT NULL REFERENCES users (username),
        client_order_id TEXT,
        order_type TEXT NOT NULL,
        asset_id TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        price INTEGER,
        stop_price INTEGER,
        time_in_force TEXT NOT NULL,
        expires_at INTEGER,
        status TEXT NOT NULL,
        triggered INTEGER NOT NULL,
        reserved_cash INTEGER NOT NULL,
        reserved_quantity INTEGER NOT NULL,
        filled_price INTEGER,
        total_amount INTEGER,
        fee INTEGER NOT NULL,
        fill_seq INTEGER,
        reason TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (username, client_order_id)
    ) STRICT;
    CREATE INDEX orders_by_user ON orders (username, seq);
    CREATE INDEX orders_pending ON orders (status) WHERE status = 'pending';
    CREATE TABLE asset_transactions (
        seq INTEGER PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users (username),
        asset_id TEXT NOT NULL,
        order_id TEXT NOT NULL,
        transaction_type TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        price INTEGER NOT NULL,
        total INTEGER NOT NULL,
        balance_after INTEGER NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX asset_transactions_by_user ON asset_transactions (username, asset_id, seq);
    """,
    # 4: the audit log of security events.
    """
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        event TEXT NOT NULL,
        username TEXT,
        ip TEXT,
        detail TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_log_by_event ON audit_log (event, seq);
    """,
    # 5: market control: every action (who, when, what became of it), the control state
    # (pause, halts, shocks in progress) and the headlines.
    """
    CREATE TABLE market_actions (
        seq INTEGER PRIMARY KEY,
        action_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,
        status TEXT NOT NULL,
        run_at INTEGER,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        applied_at INTEGER,
        cancelled_by TEXT,
        cancelled_at INTEGER,
        failure TEXT
    ) STRICT;
    CREATE INDEX market_actions_by_status ON market_actions (status, seq);
    CREATE TABLE market_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state TEXT NOT NULL
    ) STRICT;
    CREATE TABLE news (
        seq INTEGER PRIMARY KEY,
        news_id TEXT NOT NULL UNIQUE,
        headline TEXT NOT NULL,
        kind TEXT NOT NULL,
        action_id TEXT,
        created_at INTEGER NOT NULL
    ) STRICT;
    """,
    # 6: classes: rules and lifecycle, one class per student, order notes and the review desk.
    """
    CREATE TABLE classes (
        class_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        teacher TEXT NOT NULL REFERENCES users (username),
        code TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        rules TEXT NOT NULL,
        final_ranking TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX classes_by_teacher ON classes (teacher, created_at);
    CREATE TABLE class_members (
        username TEXT PRIMARY KEY REFERENCES users (username),
        class_id TEXT NOT NULL REFERENCES classes (class_id),
        basis INTEGER NOT NULL,
        trades INTEGER NOT NULL,
        joined_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX class_members_by_class ON class_members (class_id, username);
    CREATE TABLE class_actions (
        seq INTEGER PRIMARY KEY,
        class_id TEXT NOT NULL REFERENCES classes (class_id),
        created_at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        username TEXT,
        detail TEXT NOT NULL
    ) STRICT;
    CREATE INDEX class_actions_by_class ON class_actions (class_id, seq);
    ALTER TABLE orders ADD COLUMN note TEXT;
    CREATE TABLE order_reviews (
        seq INTEGER PRIMARY KEY,
        order_id TEXT NOT NULL UNIQUE,
        class_id TEXT NOT NULL REFERENCES classes (class_id),
        username TEXT NOT NULL REFERENCES users (username),
        status TEXT NOT NULL,
        value INTEGER NOT NULL,
        note TEXT,
        decided_by TEXT,
        decided_at INTEGER,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX order_reviews_by_class ON order_reviews (class_id, status, seq);
    """,
    # 7: price impact: a filled order keeps its tick's price without the impact part (1e-8
    # USD; NULL when impact was off for the asset, and until the order fills).
    """
    ALTER TABLE orders ADD COLUMN model_price INTEGER;
    """,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; return the resulting version."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        version = number
    return int(version)
