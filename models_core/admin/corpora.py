"""Corpora in the admin: what the importer counted, and the paper's four models in one click."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from models_core.admin.experiments import can_queue_experiments
from models_core.models import Corpus


def train_four_url(corpus: Corpus) -> str:
    return f"{reverse('admin:models_core_experiment_add')}?corpus={corpus.pk}"


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ("name", "fmt", "n_train", "n_test", "vocab_size", "created_at", "train_four")
    readonly_fields = [f.name for f in Corpus._meta.fields]
    search_fields = ("name",)
    actions = ("train_paper_models",)

    def has_add_permission(self, request):
        return False  # corpora are imported with manage.py import_corpus (files on the server)

    @admin.display(description="the paper's four models")
    def train_four(self, corpus: Corpus):
        return format_html('<a href="{}">Train them</a>', train_four_url(corpus))

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not can_queue_experiments(request):
            actions.pop("train_paper_models", None)
        return actions

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return shown if can_queue_experiments(request) else [n for n in shown if n != "train_four"]

    @admin.action(description="Train the paper's four models on the selected corpus")
    def train_paper_models(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select one corpus.", messages.WARNING)
            return None
        return HttpResponseRedirect(train_four_url(queryset.get()))
