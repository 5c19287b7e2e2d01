"""Fixtures for the fault tests: a throwaway Redis that a test may stop and start again (never
the shared one), and the models_core fixtures (a private data folder, a small corpus)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from tests.models_core.conftest import data_dir, small_book  # noqa: F401 (fixtures)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayRedis:
    """A ``redis-server`` on a free loopback port, without persistence: `restart` loses every
    message it held, as a Redis restarted with ``--save ""`` does."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def queued(self, queue: str = "gpu") -> int:
        """Messages waiting on `queue` (kombu's list for priority 0)."""
        return redis.Redis(port=self.port).llen(queue)


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = ThrowawayRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker_app(throwaway_redis, monkeypatch) -> Celery:
    """This process's Celery app, pointed at the throwaway Redis: what the product sends (runs
    queued, work reconciled) goes there."""
    from models_core.services import enqueue, reconcile

    # Celery reads these variables before any setting.
    monkeypatch.setenv("CELERY_BROKER_URL", throwaway_redis.url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", throwaway_redis.url)
    app = Celery("autogen-faults", set_as_current=False)  # never the app of later tests
    app.config_from_object("django.conf:settings", namespace="CELERY")
    # Fail fast while the broker is down (the default retries for about a second).
    app.conf.broker_connection_timeout = 1
    monkeypatch.setattr(enqueue, "current_app", app)
    monkeypatch.setattr(reconcile, "current_app", app)
    yield app
    app.close()
