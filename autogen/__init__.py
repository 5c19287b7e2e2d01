"""AutoGen Lab project package: settings, URLs, the Celery app."""

from autogen.celery import app as celery_app

__all__ = ("celery_app",)
