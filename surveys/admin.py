"""Admin for surveys, answers and report downloads (researchers only: staff, with permissions).

A survey's change page links to its report in every format and shows the HTML report in the
browser; the survey list has an "Import responses" page that calls the same service as the
``import_responses`` command. Raters, items and answers are read-only here, except a rater's
exclusion from the reports.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify

from surveys import reports, selectors
from surveys.imports import ImportRefused, responses_import
from surveys.models import Item, Rater, Response, Survey

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
NO_SURVEY_PERMISSION = (
    "No survey is named {name!r}, and you may not create surveys: import into an existing "
    "survey or ask for the “add survey” permission."
)


class ResponsesImportForm(forms.Form):
    survey = forms.CharField(max_length=200, help_text="Created if no survey has this name.")
    kind = forms.ChoiceField(
        choices=[("pairwise", "pairwise"), ("meaningfulness", "meaningfulness")]
    )
    file = forms.FileField(help_text="CSV with a header line, UTF-8 (see the README).")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit_mb = settings.MAX_UPLOAD_MB
        if upload.size > limit_mb * 10**6:
            raise forms.ValidationError(
                f"{upload.name} is {upload.size / 10**6:.1f} MB; uploads stop at {limit_mb:g} MB "
                "(AUTOGEN_MAX_UPLOAD_MB). Import larger files with manage.py import_responses."
            )
        return upload


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "status", "n_raters", "n_items", "n_responses", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    fields = ("name", "kind", "question", "cap_per_rater", "status", "created_at")

    def get_queryset(self, request: HttpRequest):
        return selectors.surveys_with_counts()

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
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        can_import = request.user.has_perms(IMPORT_PERMISSIONS)
        extra_context = {**(extra_context or {}), "can_import": can_import}
        return super().changelist_view(request, extra_context)

    def _viewable_survey(self, request: HttpRequest, object_id: str) -> Survey:
        survey = get_object_or_404(Survey, pk=object_id)
        if not self.has_view_permission(request, survey):
            raise PermissionDenied
        return survey

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
        survey = self._viewable_survey(request, object_id)
        report = self._report(request, survey)
        if report is None:
            return redirect("admin:surveys_survey_change", survey.pk)
        return HttpResponse(reports.report_html(report), content_type="text/html; charset=utf-8")

    def report_download(self, request: HttpRequest, object_id: str, fmt: str) -> HttpResponse:
        """The report (or raw answers, or datasheet) in ``fmt``, as a file to save."""
        survey = self._viewable_survey(request, object_id)
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
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import responses",
            "form": form,
        }
        return TemplateResponse(request, "admin/surveys/survey/import.html", context)

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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Answers are written by imports and raters, never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ("external_id", "survey", "n_responses", "excluded", "exclusion_reason")
    list_filter = ("survey", "excluded")
    search_fields = ("external_id",)
    readonly_fields = ("survey", "external_id", "token", "created_at")
    fields = ("survey", "external_id", "token", "excluded", "exclusion_reason", "created_at")
    list_select_related = ("survey",)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(n_responses=Count("responses"))

    @admin.display(description="answers", ordering="n_responses")
    def n_responses(self, rater: Rater) -> int:
        return rater.n_responses

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):
    list_display = ("key", "survey", "model_1", "model_2", "length")
    list_filter = ("survey", "model_1", "model_2")
    search_fields = ("key", "text_1", "text_2", "source")
    list_select_related = ("survey",)


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    list_display = ("pk", "survey", "rater", "item", "answer", "left", "response_ms", "created_at")
    list_filter = ("item__survey", "answer", "rater__excluded")
    search_fields = ("rater__external_id", "item__key")
    list_select_related = ("rater", "item__survey")
    show_full_result_count = False  # counting a million answers twice per page is wasted work

    @admin.display(description="survey", ordering="item__survey")
    def survey(self, response: Response) -> Survey:
        return response.item.survey
