"""The survey admin: create, open and close, share, watch progress, preview, report.

A researcher (staff with the surveys permissions) creates a draft survey from finished training
runs or an items CSV ("Add survey"), opens it to raters (the exclusion rule is fixed then, and
the design becomes read-only), copies the rater link (or the study URL for Prolific), watches
the answers come in with the power planner's verdict per comparison, previews the survey as a
rater would see it, closes it, and reads or downloads its reports. Every change goes through
:mod:`surveys.services`; every count through :mod:`surveys.selectors`.
"""

from __future__ import annotations

import random

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from models_core.models import TrainingRun
from surveys import material as survey_material
from surveys import progress, reports, selectors, services, stats
from surveys.admin.forms import ResponsesImportForm, SurveyChangeForm, SurveyCreateForm
from surveys.admin.preview import preview_pages
from surveys.imports import ImportRefused, responses_import
from surveys.models import Survey, new_seed

FORMAT_LABELS = {
    "html": "HTML report",
    "md": "Markdown",
    "latex": "LaTeX",
    "csv": "CSV",
    "json": "JSON",
    "answers": "raw answers (CSV)",
    "datasheet": "datasheet",
}
# An import writes answers and creates the raters and items they name: it needs all three
# add permissions, and add_survey too when it creates the survey.
IMPORT_PERMISSIONS = ("surveys.add_response", "surveys.add_rater", "surveys.add_item")
CREATE_SURVEY_PERMISSION = "surveys.add_survey"
# Creating a survey writes the survey and its items.
CREATE_PERMISSIONS = (CREATE_SURVEY_PERMISSION, "surveys.add_item")
VIEW_RUNS_PERMISSION = "models_core.view_trainingrun"
NO_SURVEY_PERMISSION = (
    "No survey is named {name!r}, and you may not create surveys: import into an existing "
    "survey or ask for the “add survey” permission."
)
# Prolific fills these in for each participant (its "URL parameters" option).
PROLIFIC_QUERY = (
    "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
)
# Fixed once raters may have seen the survey: changing them would change the study.
DESIGN_FIELDS = (
    "question", "cap_per_rater", "overlap", "instructed_checks", "gold_checks",
    "exclude_failed_instructed", "exclude_failed_gold", "exclude_median_seconds",
)  # fmt: skip
ALWAYS_READ_ONLY = (
    "kind", "status", "seed", "created_at", "opened_at", "closed_at", "exclusion_rule",
    "exclusion_rule_hash", "material",
)  # fmt: skip
DESIGN_FIELDSET = (
    "cap_per_rater", "overlap", "instructed_checks", "gold_checks", "reservation_minutes", "seed",
)  # fmt: skip
RULE_FIELDSET = (
    "exclude_failed_instructed", "exclude_failed_gold", "exclude_median_seconds",
    "exclusion_rule", "exclusion_rule_hash",
)  # fmt: skip
PLATFORM_FIELDSET = ("platform", "participant_parameter", "completion_url", "completion_code")


def sharing(survey: Survey) -> dict[str, str]:
    """The rater link, and what a crowd platform needs: the study URL and completion code."""
    link = services.survey_link(survey)
    shared = {"link": link, "platform": survey.get_platform_display()}
    if survey.platform == Survey.Platform.PROLIFIC:
        query = PROLIFIC_QUERY.replace("PROLIFIC_PID=", f"{survey.participant_key}=", 1)
        shared |= {"study_url": link + query, "completion_code": survey.completion_code}
    elif survey.platform == Survey.Platform.OTHER:
        shared |= {
            "study_url": f"{link}?{survey.participant_key}=…",
            "completion_code": survey.completion_code,
        }
    if survey.completion_target:
        shared["completion_target"] = survey.completion_target
    return shared


