"""The service's durable state behind one small interface (:class:`Store`), SQLite by default.

Everything the service acknowledges is in the store before the response leaves: the scheduler's
operation log (replayed on start), jobs, optimised plans, events and idempotency keys. One
:meth:`Store.write` is one transaction, so an operation, its events and its idempotency key are
committed together or not at all (a ``kill -9`` loses only what was never acknowledged).
A server database can replace :class:`SqliteStore` by implementing the same methods.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

SCHEMA = """
CREATE TABLE IF NOT EXISTS ops (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
                                body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
                                 request TEXT NOT NULL, result TEXT, idempotency_key TEXT,
                                 created TEXT NOT NULL, finished TEXT);
CREATE TABLE IF NOT EXISTS plans (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
                                        status INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Write:
    """What one transaction writes: operations, job rows (inserted or replaced), plans, events,
    idempotency records ``(key, fingerprint, status, body)``, meta values, idempotency keys to
    ``forget`` (a request to run again on retry). ``reset`` first deletes the operation log and
    the plans (a deleted scheduler)."""

    ops: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    plans: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    idempotency: list[tuple[str, str, int, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    forget: list[str] = field(default_factory=list)
    reset: bool = False


@dataclass(frozen=True)
class Remembered:
    """The stored answer to an ``Idempotency-Key``: the request's fingerprint and the response."""

    fingerprint: str
    status: int
    body: Any


class Store(Protocol):
    """The storage interface the service uses; nothing else touches the database."""

    def write(self, w: Write) -> list[int]:
        """Commit ``w`` atomically; returns the sequence numbers given to ``w.events``."""
        ...

    def ops(self) -> list[tuple[str, dict[str, Any]]]: ...

    def job(self, job_id: str) -> dict[str, Any] | None: ...

    def jobs(self, status: tuple[str, ...] | None = None) -> list[dict[str, Any]]: ...

    def plan(self, plan_id: str) -> dict[str, Any] | None: ...

    def events_after(self, seq: int, limit: int = 100) -> list[tuple[int, dict[str, Any]]]: ...

    def last_event(self) -> int: ...

    def remembered(self, key: str) -> Remembered | None: ...

    def meta(self, key: str) -> Any: ...

    def close(self) -> None: ...


class SqliteStore:
    """:class:`Store` in one SQLite file (WAL journal, ``synchronous=FULL``: a commit is on disk
    before :meth:`write` returns). Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def write(self, w: Write) -> list[int]:
        seqs: list[int] = []
        with self._tx() as db:
            if w.reset:
                db.execute("DELETE FROM ops")
                db.execute("DELETE FROM plans")
            for kind, body in w.ops:
                db.execute("INSERT INTO ops (kind, body) VALUES (?, ?)", (kind, _dump(body)))
            for job in w.jobs:
                db.execute(
                    "INSERT OR REPLACE INTO jobs VALUES (:id, :kind, :status, :request, :result,"
                    " :idempotency_key, :created, :finished)",
                    {
                        **job,
                        "request": _dump(job["request"]),
                        "result": None if job.get("result") is None else _dump(job["result"]),
                        "idempotency_key": job.get("idempotency_key"),
                        "finished": job.get("finished"),
                    },
                )
            for plan_id, body in w.plans:
                db.execute("INSERT OR REPLACE INTO plans VALUES (?, ?)", (plan_id, _dump(body)))
            for event in w.events:
                cur = db.execute("INSERT INTO events (body) VALUES (?)", (_dump(event),))
                seqs.append(int(cur.lastrowid or 0))
            for key, fingerprint, status, body in w.idempotency:
                db.execute(
                    "INSERT INTO idempotency VALUES (?, ?, ?, ?)",
                    (key, fingerprint, status, _dump(body)),
                )
            for key in w.forget:
                db.execute("DELETE FROM idempotency WHERE key = ?", (key,))
            for key, value in w.meta.items():
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, _dump(value)))
        return seqs

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def ops(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (k, json.loads(b)) for k, b in self._query("SELECT kind, body FROM ops ORDER BY seq")
        ]

    def job(self, job_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, status: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        if status is None:
            return [_job(r) for r in self._query("SELECT * FROM jobs ORDER BY created, id")]
        marks = ", ".join("?" * len(status))
        sql = f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY created, id"
        return [_job(r) for r in self._query(sql, status)]

    def plan(self, plan_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT body FROM plans WHERE id = ?", (plan_id,))
        return json.loads(rows[0][0]) if rows else None

    def events_after(self, seq: int, limit: int = 100) -> list[tuple[int, dict[str, Any]]]:
        rows = self._query(
            "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        )
        return [(s, json.loads(b)) for s, b in rows]

    def last_event(self) -> int:
        """The sequence number of the newest event (0: none)."""
        return int(self._query("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0])

    def remembered(self, key: str) -> Remembered | None:
        rows = self._query(
            "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
        )
        return Remembered(rows[0][0], rows[0][1], json.loads(rows[0][2])) if rows else None

    def meta(self, key: str) -> Any:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _job(row: tuple[Any, ...]) -> dict[str, Any]:
    job_id, kind, status, request, result, key, created, finished = row
    return {
        "id": job_id,
        "kind": kind,
        "status": status,
        "request": json.loads(request),
        "result": None if result is None else json.loads(result),
        "idempotency_key": key,
        "created": created,
        "finished": finished,
    }
