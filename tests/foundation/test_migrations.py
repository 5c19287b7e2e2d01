"""Migrations apply on a fresh SQLite file and on a fresh PostgreSQL database."""

import uuid

import psycopg
import pytest

from tests.conftest import clean_env, postgres_url, run_manage


def test_migrations_apply_on_a_fresh_sqlite_database(tmp_path):
    result = run_manage("migrate", "--noinput", env=clean_env(AUTOGEN_VAR_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "db.sqlite3").stat().st_size > 0
    shown = run_manage("showmigrations", "--plan", env=clean_env(AUTOGEN_VAR_DIR=str(tmp_path)))
    assert "[ ]" not in shown.stdout


def test_models_and_migrations_agree(tmp_path):
    result = run_manage(
        "makemigrations", "--check", "--dry-run", env=clean_env(AUTOGEN_VAR_DIR=str(tmp_path))
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_apply_on_a_fresh_postgresql_database(tmp_path):
    server = postgres_url()
    if server is None:
        pytest.skip("no PostgreSQL server reachable (set DATABASE_URL to test against one)")
    base = server.rsplit("/", 1)[0]
    name = f"autogen_migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = clean_env(AUTOGEN_VAR_DIR=str(tmp_path), DATABASE_URL=f"{base}/{name}")
        result = run_manage("migrate", "--noinput", env=env)
        assert result.returncode == 0, result.stderr
        with psycopg.connect(f"{base}/{name}") as conn:
            applied = conn.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
        assert applied > 10
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
