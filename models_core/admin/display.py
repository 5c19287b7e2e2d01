"""How the admin shows work in progress: progress, speed and durations, and the pages of jobs queued
for workers (`QueuedJobAdmin`); one place for every page."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
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


class QueuedJobAdmin(admin.ModelAdmin):
    """What the admins of jobs queued for workers share: a form to queue one (``add_fields``), a
    read-only page that shows how it went (``readonly_fields``) and reloads itself while the
    job is queued or running, and a double-clicked form that queues one job."""

    add_fields: tuple[str, ...] = ()
    readonly_fields: tuple[str, ...] = ()

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False  # a job is what was queued; its page shows how it went

    def show_submitted(self, request, obj, job, created: bool) -> None:
        """Point the admin's object at the job the form queued (or had queued already)."""
        if not created:
            messages.info(request, f"This form was already sent: it queued {job}.")
        obj.pk = job.pk
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        meta = self.model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        return HttpResponseRedirect(url)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        active = job is not None and job.is_active
        context = {"refresh_s": REFRESH_S if active else None, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)

    @admin.display(description="progress")
    def progress_bar(self, job):
        return job_progress(job)