def progress_context(survey: Survey) -> dict:
    """The change page's progress panel: the counts, and a power plan per comparison."""
    counts = selectors.survey_progress(survey=survey)
    rows = [
        (group, progress.power_plan(group.wins_1, group.wins_2) if survey.is_pairwise else None)
        for group in counts.groups
    ]
    return {"progress": counts, "progress_rows": rows, "power": stats.DEFAULT_POWER}


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    form = SurveyChangeForm
    list_display = ("name", "kind", "status", "n_raters", "n_items", "n_responses", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "kind", "status", "title", "question", "instructions")}),
        ("Dates", {"fields": ("created_at", "opened_at", "closed_at")}),
        ("Design", {"fields": DESIGN_FIELDSET}),
        ("Exclusion rule (fixed when the survey first opens)", {"fields": RULE_FIELDSET}),
        ("Crowd platform", {"fields": PLATFORM_FIELDSET}),
        ("How the items were made", {"fields": ("material",), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest):
        return selectors.surveys_with_counts()

    def get_readonly_fields(self, request: HttpRequest, obj: Survey | None = None):
        opened = obj is not None and (obj.opened_at or obj.status != Survey.Status.DRAFT)
        return ALWAYS_READ_ONLY + (DESIGN_FIELDS if opened else ())

    @admin.display(description="raters", ordering="n_raters")
    def n_raters(self, survey: Survey) -> int:
        return survey.n_raters

    @admin.display(description="items", ordering="n_items")
    def n_items(self, survey: Survey) -> int:
        return survey.n_items

    @admin.display(description="answers", ordering="n_responses")
    def n_responses(self, survey: Survey) -> int:
        return survey.n_responses

    def get_urls(self):
        view = self.admin_site.admin_view  # staff only: others go to the login page
        return [
            path(
                "<path:object_id>/report/view/",
                view(self.report_view),
                name="surveys_survey_report_view",
            ),
            path(
                "<path:object_id>/report/<str:fmt>/",
                view(self.report_download),
                name="surveys_survey_report",
            ),
            path(
                "<path:object_id>/open/",
                view(require_POST(self.open_view)),
                name="surveys_survey_open",
            ),
            path(
                "<path:object_id>/close/",
                view(require_POST(self.close_view)),
                name="surveys_survey_close",
            ),
            path(
                "<path:object_id>/preview/", view(self.preview_view), name="surveys_survey_preview"
            ),
            path("import/", view(self.import_view), name="surveys_survey_import"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        links = [
            (label, reverse("admin:surveys_survey_report", args=[object_id, fmt]))
            for fmt, label in FORMAT_LABELS.items()
        ]
        view_url = reverse("admin:surveys_survey_report_view", args=[object_id])
        extra_context = {**(extra_context or {}), "report_links": links, "report_view": view_url}
        survey = self.get_object(request, unquote(object_id))
        if survey is not None and self.has_view_permission(request, survey):
            extra_context |= {
                "sharing": sharing(survey),
                "can_change_status": self.has_change_permission(request, survey),
                **progress_context(survey),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        can_import = request.user.has_perms(IMPORT_PERMISSIONS)
        extra_context = {**(extra_context or {}), "can_import": can_import}
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(CREATE_PERMISSIONS)

    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        """Create a draft survey with its items, from finished runs or an items CSV."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        runs = None
        if request.user.has_perm(VIEW_RUNS_PERMISSION):
            runs = TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED)
            runs = runs.select_related("corpus").order_by("pk")
        form = SurveyCreateForm(request.POST or None, request.FILES or None, runs=runs)
        if request.method == "POST" and form.is_valid():
            try:
                survey = survey_from_form(form.cleaned_data)
            except services.SurveyError as error:
                form.add_error(None, str(error))
            else:
                self.log_addition(request, survey, [{"added": {}}])
                self.message_user(
                    request,
                    f"Created the draft survey {survey.name!r} with {survey.items.count()} "
                    "items. Preview it, then open it to raters.",
                    messages.SUCCESS,
                )
                return redirect("admin:surveys_survey_change", survey.pk)
        return self._page(request, "create.html", "Create a survey", form=form)

    def _page(self, request: HttpRequest, template: str, title: str, **context) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **context,
        }
        return TemplateResponse(request, f"admin/surveys/survey/{template}", context)

    def _survey_for(self, request: HttpRequest, object_id: str, change: bool = False) -> Survey:
        """The survey `object_id` names, if the user may see (or `change`) it: 403 before any
        lookup for those who may not (no answer tells them whether it exists), else 404 for an
        id that is not a survey's (a number or not)."""
        allowed = self.has_change_permission if change else self.has_view_permission
        if not allowed(request):
            raise PermissionDenied
        is_id = object_id.isascii() and object_id.isdigit()
        survey = Survey.objects.filter(pk=int(object_id)).first() if is_id else None
        if survey is None:
            raise Http404(f"No survey has the id {object_id!r}.")
        if not allowed(request, survey):
            raise PermissionDenied
        return survey

    def _set_status(self, request: HttpRequest, object_id: str, action) -> HttpResponse:
        survey = self._survey_for(request, object_id, change=True)
        try:
            survey = action(survey)
        except services.SurveyError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.log_change(request, survey, f"Set the status to {survey.status}.")
            self.message_user(request, f"{survey.name!r} is {survey.status} now.", messages.SUCCESS)
        return redirect("admin:surveys_survey_change", survey.pk)

    def open_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._set_status(request, object_id, services.survey_open)

    def close_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._set_status(request, object_id, services.survey_close)

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A few pages as a rater would see them; nothing is stored."""
        survey = self._survey_for(request, object_id)
        pages = preview_pages(survey, random.Random())
        return self._page(
            request, "preview.html", f"Preview of {survey.name}", survey=survey, pages=pages
        )

    def _report(self, request: HttpRequest, survey: Survey) -> reports.SurveyReport | None:
        """The survey's report with the query's options, or None with a message to the user."""
        try:
            return reports.report_build(
                survey=survey,
                confidence=_number(request, "confidence", float, reports.DEFAULT_CONFIDENCE),
                split=_number(request, "split", int, reports.DEFAULT_SPLIT),
            )
        except reports.ReportUnavailable as error:
            self.message_user(request, str(error), messages.WARNING)
            return None

    def report_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The HTML report, shown in the browser."""
        survey = self._survey_for(request, object_id)
        report = self._report(request, survey)
        if report is None:
            return redirect("admin:surveys_survey_change", survey.pk)
        return HttpResponse(reports.report_html(report), content_type="text/html; charset=utf-8")

    def report_download(self, request: HttpRequest, object_id: str, fmt: str) -> HttpResponse:
        """The report (or raw answers, or datasheet) in ``fmt``, as a file to save."""
        survey = self._survey_for(request, object_id)
        if fmt not in reports.FORMATS:
            raise Http404(f"Unknown report format {fmt!r}.")
        filename = f"{slugify(survey.name) or 'survey'}.{reports.EXTENSIONS[fmt]}"
        content_type = f"{reports.CONTENT_TYPES[fmt]}; charset=utf-8"
        if fmt == "answers":
            response = StreamingHttpResponse(
                reports.answers_lines(survey), content_type=content_type
            )
        else:
            report = self._report(request, survey)
            if report is None:
                return redirect("admin:surveys_survey_change", survey.pk)
            response = HttpResponse(reports.render(report, fmt), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV of answers: the same service as ``manage.py import_responses``."""
        if not request.user.has_perms(IMPORT_PERMISSIONS):
            raise PermissionDenied
        form = ResponsesImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid() and self._may_import_into(request, form):
            upload = form.cleaned_data["file"]
            try:
                summary = responses_import(
                    survey_name=form.cleaned_data["survey"],
                    kind=form.cleaned_data["kind"],
                    file=upload,
                    filename=upload.name,
                )
            except ImportRefused as refused:
                form.add_error(None, str(refused))
            else:
                self.message_user(
                    request,
                    f"Imported {summary.responses_created} answers into {summary.survey!r} "
                    f"({summary.responses_skipped} already there, {summary.raters_created} new "
                    f"raters, {summary.items_created} new items, {summary.items_updated} stored "
                    "items given their sentence).",
                    messages.SUCCESS,
                )
                survey = Survey.objects.get(name=summary.survey)
                return redirect("admin:surveys_survey_change", survey.pk)
        return self._page(request, "import.html", "Import responses", form=form)

    @staticmethod
    def _may_import_into(request: HttpRequest, form: ResponsesImportForm) -> bool:
        """Whether the user may import into the named survey (creating one needs add_survey);
        adds the reason to the form when not."""
        name = form.cleaned_data["survey"].strip()
        if request.user.has_perm(CREATE_SURVEY_PERMISSION):
            return True
        if Survey.objects.filter(name=name).exists():
            return True
        form.add_error("survey", NO_SURVEY_PERMISSION.format(name=name))
        return False


def survey_from_form(data: dict) -> Survey:
    """A draft survey from a valid SurveyCreateForm's data (SurveyError when refused; the
    sentences decoded for a refused survey are deleted again)."""
    kind, seed = data["kind"], new_seed() if data["seed"] is None else data["seed"]
    if data["items_file"]:
        upload = data["items_file"]
        made = survey_material.items_from_csv(kind, upload, filename=upload.name)
    else:
        made = survey_material.items_from_runs(
            kind, list(data["runs"]), data["per_model"], seed, comparisons=data["comparisons"]
        )
    design = services.Design(
        cap=data["cap"],
        overlap=data["overlap"],
        instructed_checks=data["instructed_checks"],
        gold_checks=data["gold_checks"],
        seed=seed,
        title=data["title"],
        exclude_failed_instructed=data["exclude_failed_instructed"],
        exclude_failed_gold=data["exclude_failed_gold"],
        exclude_median_seconds=data["exclude_median_seconds"],
        platform=data["platform"],
        participant_parameter=data["participant_parameter"],
        completion_url=data["completion_url"],
        completion_code=data["completion_code"],
        material=made.provenance,
    )
    try:
        return services.survey_create(name=data["name"], kind=kind, items=made.items, design=design)
    except services.SurveyError:
        survey_material.material_discard(made)
        raise


def _number(request: HttpRequest, name: str, kind: type, default):
    """A number from the query string; the default when absent, a message-worthy error if bad."""
    value = request.GET.get(name)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        raise reports.ReportUnavailable(
            f"Query parameter {name}={value!r} is not a number."
        ) from None
