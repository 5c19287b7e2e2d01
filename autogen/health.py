"""Health of the pieces the product needs: database, broker, Celery workers.

Each check returns a small dict with ``ok`` and details; :func:`health_report` combines them.
The database and broker are required; workers are reported, since a web node without a live
worker still serves surveys but queued training waits.

A worker ping is a broadcast that waits its whole timeout for replies, so each web process
pings at most once every ``WORKER_CHECK_MAX_AGE_S`` and reuses the answer (with its age):
a load balancer or a crowd of clients polling /healthz neither waits a second per request
nor floods the workers with pings.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db import connection

from autogen.celery import app

BROKER_TIMEOUT_S = 2.0
WORKER_PING_TIMEOUT_S = 1.0
WORKER_CHECK_MAX_AGE_S = 15.0
WORKER_RECHECK_FAILED_S = 3.0  # a worker that comes back is seen within seconds
_worker_check_lock = threading.Lock()
_worker_check_last: tuple[float, dict[str, Any]] | None = None  # (monotonic time, result)


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # a health check reports every failure, whatever its kind
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    def run():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"vendor": connection.vendor}

    return _timed(run)


def check_broker() -> dict[str, Any]:
    def run():
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
            return {"transport": conn.transport_cls}

    return _timed(run)


def check_workers(timeout: float = WORKER_PING_TIMEOUT_S) -> dict[str, Any]:
    """Ping every worker over the broker's broadcast channel; ``ok`` when one or more answer."""

    def run():
        replies = app.control.ping(timeout=timeout) or []
        names = sorted(name for reply in replies for name in reply)
        if not names:
            raise RuntimeError("no Celery worker answered a ping")
        return {"workers": names, "count": len(names)}

    return _timed(run)


def recent_worker_check(
    max_age_s: float = WORKER_CHECK_MAX_AGE_S, failed_max_age_s: float = WORKER_RECHECK_FAILED_S
) -> dict[str, Any]:
    """`check_workers`, pinging only when the last answer is older than `max_age_s`
    (`failed_max_age_s` when no worker answered).

    Concurrent callers wait for one ping instead of each sending their own. ``age_s`` says
    how old the answer is.
    """
    global _worker_check_last
    with _worker_check_lock:
        last = _worker_check_last
        limit = max_age_s if last is not None and last[1]["ok"] else failed_max_age_s
        if last is None or time.monotonic() - last[0] > limit:
            result = check_workers()  # the answer's age counts from when it came back
            _worker_check_last = (time.monotonic(), result)
        at, result = _worker_check_last
        return {**result, "age_s": round(time.monotonic() - at, 1)}


def health_report() -> dict[str, Any]:
    """All checks; ``status`` is ``ok``, ``degraded`` (no worker) or ``down``."""
    checks = {
        "database": check_database(),
        "broker": check_broker(),
    }
    checks["workers"] = (
        recent_worker_check() if checks["broker"]["ok"] else {"ok": False, "error": "broker down"}
    )
    if not (checks["database"]["ok"] and checks["broker"]["ok"]):
        status = "down"
    elif not checks["workers"]["ok"]:
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checks": checks}


PRIVATE_KEYS = ("error", "workers")


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """`report` without what describes the deployment: error texts and worker host names."""
    checks = {
        name: {k: v for k, v in check.items() if k not in PRIVATE_KEYS}
        for name, check in report["checks"].items()
    }
    return {**report, "checks": checks}
