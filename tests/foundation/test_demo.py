"""The demo command prepares a fresh machine: database migrated, demo account ready."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

from autogen.management.commands.demo import REFUSED_IN_PRODUCTION
from tests.conftest import ROOT, TEST_SECRET_KEY, clean_env, run_manage


def test_demo_migrates_and_creates_the_demo_account_once(tmp_path):
    env = clean_env(AUTOGEN_VAR_DIR=str(tmp_path))
    first = run_manage("demo", "--no-serve", env=env)
    assert first.returncode == 0, first.stderr
    assert "Created demo account 'admin'" in first.stdout
    again = run_manage("demo", "--no-serve", env=env)
    assert again.returncode == 0 and "Created demo account" not in again.stdout
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        staff = db.execute("SELECT is_superuser FROM auth_user WHERE username='admin'").fetchall()
        surveys = db.execute(
            "SELECT s.name, COUNT(r.id) FROM surveys_survey s "
            "JOIN surveys_item i ON i.survey_id = s.id JOIN surveys_response r ON r.item_id = i.id "
            "GROUP BY s.name ORDER BY s.name"
        ).fetchall()
    assert staff == [(1,)]
    # The paper's surveys, imported once: the second run stored nothing twice.
    assert surveys == [
        ("Paper Table 2 (reconstructed)", 967),
        ("Paper Table 4 (reconstructed)", 440),
    ]
    assert "Imported survey 'Paper Table 2 (reconstructed)': 967 answers." in first.stdout
    assert "Imported survey" not in again.stdout


def test_demo_refuses_production_mode(tmp_path):
    env = clean_env(
        AUTOGEN_VAR_DIR=str(tmp_path),
        AUTOGEN_ENV="production",
        SECRET_KEY=TEST_SECRET_KEY,
        ALLOWED_HOSTS="lab.example.org",
    )
    result = run_manage("demo", "--no-serve", env=env)
    assert result.returncode != 0
    assert REFUSED_IN_PRODUCTION in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stopping_the_demo_with_sigterm_stops_its_worker_too(tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            cwd=ROOT, env=clean_env(AUTOGEN_VAR_DIR=str(tmp_path), PYTHONUNBUFFERED=""),
            stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    worker = None
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"Celery worker \(pid (\d+)\)", log.read_text())):
            assert demo.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        worker = int(found.group(1))
        while True:  # serving: the site answers
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert demo.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        assert alive(worker)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0, log.read_text()
        deadline = time.monotonic() + 30
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(worker), "the demo left its Celery worker running"
    finally:  # whatever failed, leave no process behind
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        if worker is not None and alive(worker):
            os.killpg(worker, signal.SIGKILL)
