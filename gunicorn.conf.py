"""gunicorn's settings for AutoGen Lab, read from the working directory (``gunicorn
autogen.wsgi``; ``-c gunicorn.conf.py`` elsewhere). Command-line flags override them.

Threaded workers (gthread): a rater page spends part of its time waiting on PostgreSQL, and
threads overlap those waits at the price of a few MB each, where a process more costs ~60 MB.
Keep-alive holds a rater's connection between pages (a browser reuses it) without holding a
thread. Measured with ``benchmarks/load_raters.py`` (see benchmarks/README.md, "Load").

Variables: ``GUNICORN_WORKERS`` (default: one per core: Python runs one thread at a time per
process, so more processes than cores only contend with each other and with PostgreSQL),
``GUNICORN_THREADS`` (default 8: a thread waits ~4 ms for each commit's disk flush, about what
it spends on the CPU per page, so a handful per process keep the cores busy).
Each thread holds its own persistent database connection (``CONN_MAX_AGE``): workers × threads
connections per web server, to fit under PostgreSQL's ``max_connections``.
"""

import gc
import os

workers = int(os.environ.get("GUNICORN_WORKERS", os.cpu_count() or 1))
threads = int(os.environ.get("GUNICORN_THREADS", 8))
worker_class = "gthread"
keepalive = 5  # seconds: longer than a rater's think time between pages
backlog = 2048  # connections waiting for a thread in a burst (the kernel caps it at somaxconn)
timeout = 30
graceful_timeout = 20
accesslog = None


def post_worker_init(worker) -> None:
    """Move the objects of the loaded app (Django, and the torch, pandas and matplotlib the
    project imports: ~350,000) out of the garbage collector's sight: a full collection walked
    them all, ~200 ms with the worker's every request stalled (the p95 spikes under load)."""
    gc.freeze()
