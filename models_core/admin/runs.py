"""Training runs in the admin: queue, watch (a page that refreshes itself while the run
trains, its curves, speed and ETA), compare, cancel and resume.

Queueing goes through :func:`models_core.services.run_submit` (``run_create`` and
``run_enqueue``, once per form sent; ``run_create`` is what the ``train`` command uses), so a
run made here trains exactly like one made there.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.cache import never_cache

from models_core import selectors, services
from models_core.admin import compare, decoding, display
from models_core.models import TrainingRun
from models_core.nn.config import DEFAULT_PRESET, PRESETS
from models_core.nn.objectives import SCHEDULES
from models_core.nn.train import CURVE_NAME
from models_core.plots import training_curves

FORM_REUSED = (
    "This form already queued run {pk} with other settings; open a new form to queue another."
)


class TrainingRunForm(forms.ModelForm):
    preset = forms.ChoiceField(choices=[(name, name) for name in PRESETS], initial=DEFAULT_PRESET)
    total_steps = forms.IntegerField(
        label="Steps", min_value=1, required=False, help_text="Empty: the preset's default."
    )
    seed = forms.IntegerField(initial=0)
    m = forms.FloatField(
        required=False, help_text="AutoGen only: extra reconstructions (1 or 2 in the paper)."
    )
    anneal = forms.ChoiceField(
        choices=[("", "default (linear for VAE (annealing), as the paper's code)")]
        + [(name, name) for name in SCHEDULES if name not in ("constant", "linear")],
        required=False,
        help_text="VAE (annealing) only: the KL weight's schedule.",
    )
    beta = forms.FloatField(required=False, help_text="Constant KL weight β; empty: 1.")
    free_bits = forms.FloatField(
        required=False, help_text="Free bits λ, nats per latent dimension; empty: none."
    )
    # One id per rendered form: the same form posted twice queues one run (services.run_submit).
    # Not required: a form without one (open since before a deploy, or scripted) still works.
    form_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)

    class Meta:
        model = TrainingRun
        fields = ("corpus", "objective", "m", "preset", "total_steps")

    def run_options(self) -> dict:
        """The cleaned fields as `services.run_create` takes them."""
        data = self.cleaned_data
        return {
            "corpus": data.get("corpus"),
            "objective": data.get("objective", ""),
            "m": data.get("m"),
            "preset_name": data.get("preset", DEFAULT_PRESET),
            "steps": data.get("total_steps"),
            "seed": data.get("seed") or 0,
            "anneal": data.get("anneal") or None,
            "beta": data.get("beta"),
            "free_bits": data.get("free_bits"),
        }

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and data.get("corpus") is not None:
            try:  # everything the run would refuse, before anything is stored
                config = services.run_config(**self.run_options())
            except services.ServiceError as exc:
                raise forms.ValidationError(str(exc)) from None
            token = data.get("form_token")
            sent = token and TrainingRun.objects.filter(submission=token).first()
            if sent and sent.config != config.to_dict():
                # The form came back (the browser's Back button) and was changed: not a repeat.
                raise forms.ValidationError(FORM_REUSED.format(pk=sent.pk))
        return data


def _whole_lines(path, chunk: int = 1 << 20):
    """The file's bytes up to its last newline as the request found it: a run still
    training appends while the download goes on, and a half-written row is no row."""
    with path.open("rb") as f:
        size = f.seek(0, 2)
        start = f.seek(max(0, size - chunk))
        end = start + f.read(size - start).rfind(b"\n") + 1
        f.seek(0)
        while f.tell() < end:
            yield f.read(min(chunk, end - f.tell()))


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    form = TrainingRunForm
    list_display = (
        "id", "label", "experiment", "corpus", "status", "progress_bar", "speed", "eta",
        "device", "created_at",
    )  # fmt: skip
    list_filter = ("status", "objective", "corpus", "experiment")
    list_select_related = ("corpus", "experiment")
    actions = ("compare_runs", "cancel_runs", "resume_runs")
    readonly_fields = (
        "label",
        "experiment",
        "status",
        "progress_bar",
        "step",
        "speed",
        "eta",
        "device",
        "worker",
        "heartbeat_at",
        "config",
        "final_metrics",
        "error",
        "task_id",
        "created_at",
        "started_at",
        "finished_at",
        "curves",
        "decodings",
    )

    def get_fields(self, request, obj=None):
        if obj is None:
            return (
                "corpus", "objective", "m", "anneal", "beta", "free_bits", "preset",
                "total_steps", "seed", "form_token",
            )  # fmt: skip
        return ("corpus", "objective", "m", "preset", "total_steps", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("corpus", "objective", "m", "preset", "total_steps", *self.readonly_fields)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        run, created = services.run_submit(
            submission=form.cleaned_data.get("form_token") or uuid.uuid4(),
            **form.run_options(),
        )
        if not created:
            messages.info(request, f"This form was already sent: it queued run {run.pk}.")
        obj.pk = run.pk
        obj.refresh_from_db()

    @admin.display(description="progress")
    def progress_bar(self, run: TrainingRun):
        return display.progress_bar(run.step, run.total_steps)

    @admin.display(description="steps/s")
    def speed(self, run: TrainingRun):
        return display.speed(run.steps_per_s) if run.is_active else "—"

    @admin.display(description="ETA")
    def eta(self, run: TrainingRun):
        if selectors.run_is_stale(run):
            return "no news from its worker: resume it"
        return display.duration(run.eta_s)

    @admin.display(description="curves (Fig. 2)")
    def curves(self, run: TrainingRun):
        png = reverse("admin:models_core_trainingrun_curves", args=[run.pk, "png"])
        csv = reverse("admin:models_core_trainingrun_curves", args=[run.pk, "csv"])
        return format_html(
            # The step in the address: a page reloaded while the run trains shows new curves.
            '<img src="{}?step={}" alt="training curves" style="max-width:100%">'
            '<p><a href="{}">Every step as CSV</a> (recon, KL, ELBO, KL share, β)</p>',
            png,
            run.step,
            csv,
        )

    @admin.display(description="decodings")
    def decodings(self, run: TrainingRun):
        return decoding.run_decodings(run)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        context = {
            "refresh_s": display.REFRESH_S if run is not None and run.is_active else None,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self):
        own = [
            path(
                "<int:pk>/curves.<str:fmt>",
                self.admin_site.admin_view(self.curves_view),
                name="models_core_trainingrun_curves",
            ),
            path(
                "compare/",
                self.admin_site.admin_view(self.compare_view),
                name="models_core_trainingrun_compare",
            ),
            path(
                "compare.<str:fmt>",
                self.admin_site.admin_view(self.compare_image_view),
                name="models_core_trainingrun_compare_image",
            ),
        ]
        return own + super().get_urls()

    def compare_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return compare.comparison_page(request, self.admin_site)

    @method_decorator(never_cache)
    def compare_image_view(self, request, fmt: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return compare.comparison_image(request, fmt)

    @method_decorator(never_cache)
    def curves_view(self, request, pk: int, fmt: str):
        run = get_object_or_404(TrainingRun, pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        if fmt == "csv":
            # Every optimiser step, as the trainer wrote it (the plots use thinned points).
            curve = run.directory / CURVE_NAME
            if not curve.exists():
                return HttpResponse("This run has no per-step curve yet.", status=404)
            response = StreamingHttpResponse(_whole_lines(curve), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-curve.csv"'
            return response
        if fmt not in ("png", "svg"):
            return HttpResponse("Choose curves.png, curves.svg or curves.csv.", status=404)
        image = training_curves(selectors.runs_curves([run]), fmt=fmt)
        content_type = "image/png" if fmt == "png" else "image/svg+xml"
        return HttpResponse(image, content_type=content_type)

    @admin.action(description="Compare the selected runs (curves and metrics)")
    def compare_runs(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        return HttpResponseRedirect(
            f"{reverse('admin:models_core_trainingrun_compare')}?runs={ids}"
        )

    @admin.action(description="Cancel the selected runs", permissions=["change"])
    def cancel_runs(self, request, queryset):
        for run in queryset:
            services.run_cancel(run)
        self.message_user(request, f"Asked {queryset.count()} run(s) to stop.")

    @admin.action(
        description="Resume the selected runs from their last checkpoint "
        "(failed, cancelled, or running without news from their worker)",
        permissions=["change"],
    )
    def resume_runs(self, request, queryset):
        resumed = sum(services.run_resume(run) for run in queryset)
        self.message_user(request, f"Queued {resumed} run(s).")
        if skipped := queryset.count() - resumed:
            self.message_user(
                request, f"{skipped} run(s) are not failed, cancelled or silent.", messages.WARNING
            )
