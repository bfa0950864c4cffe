"""The task table's schema as a versioned list: migration N brings a store from version N to N + 1.

The statements are SQLite's; ``postgres_statements`` gives PostgreSQL's (a REAL is a double there, an INTEGER a bigint),
so one list is the schema of both backends. SQLite keeps the version in ``PRAGMA user_version``, PostgreSQL in the
``schema_version`` table; a store is migrated forward on open, never back.
"""

from __future__ import annotations

import re

MIGRATIONS: tuple[str, ...] = (
    # 1: the task table.
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        provider TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        request_json TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        idempotency_key TEXT,
        state TEXT NOT NULL,
        remote_id TEXT,
        remote_state TEXT,
        progress REAL,
        submit_attempts INTEGER NOT NULL DEFAULT 0,
        submitted_at REAL,
        finished_at REAL,
        next_poll_at REAL,
        poll_count INTEGER NOT NULL DEFAULT 0,
        poll_errors INTEGER NOT NULL DEFAULT 0,
        last_polled_at REAL,
        video_url TEXT,
        video_url_expires_at REAL,
        actual_prompt TEXT,
        usage_json TEXT,
        error_code TEXT,
        error_message TEXT,
        error_retryable INTEGER,
        cost_usd REAL,
        cost_json TEXT,
        download_state TEXT NOT NULL DEFAULT 'none',
        download_attempts INTEGER NOT NULL DEFAULT 0,
        download_error TEXT,
        local_path TEXT,
        file_size INTEGER,
        sha256 TEXT,
        downloaded_at REAL,
        adopted INTEGER NOT NULL DEFAULT 0,
        simulated INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX tasks_remote ON tasks(provider, endpoint, remote_id) WHERE remote_id IS NOT NULL;
    CREATE UNIQUE INDEX tasks_idem ON tasks(idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX tasks_fingerprint ON tasks(fingerprint, created_at);
    CREATE INDEX tasks_state ON tasks(state);
    CREATE INDEX tasks_created ON tasks(created_at);
    """,
    # 2: leases shared by the processes on one store, and the processes themselves.
    """
    ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
    ALTER TABLE tasks ADD COLUMN lease_until REAL;
    CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL
    );
    """,
    # 3: temporary uploads of input files, reused while the provider can still read them.
    """
    CREATE TABLE uploads (
        account TEXT NOT NULL,
        model TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        url TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        uploaded_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (account, model, sha256)
    );
    """,
    # 4: storyboards (their shots are tasks, found by their idempotency keys).
    """
    CREATE TABLE storyboards (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        request_json TEXT NOT NULL,
        state TEXT NOT NULL,
        shots_json TEXT NOT NULL DEFAULT '[]',
        local_path TEXT,
        file_size INTEGER,
        sha256 TEXT,
        seconds REAL,
        join_method TEXT,
        error TEXT,
        owner TEXT,
        owner_until REAL,
        endpoint TEXT NOT NULL DEFAULT '',
        idempotency_key TEXT,
        fingerprint TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX storyboards_state ON storyboards(state);
    CREATE UNIQUE INDEX storyboards_key ON storyboards(idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX storyboards_fingerprint ON storyboards(fingerprint, created_at);
    """,
    # 5: every task and storyboard belongs to a principal (stdio and loopback without auth: 'local'); keys,
    # repeats and lists are per principal.
    """
    ALTER TABLE tasks ADD COLUMN principal TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE storyboards ADD COLUMN principal TEXT NOT NULL DEFAULT 'local';
    DROP INDEX tasks_idem;
    CREATE UNIQUE INDEX tasks_idem ON tasks(principal, idempotency_key) WHERE idempotency_key IS NOT NULL;
    DROP INDEX storyboards_key;
    CREATE UNIQUE INDEX storyboards_key ON storyboards(principal, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX tasks_principal ON tasks(principal, created_at);
    CREATE INDEX storyboards_principal ON storyboards(principal, created_at);
    """,
    # 6: the poll budget every process (and replica) on this store shares: per provider account, when its next call
    # may go (DashScope allows 20 task queries a second per account, however many servers ask); and the sweeps of
    # the provider's task list that find many tasks' ends at once (when the next is due, when one last worked).
    """
    CREATE TABLE poll_budget (
        account TEXT PRIMARY KEY,
        next_at REAL NOT NULL,
        sweep_due_at REAL,
        swept_at REAL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def statements(number: int) -> list[str]:
    """Migration ``number``'s statements, as SQLite runs them."""
    return [statement.strip() for statement in MIGRATIONS[number].split(";") if statement.strip()]


def postgres_statements(number: int) -> list[str]:
    """Migration ``number``'s statements for PostgreSQL: double-precision reals (PostgreSQL's REAL is 4 bytes, too
    coarse for unix times) and 64-bit integers (file sizes)."""
    return [
        re.sub(r"\bINTEGER\b", "BIGINT", re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement))
        for statement in statements(number)
    ]
