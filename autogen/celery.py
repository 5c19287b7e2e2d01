"""The Celery app: settings come from Django's (``CELERY_`` namespace), tasks from each app's
``tasks.py``. Start a worker with ``celery -A autogen worker -Q default,gpu``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autogen.settings")

app = Celery("autogen")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="autogen.ping")
def ping() -> str:
    """A task that does nothing but prove a worker consumed it (health checks, tests)."""
    return "pong"
