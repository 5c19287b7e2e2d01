"""How the admin shows progress, speed and durations: one place for every page."""

from __future__ import annotations

from django.utils import timezone
from django.utils.html import format_html

# Pages of work in progress reload themselves this often (seconds).
REFRESH_S = 5


def duration(seconds: float | None) -> str:
    """``2h 05m``, ``3m 20s``, ``45s``; a dash when unknown."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def speed(steps_per_s: float | None) -> str:
    if not steps_per_s:
        return "—"
    return f"{steps_per_s:.2f}" if steps_per_s < 10 else f"{steps_per_s:.0f}"


def progress_bar(done: float, total: float, text: str = "") -> str:
    """An HTML progress bar with `text` beside it (``done/total`` by default)."""
    return format_html(
        '<progress value="{}" max="{}" style="width:8em"></progress> {}',
        done,
        total or 1,
        text or f"{done:g}/{total:g}",
    )


def job_progress(job) -> str:
    """A queued job's bar (decode job, corpus import): its share done and its state, with the
    time it has been running (the engine reports no finer progress for one call)."""
    text = job.status
    if job.status == "running" and job.started_at:
        text = f"running for {duration((timezone.now() - job.started_at).total_seconds())}"
    return progress_bar(job.progress, 1, text)
