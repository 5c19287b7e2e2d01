"""Settings load in both modes; production refuses unsafe configurations."""

import json

import pytest

from tests.conftest import TEST_SECRET_KEY, clean_env, run_manage, run_python

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "engine": s.DATABASES["default"]["ENGINE"], "name": str(s.DATABASES["default"]["NAME"]),
    "broker": s.CELERY_BROKER_URL, "results": s.CELERY_RESULT_BACKEND, "debug": s.DEBUG,
    "secret": s.SECRET_KEY, "production": s.PRODUCTION, "acks_late": s.CELERY_TASK_ACKS_LATE,
    "queues": [q.name for q in s.CELERY_TASK_QUEUES], "serializer": s.CELERY_TASK_SERIALIZER,
}))
"""


def load_settings(**env: str) -> dict:
    env.setdefault("DJANGO_SETTINGS_MODULE", "autogen.settings")
    result = run_python(SHOW_SETTINGS, clean_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_development_defaults_need_no_services(tmp_path):
    loaded = load_settings(AUTOGEN_VAR_DIR=str(tmp_path))
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["name"] == str(tmp_path / "db.sqlite3")
    assert loaded["broker"].startswith("filesystem://")
    assert loaded["results"] == f"file://{tmp_path / 'celery-results'}"
    assert loaded["debug"] is True
    assert loaded["production"] is False
    assert loaded["acks_late"] is True
    assert loaded["queues"] == ["default", "gpu"]
    assert loaded["serializer"] == "json"


def test_development_secret_key_is_generated_once_and_kept(tmp_path):
    first = load_settings(AUTOGEN_VAR_DIR=str(tmp_path))["secret"]
    second = load_settings(AUTOGEN_VAR_DIR=str(tmp_path))["secret"]
    assert len(first) >= 50
    assert first == second == (tmp_path / "secret_key").read_text().strip()
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_service_urls_come_from_the_environment(tmp_path):
    loaded = load_settings(
        AUTOGEN_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/autogen",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/3",
    )
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["name"] == "autogen"
    assert loaded["broker"] == "redis://127.0.0.1:6379/3"
    assert loaded["results"] == "redis://127.0.0.1:6379/3"


def production_env(tmp_path, **overrides: str) -> dict[str, str]:
    env = {
        "AUTOGEN_ENV": "production",
        "SECRET_KEY": TEST_SECRET_KEY,
        "ALLOWED_HOSTS": "lab.example.org",
        "AUTOGEN_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "autogen.settings",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_production_mode_loads_with_its_variables(tmp_path):
    loaded = load_settings(**production_env(tmp_path))
    assert loaded["production"] is True
    assert loaded["debug"] is False
    assert loaded["secret"] == TEST_SECRET_KEY
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "1"}, "refuses to start with DEBUG on"),
        ({"SECRET_KEY": None}, "needs SECRET_KEY"),
        ({"ALLOWED_HOSTS": None}, "needs ALLOWED_HOSTS"),
        ({"AUTOGEN_ENV": "staging"}, "AUTOGEN_ENV='staging': expected one of"),
    ],
)
def test_production_mode_refuses_unsafe_settings(tmp_path, overrides, message):
    env = clean_env(**production_env(tmp_path, **overrides))
    result = run_python(SHOW_SETTINGS, env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_check_deploy_reports_no_issues_in_production(tmp_path):
    result = run_manage("check", "--deploy", env=clean_env(**production_env(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("value", ["0", "-5"])
def test_an_upload_cap_of_zero_or_less_is_refused(tmp_path, value):
    env = clean_env(AUTOGEN_VAR_DIR=str(tmp_path), AUTOGEN_MAX_UPLOAD_MB=value)
    result = run_python(
        "import django; django.setup()", {**env, "DJANGO_SETTINGS_MODULE": "autogen.settings"}
    )
    assert result.returncode != 0
    assert "AUTOGEN_MAX_UPLOAD_MB must be above 0" in result.stderr
