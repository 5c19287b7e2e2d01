"""Raters, items and answers: read-only, except a rater's exclusion from the reports.

Excluding goes through :func:`surveys.services.rater_exclude`, from a rater's page or for
several raters at once with the "Exclude from the reports" action, which asks for the reason.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count
from django.http import HttpRequest
from django.template.response import TemplateResponse

from surveys import services
from surveys.admin.forms import ExcludeRatersForm
from surveys.models import Item, Rater, Response, Survey


class ReadOnlyAdmin(admin.ModelAdmin):
    """Answers are written by imports and raters, never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = (
        "external_id", "survey", "n_responses", "created_at", "finished_at", "excluded",
        "exclusion_reason",
    )  # fmt: skip
    list_filter = ("survey", "excluded")
    search_fields = ("external_id",)
    readonly_fields = (
        "survey", "external_id", "token", "created_at", "last_seen_at", "finished_at",
        "platform_data", "plan_seed",
    )  # fmt: skip
    fields = (
        "survey", "external_id", "token", "excluded", "exclusion_reason", "created_at",
        "last_seen_at", "finished_at", "platform_data", "plan_seed",
    )  # fmt: skip
    list_select_related = ("survey",)
    actions = ["exclude_selected"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(n_responses=Count("responses"))

    @admin.display(description="answers", ordering="n_responses")
    def n_responses(self, rater: Rater) -> int:
        return rater.n_responses

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: Rater, form, change) -> None:
        if obj.excluded and "excluded" in form.changed_data:
            services.rater_exclude(obj, obj.exclusion_reason)
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Exclude from the reports (asks why)", permissions=["change"])
    def exclude_selected(self, request: HttpRequest, queryset):
        form = ExcludeRatersForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            for rater in queryset:
                services.rater_exclude(rater, reason)
                self.log_change(request, rater, f"Excluded: {reason}")
            self.message_user(
                request, f"Excluded {len(queryset)} rater(s): {reason}", messages.SUCCESS
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Exclude raters from the reports",
            "raters": queryset,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/surveys/rater/exclude.html", context)


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
