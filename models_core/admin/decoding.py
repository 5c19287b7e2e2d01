"""Decoding in the admin: decode jobs queued for GPU workers, and the sentences they made,
browsable per run with the paper filter's verdict.

Queueing goes through :func:`models_core.services.decode_job_submit` (once per form sent); the
worker calls `run_decode`, as the ``decode`` command does.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from models_core import services
from models_core.admin import display
from models_core.models import DecodeJob, Decoding, TrainingRun
from models_core.nn.decode import DEFAULT_BEAM, INTERPOLATION_STEPS, STRATEGIES

# Sentences shown on a run's or a job's page; the rest are a click away.
SHOWN_DECODINGS = 50


def verdict(decoding: Decoding) -> str:
    return "passes" if decoding.passes_filter else "fails"


def decodings_table(decodings, more_url: str, total: int) -> str:
    """The sentences as a table (mode, source, text, words, the paper filter's verdict), with a
    link to all of them when there are more than `SHOWN_DECODINGS`."""
    if not total:
        return "—"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((d.mode, d.source, d.text, d.n_words, verdict(d)) for d in decodings[:SHOWN_DECODINGS]),
    )
    return format_html(
        "<table><thead><tr><th>mode</th><th>input</th><th>sentence</th><th>words</th>"
        "<th>paper filter</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">All {} sentences</a></p>',
        rows,
        more_url,
        total,
    )


class DecodeJobForm(forms.ModelForm):
    beam = forms.IntegerField(min_value=1, initial=DEFAULT_BEAM, help_text="The paper: 15.")
    strategy = forms.ChoiceField(choices=[(s, s) for s in STRATEGIES], initial="beam")
    steps = forms.IntegerField(
        min_value=2, initial=INTERPOLATION_STEPS, help_text="Interpolation points."
    )
    sentences = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Optional inputs, one a line (reconstruct; two for interpolate). "
        "Empty: a seeded choice of test sentences.",
    )
    form_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)

    class Meta:
        model = DecodeJob
        fields = ("run", "mode", "n", "beam", "strategy", "steps", "seed", "paper_filter")

    def options(self) -> dict:
        data = self.cleaned_data
        return {
            "run": data.get("run"),
            "mode": data.get("mode", ""),
            "n": data.get("n") or 1,
            "beam": data.get("beam") or DEFAULT_BEAM,
            "strategy": data.get("strategy") or "beam",
            "steps": data.get("steps") or INTERPOLATION_STEPS,
            "seed": data.get("seed") or 0,
            "paper_filter": bool(data.get("paper_filter")),
            "sentences": (data.get("sentences") or "").splitlines(),
        }

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and data.get("run") is not None:
            token = data.get("form_token")
            if token and DecodeJob.objects.filter(submission=token).exists():
                return data  # a double-click: save_model finds the job it queued
            try:  # what the job would refuse, before anything is stored
                services.decode_job_check(**self.options())
            except services.ServiceError as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(DecodeJob)
class DecodeJobAdmin(display.QueuedJobAdmin):
    form = DecodeJobForm
    list_display = (
        "id", "run", "mode", "n", "status", "progress_bar", "sentences_made", "created_at",
    )  # fmt: skip
    list_filter = ("status", "mode")
    list_select_related = ("run__corpus",)
    add_fields = (
        "run", "mode", "n", "beam", "strategy", "steps", "seed", "paper_filter", "sentences",
        "form_token",
    )  # fmt: skip
    readonly_fields = (
        "run", "mode", "n", "beam", "strategy", "steps", "seed", "paper_filter", "sentences",
        "status", "progress_bar", "error", "worker", "created_at", "started_at", "finished_at",
        "decodings_made",
    )  # fmt: skip

    def save_model(self, request, obj, form, change):
        job, created = services.decode_job_submit(
            submission=form.cleaned_data.get("form_token") or uuid.uuid4(), **form.options()
        )
        self.show_submitted(request, obj, job, created)

    @admin.display(description="sentences")
    def sentences_made(self, job: DecodeJob):
        return job.decodings.count()

    @admin.display(description="sentences made")
    def decodings_made(self, job: DecodeJob):
        more = f"{reverse('admin:models_core_decoding_changelist')}?job__id__exact={job.pk}"
        return decodings_table(list(job.decodings.all()), more, job.decodings.count())


def run_decodings(run: TrainingRun) -> str:
    """A run's decode jobs and its latest sentences, for its page."""
    jobs = format_html_join(
        "",
        '<li><a href="{}">{}</a>: {}</li>',
        (
            (reverse("admin:models_core_decodejob_change", args=[job.pk]), job, job.status)
            for job in run.decode_jobs.order_by("-created_at")[:10]
        ),
    )
    decode = f"{reverse('admin:models_core_decodejob_add')}?run={run.pk}"
    more = f"{reverse('admin:models_core_decoding_changelist')}?run__id__exact={run.pk}"
    latest = list(run.decodings.order_by("-created_at", "batch", "index")[:SHOWN_DECODINGS])
    return format_html(
        '<p><a href="{}">Decode with this run on a worker</a></p><ul>{}</ul>{}',
        decode,
        jobs,
        decodings_table(latest, more, run.decodings.count()),
    )


@admin.register(Decoding)
class DecodingAdmin(admin.ModelAdmin):
    list_display = ("text", "run", "mode", "n_words", "passes_filter", "job", "created_at")
    list_filter = ("mode", "passes_filter", "run", "job")
    search_fields = ("text", "source")
    readonly_fields = [f.name for f in Decoding._meta.fields]

    def has_add_permission(self, request):
        return False
