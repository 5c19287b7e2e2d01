"""gunicorn's settings for AutoGen Lab, read from the working directory (``gunicorn
autogen.wsgi``; ``-c gunicorn.conf.py`` elsewhere). Command-line flags override them.

Threaded workers (gthread): a rater page spends part of its time waiting on PostgreSQL, and
threads overlap those waits at the price of a few MB each, where a process more costs ~60 MB.
Keep-alive holds a rater's connection between pages (a browser reuses it) without holding a
thread. Measured with ``benchmarks/load_raters.py`` (see benchmarks/README.md, "Load").

Variables: ``GUNICORN_WORKERS`` (default: 2 per core), ``GUNICORN_THREADS`` (default 4).
Each thread holds its own persistent database connection (``CONN_MAX_AGE``): workers × threads
connections per web server, to fit under PostgreSQL's ``max_connections``.
"""

import os

workers = int(os.environ.get("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
keepalive = 5  # seconds: longer than a rater's think time between pages
backlog = 2048  # connections waiting for a thread in a burst (the kernel caps it at somaxconn)
timeout = 30
graceful_timeout = 20
accesslog = None
