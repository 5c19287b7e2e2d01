"""/healthz reports database, broker and a live worker that consumed a real task."""

import json

import pytest

from autogen import health
from autogen.health import public_report
from tests.conftest import celery_worker, clean_env, redis_url, run_python


@pytest.fixture(autouse=True)
def no_remembered_worker_check(monkeypatch):
    """Each test pings afresh: a worker answer remembered from another test is not this one's."""
    monkeypatch.setattr(health, "_worker_check_last", None)


# Runs in a subprocess configured by environment: enqueue a task, wait for a worker to run it,
# then ask /healthz what it sees.
ROUND_TRIP = """
import json, django
django.setup()
from autogen.celery import ping
print(json.dumps({"result": ping.delay().get(timeout=90)}))
from django.test import Client
response = Client().get("/healthz")
print(json.dumps({"status_code": response.status_code, **response.json()}))
"""


def round_trip(env: dict[str, str]) -> tuple[str, dict]:
    with celery_worker(env) as worker:
        result = run_python(ROUND_TRIP, env, timeout=150)
        worker.terminate()
        log = worker.communicate(timeout=30)[0]
    assert result.returncode == 0, result.stderr + log
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert lines[0]["result"] == "pong"
    assert "Task autogen.ping" in log and "succeeded" in log, log
    return log, lines[1]


def assert_healthy_with_one_worker(health: dict, transport: str) -> None:
    assert health["status_code"] == 200
    assert health["status"] == "ok", health
    assert health["checks"]["database"]["ok"] is True
    assert health["checks"]["broker"] == {**health["checks"]["broker"], "ok": True}
    assert health["checks"]["broker"]["transport"] == transport
    assert health["checks"]["workers"]["count"] >= 1
    assert any(name.startswith("test-") for name in health["checks"]["workers"]["workers"])


@pytest.mark.celery
def test_a_worker_consumes_a_task_through_redis_and_health_sees_it(tmp_path):
    url = redis_url()
    if url is None:
        pytest.skip("no Redis reachable (set CELERY_BROKER_URL=redis://... to test against one)")
    env = clean_env(AUTOGEN_VAR_DIR=str(tmp_path), CELERY_BROKER_URL=url)
    _, health = round_trip(env)
    assert_healthy_with_one_worker(health, "redis")


@pytest.mark.celery
def test_the_embedded_broker_carries_a_task_end_to_end(tmp_path):
    env = clean_env(AUTOGEN_VAR_DIR=str(tmp_path))
    _, health = round_trip(env)
    assert_healthy_with_one_worker(health, "filesystem")
    assert health["checks"]["database"]["vendor"] == "sqlite"


def test_health_is_degraded_without_a_worker_and_down_without_a_broker(tmp_path):
    script = """
import json, django
django.setup()
from django.test import Client
r = Client().get("/healthz")
print(json.dumps({"status_code": r.status_code, **r.json()}))
"""
    idle = run_python(script, clean_env(AUTOGEN_VAR_DIR=str(tmp_path / "idle")))
    assert idle.returncode == 0, idle.stderr
    idle_health = json.loads(idle.stdout.strip().splitlines()[-1])
    assert (idle_health["status_code"], idle_health["status"]) == (200, "degraded")
    assert idle_health["checks"]["workers"]["ok"] is False

    down = run_python(
        script,
        clean_env(
            AUTOGEN_VAR_DIR=str(tmp_path / "down"), CELERY_BROKER_URL="redis://127.0.0.1:1/0"
        ),
    )
    assert down.returncode == 0, down.stderr
    down_health = json.loads(down.stdout.strip().splitlines()[-1])
    assert (down_health["status_code"], down_health["status"]) == (503, "down")
    assert down_health["checks"]["broker"]["ok"] is False


@pytest.mark.django_db
def test_healthz_answers_json_in_process(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert response.json()["checks"]["database"]["ok"] is True


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_outsiders_get_verdicts_without_host_names_or_errors(client, settings):
    settings.DEBUG = False
    report = client.get("/healthz").json()
    assert report["checks"]["workers"]["ok"] is False  # no worker here: it had an error text
    for check in report["checks"].values():
        assert "ok" in check
        assert "error" not in check and "workers" not in check


def test_public_report_keeps_verdicts_and_drops_details():
    report = {
        "status": "degraded",
        "checks": {
            "database": {"ok": True, "vendor": "postgresql", "ms": 1.0},
            "workers": {"ok": False, "error": "RuntimeError: x", "workers": ["w@host"], "ms": 2},
        },
    }
    assert public_report(report) == {
        "status": "degraded",
        "checks": {
            "database": {"ok": True, "vendor": "postgresql", "ms": 1.0},
            "workers": {"ok": False, "ms": 2},
        },
    }


def test_workers_are_pinged_once_per_interval_not_once_per_request(monkeypatch):
    pings = []

    def ping(timeout):
        pings.append(timeout)
        return [{f"w{len(pings)}@host": {"ok": "pong"}}]

    monkeypatch.setattr(health.app.control, "ping", ping)
    first = health.recent_worker_check(max_age_s=60)
    second = health.recent_worker_check(max_age_s=60)
    assert len(pings) == 1
    assert first["workers"] == second["workers"] == ["w1@host"]
    assert second["age_s"] >= first["age_s"] == 0.0
    fresh = health.recent_worker_check(max_age_s=0)  # the last answer is too old: ping again
    assert len(pings) == 2 and fresh["workers"] == ["w2@host"]


def test_a_failed_worker_check_is_retried_sooner_than_a_good_one(monkeypatch):
    answers = [[], [{"w@host": {"ok": "pong"}}]]
    monkeypatch.setattr(health.app.control, "ping", lambda timeout: answers.pop(0))
    assert health.recent_worker_check(max_age_s=60, failed_max_age_s=60)["ok"] is False
    assert health.recent_worker_check(max_age_s=60, failed_max_age_s=60)["ok"] is False  # kept
    back = health.recent_worker_check(max_age_s=60, failed_max_age_s=0)
    assert back["ok"] is True and back["workers"] == ["w@host"]
