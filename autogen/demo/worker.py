"""The Celery worker the demo starts, in its own process group, and stops with it.

Two pool processes of one torch thread each, rather than one process of two threads: 1.4× the
training steps/s on two quiet cores, and several times more when anything else runs (two
threads of one small model wait on each other through OpenMP as soon as a core is busy
elsewhere); measured in benchmarks/README.md ("The demo's worker"). The worker's messages go to
a log file, so that the terminal shows the progress bars.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# A fixed name, so a demo started again takes back the runs its last worker was training.
WORKER_NAME = "demo@%h"
WORKER_CONCURRENCY = 2
TORCH_THREADS = 1
STOP_GRACE_S = 30
LOG_NAME = "demo-worker.log"


def worker_command() -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "autogen", "worker",
        "-Q", "default,gpu", "--concurrency", str(WORKER_CONCURRENCY),
        "-n", WORKER_NAME, "--include", "autogen.demo.tasks", "--loglevel", "warning",
    ]  # fmt: skip


def worker_start(log: Path) -> subprocess.Popen:
    """Start the worker, writing to `log`; its own session, so Ctrl-C reaches the demo, which
    stops it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(TORCH_THREADS), "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as out:
        return subprocess.Popen(
            worker_command(), stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip


def worker_stop(worker: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Warm shutdown (running tasks are given `grace_s` to finish), then kill the group."""
    try:
        worker.send_signal(signal.SIGTERM)  # the main process stops its pool itself
        worker.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    except ProcessLookupError:
        pass  # already gone


def log_tail(log: Path, lines: int = 15) -> str:
    """The end of the worker's log, to show when it stopped by itself."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
