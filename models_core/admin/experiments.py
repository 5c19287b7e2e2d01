"""Experiments in the admin: the paper's four models queued in one form, watched together.

Queueing goes through :func:`models_core.services.experiment_submit` (once per form sent),
which makes four runs exactly as the run form and the ``train`` command do.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from models_core import selectors, services
from models_core.admin import display
from models_core.models import Experiment
from models_core.nn.config import DEFAULT_PRESET, DEVICES, PRESETS

FORM_REUSED = (
    "This form already queued experiment {pk} with other settings; "
    "open a new form to queue another."
)


def can_queue_experiments(request) -> bool:
    """Queueing an experiment makes runs: both permissions are needed."""
    user = request.user
    return user.has_perm("models_core.add_experiment") and user.has_perm(
        "models_core.add_trainingrun"
    )


class ExperimentForm(forms.ModelForm):
    name = forms.CharField(required=False, help_text="Empty: corpus, preset, steps and seed.")
    preset = forms.ChoiceField(choices=[(name, name) for name in PRESETS], initial=DEFAULT_PRESET)
    steps = forms.IntegerField(min_value=1, required=False, help_text="Empty: the preset's.")
    seed = forms.IntegerField(initial=0)
    device = forms.ChoiceField(
        choices=[(name, name) for name in DEVICES],
        initial="auto",
        help_text="auto: a GPU when the worker has one; cuda fails on a worker without one.",
    )
    # One id per rendered form: the same form posted twice queues one experiment.
    form_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)

    class Meta:
        model = Experiment
        fields = ("corpus", "name", "preset", "steps", "seed")

    def options(self) -> dict:
        """The cleaned fields as `services.experiment_create` takes them."""
        data = self.cleaned_data
        return {
            "corpus": data.get("corpus"),
            "name": data.get("name") or "",
            "preset_name": data.get("preset", DEFAULT_PRESET),
            "steps": data.get("steps"),
            "seed": data.get("seed") or 0,
            "device": data.get("device") or "auto",
        }

    def clean(self):
        data = super().clean()
        if self.instance.pk is not None or data.get("corpus") is None:
            return data
        options = {k: v for k, v in self.options().items() if k != "name"}
        try:  # everything the four runs would refuse, before anything is stored
            steps = services.experiment_configs(**options)[0].train.steps
        except services.ServiceError as exc:
            raise forms.ValidationError(str(exc)) from None
        token = data.get("form_token")
        sent = token and Experiment.objects.filter(submission=token).first()
        if sent:
            asked = (options["corpus"].pk, options["preset_name"], steps, options["seed"])
            if (sent.corpus_id, sent.preset, sent.steps, sent.seed) != asked:
                raise forms.ValidationError(FORM_REUSED.format(pk=sent.pk))
        return data


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    list_display = ("id", "name", "corpus", "preset", "steps", "seed", "runs_done", "compare")
    list_filter = ("corpus", "preset")
    list_select_related = ("corpus",)
    readonly_fields = ("name", "corpus", "preset", "steps", "seed", "created_at", "runs_table")
    add_fields = ("corpus", "name", "preset", "steps", "seed", "device", "form_token")

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else (*self.readonly_fields, "compare")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else (*self.readonly_fields, "compare")

    def has_add_permission(self, request):
        return can_queue_experiments(request)

    def has_change_permission(self, request, obj=None):
        return False  # an experiment is what was queued; its pages only show it

    def save_model(self, request, obj, form, change):
        experiment, created = services.experiment_submit(
            submission=form.cleaned_data.get("form_token") or uuid.uuid4(), **form.options()
        )
        if not created:
            messages.info(request, f"This form was already sent: it queued {experiment}.")
        obj.pk = experiment.pk
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        # Straight to the experiment's page, to watch its four runs.
        return HttpResponseRedirect(reverse("admin:models_core_experiment_change", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        experiment = self.get_object(request, object_id)
        active = experiment is not None and any(
            run.is_active for run in selectors.experiment_runs(experiment)
        )
        context = {"refresh_s": display.REFRESH_S if active else None, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)

    @admin.display(description="runs done")
    def runs_done(self, experiment: Experiment):
        runs = selectors.experiment_runs(experiment)
        done = sum(run.status == run.Status.SUCCEEDED for run in runs)
        return f"{done}/{len(runs)}"

    @admin.display(description="comparison")
    def compare(self, experiment: Experiment):
        url = reverse("admin:models_core_trainingrun_compare")
        return format_html('<a href="{}?experiment={}">Curves and metrics</a>', url, experiment.pk)

    @admin.display(description="runs")
    def runs_table(self, experiment: Experiment):
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:models_core_trainingrun_change", args=[run.pk]),
                    run.pk,
                    run.label,
                    run.status,
                    display.progress_bar(run.step, run.total_steps),
                    display.speed(run.steps_per_s) if run.is_active else "—",
                    display.duration(run.eta_s),
                    run.device or "—",
                )
                for run in selectors.experiment_runs(experiment)
            ),
        )
        return format_html(
            "<table><thead><tr><th>run</th><th>model</th><th>status</th><th>progress</th>"
            "<th>steps/s</th><th>ETA</th><th>device</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )
