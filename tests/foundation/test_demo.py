"""The demo command prepares a fresh machine: database migrated, demo account ready."""

import sqlite3

from models_core.management.commands.demo import REFUSED_IN_PRODUCTION
from tests.conftest import TEST_SECRET_KEY, clean_env, run_manage


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
