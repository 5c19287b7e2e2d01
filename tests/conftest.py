"""Shared test helpers: subprocesses with a chosen environment, real Celery workers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from benchmarks.corpora import shared_corpora

ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = shared_corpora()
# CI sets this: a missing corpus then fails the tests that need it instead of skipping them.
REQUIRE_CORPORA = os.environ.get("AUTOGEN_REQUIRE_CORPORA") == "1"
# A throwaway key for subprocesses that run in production mode (never used anywhere real).
TEST_SECRET_KEY = "test-only-" + "k" * 60

# Variables that select services; subprocesses start from a clean slate and set what they need.
SERVICE_VARIABLES = (
    "AUTOGEN_ENV",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "AUTOGEN_VAR_DIR",
    "AUTOGEN_DATA_DIR",
)


def clean_env(**overrides: str) -> dict[str, str]:
    """os.environ without the service variables, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env["PYTHONPATH"] = str(ROOT)
    env.update(overrides)
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_manage(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def redis_url() -> str | None:
    """The Redis to test against: the configured broker, else a local one if it is running."""
    configured = os.environ.get("CELERY_BROKER_URL", "")
    url = configured if configured.startswith("redis") else "redis://127.0.0.1:6379/0"
    return url if reachable(url, 6379) else None


def postgres_url() -> str | None:
    """The PostgreSQL server to test against: the configured one, else a local one if running."""
    configured = os.environ.get("DATABASE_URL", "")
    url = (
        configured
        if configured.startswith("postgres")
        else "postgres://postgres@127.0.0.1:5432/postgres"
    )
    return url if reachable(url, 5432) else None


def shared_database_url() -> str:
    """A URL for the database this test process uses, for subprocesses that must share it."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def celery_worker(
    env: dict[str, str], queues: str = "default,gpu", name: str | None = None
) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` process on the broker that ``env`` selects; stopped on exit.
    `name` (``-n``): a unique one by default; give one to restart "the same" worker."""
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "autogen",
            "worker",
            "-Q",
            queues,
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--loglevel",
            "info",
            "--hostname",
            name or f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def require_corpus(path: Path) -> Path:
    """`path` (under SHARED_CORPORA) if it exists; else skip the test, or fail it in CI."""
    if not path.exists():
        message = f"shared corpus not found at {path}"
        if REQUIRE_CORPORA:
            pytest.fail(f"{message} (AUTOGEN_REQUIRE_CORPORA=1: CI needs the corpora)")
        pytest.skip(message)
    return path


@pytest.fixture
def shared_corpora() -> Path:
    return require_corpus(SHARED_CORPORA)
