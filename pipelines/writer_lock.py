"""One writer at a time: an advisory lock on `<warehouse>/.writer.lock`, held for a whole run.

DuckDB lets one process open build.duckdb for writing; a second `outcomes run` (or a run the UI,
a sensor or the schedule launched) opening it mid-way crashed with "Could not set lock on file".
Every path that writes the warehouse takes this lock first and waits for it, with a timeout
(OUTCOMES_LOCK_TIMEOUT seconds, default one hour) and a message naming who holds it:
- a run: the `duckdb` resource (pipelines.resources.WarehouseDuckDB) holds it from the run's
  start to its end, so runs from the CLI, the UI, sensors and schedules serialise against each other;
- `outcomes run`, `retract` and `reproduce` take it around everything they read and write
  before and after their run too (the lock is re-entrant within a process).

flock() locks belong to the open file, so the kernel releases them when a killed holder's
process dies: a stale lock file never blocks the next run. The file's text (who holds it) is
only a message for the waiting side; it holds no value of the data.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.settings import ENV_LOCK_TIMEOUT, lock_timeout

__all__ = ["ENV_LOCK_TIMEOUT", "LOCK_NAME", "LockTimeout", "holder", "writer_lock"]

LOCK_NAME = ".writer.lock"
POLL_SECONDS = 0.5

_held: dict[str, int] = {}  # lock path -> depth: this process holds it already
_held_guard = threading.Lock()


class LockTimeout(RuntimeError):
    """The warehouse stayed locked by another writer for longer than the timeout."""


def holder(warehouse: Path) -> dict[str, Any] | None:
    """Who holds the lock, as its holder wrote it (None when free or unreadable)."""
    try:
        text = (warehouse / LOCK_NAME).read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def describe_holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "another writer"
    return f"{info.get('what', 'a run')} (pid {info.get('pid', '?')}, since {info.get('since', '?')} UTC)"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


@contextmanager
def writer_lock(warehouse: Path, what: str, timeout: float | None = None,
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the warehouse's writer lock; wait up to `timeout` seconds for another holder to finish.

    `what` says who holds it (for the message a waiting writer prints). Re-entrant within a process.
    """
    warehouse.mkdir(parents=True, exist_ok=True)
    path = warehouse / LOCK_NAME
    key = str(path.resolve())
    with _held_guard:
        if key in _held:
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    timeout = lock_timeout() if timeout is None else timeout
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
    try:
        _acquire(fd, warehouse, timeout, on_wait)
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"what": what, "pid": os.getpid(), "since": since}).encode(), 0)
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(key, None)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def _acquire(fd: int, warehouse: Path, timeout: float, on_wait: Callable[[str], None] | None) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    who = describe_holder(holder(warehouse))
    if on_wait:
        on_wait(f"the warehouse {warehouse} is being written by {who}; waiting up to "
                f"{_minutes(timeout)} ({ENV_LOCK_TIMEOUT}) for it to finish")
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(POLL_SECONDS)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                who = describe_holder(holder(warehouse))
                raise LockTimeout(
                    f"the warehouse {warehouse} is still being written by {who} "
                    f"after {_minutes(timeout)} of waiting ({ENV_LOCK_TIMEOUT}); nothing was changed"
                ) from None
