"""WSGI entry point (gunicorn autogen.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autogen.settings")

application = get_wsgi_application()
