"""Helpers for tests with real Celery worker processes: their environment, and waiting."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import clean_env, shared_database_url


def worker_env(data_dir: Path) -> dict[str, str]:
    """What a worker needs to share this test's database, broker and data folder."""
    broker = {
        key: os.environ[key]
        for key in ("CELERY_BROKER_URL", "AUTOGEN_VAR_DIR")
        if key in os.environ
    }
    return clean_env(**broker, DATABASE_URL=shared_database_url(), AUTOGEN_DATA_DIR=str(data_dir))


def wait_for(check: Callable[[], Any], timeout: float, what: str, log=None) -> Any:
    """Poll `check` until it returns something true; fail with `what` (and the worker's log,
    when given a process) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        if log is not None and log.poll() is not None:
            raise AssertionError(f"the worker exited while waiting for {what}")
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def drain(worker) -> list[str]:
    """Read the worker's output as it comes (a full pipe would block the worker); the lines
    read so far are in the returned list."""
    lines: list[str] = []

    def read() -> None:
        for line in worker.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines
