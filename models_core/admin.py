"""Admin: researchers queue, watch, cancel and resume training runs here.

Queueing goes through :func:`models_core.services.run_create` and ``run_enqueue`` (the same
code the ``train`` command uses), so a run made here trains exactly like one made there.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from models_core import services
from models_core.models import Corpus, Decoding, MetricPoint, TrainingRun
from models_core.nn.config import PRESETS
from models_core.plots import training_curves


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ("name", "fmt", "n_train", "n_test", "vocab_size", "created_at")
    readonly_fields = [f.name for f in Corpus._meta.fields]
    search_fields = ("name",)

    def has_add_permission(self, request):
        return False  # corpora are imported with manage.py import_corpus (files on the server)


class TrainingRunForm(forms.ModelForm):
    preset = forms.ChoiceField(choices=[(name, name) for name in PRESETS], initial="small")
    total_steps = forms.IntegerField(
        label="Steps", min_value=1, required=False, help_text="Empty: the preset's default."
    )
    seed = forms.IntegerField(initial=0)
    m = forms.FloatField(
        required=False, help_text="AutoGen only: extra reconstructions (1 or 2 in the paper)."
    )

    class Meta:
        model = TrainingRun
        fields = ("corpus", "objective", "m", "preset", "total_steps")

    def clean(self):
        data = super().clean()
        try:
            services.objective_for(data.get("objective", ""), data.get("m"))
        except services.ServiceError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


def curves_series(runs) -> dict[str, dict[str, list[float]]]:
    """Train-curve points of `runs`, in the shape `plots.training_curves` takes."""
    series: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        points = list(
            MetricPoint.objects.filter(run=run, split=MetricPoint.Split.TRAIN).values_list(
                "step", "kl_share", "elbo"
            )
        )
        if points:
            steps, shares, elbos = (list(column) for column in zip(*points, strict=True))
            series[f"{run.pk}: {run.label}"] = {"step": steps, "kl_share": shares, "elbo": elbos}
    return series


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    form = TrainingRunForm
    list_display = ("id", "label", "corpus", "status", "progress_bar", "device", "created_at")
    list_filter = ("status", "objective", "corpus")
    actions = ("cancel_runs", "resume_runs")
    readonly_fields = (
        "label",
        "status",
        "progress_bar",
        "step",
        "device",
        "config",
        "final_metrics",
        "error",
        "task_id",
        "created_at",
        "started_at",
        "finished_at",
        "curves",
    )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("corpus", "objective", "m", "preset", "total_steps", "seed")
        return ("corpus", "objective", "m", "preset", "total_steps", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("corpus", "objective", "m", "preset", "total_steps", *self.readonly_fields)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        run = services.run_create(
            corpus=data["corpus"],
            objective=data["objective"],
            m=data.get("m"),
            preset_name=data["preset"],
            steps=data.get("total_steps"),
            seed=data["seed"],
        )
        services.run_enqueue(run)
        obj.pk = run.pk
        obj.refresh_from_db()

    @admin.display(description="progress")
    def progress_bar(self, run: TrainingRun):
        return format_html(
            '<progress value="{}" max="{}" style="width:8em"></progress> {}/{}',
            run.step,
            run.total_steps,
            run.step,
            run.total_steps,
        )

    @admin.display(description="curves (Fig. 2)")
    def curves(self, run: TrainingRun):
        url = reverse("admin:models_core_trainingrun_curves", args=[run.pk, "png"])
        return format_html('<img src="{}" alt="training curves" style="max-width:100%">', url)

    def get_urls(self):
        own = [
            path(
                "<int:pk>/curves.<str:fmt>",
                self.admin_site.admin_view(self.curves_view),
                name="models_core_trainingrun_curves",
            )
        ]
        return own + super().get_urls()

    def curves_view(self, request, pk: int, fmt: str):
        run = get_object_or_404(TrainingRun, pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        if fmt not in ("png", "svg"):
            return HttpResponse("Choose curves.png or curves.svg.", status=404)
        image = training_curves(curves_series([run]), fmt=fmt)
        content_type = "image/png" if fmt == "png" else "image/svg+xml"
        return HttpResponse(image, content_type=content_type)

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset):
        for run in queryset:
            services.run_cancel(run)
        self.message_user(request, f"Asked {queryset.count()} run(s) to stop.")

    @admin.action(description="Resume the selected runs from their last checkpoint")
    def resume_runs(self, request, queryset):
        resumed = sum(services.run_resume(run) for run in queryset)
        self.message_user(request, f"Queued {resumed} run(s).")
        if skipped := queryset.count() - resumed:
            self.message_user(
                request, f"{skipped} run(s) are not failed or cancelled.", messages.WARNING
            )


@admin.register(Decoding)
class DecodingAdmin(admin.ModelAdmin):
    list_display = ("text", "run", "mode", "n_words", "passes_filter", "created_at")
    list_filter = ("mode", "passes_filter", "run")
    search_fields = ("text", "source")
    readonly_fields = [f.name for f in Decoding._meta.fields]

    def has_add_permission(self, request):
        return False
