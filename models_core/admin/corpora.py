"""Corpora in the admin: imported from uploads or a server path by a worker, what the importer
counted, and the paper's four models in one click.

Imports go through :mod:`models_core.services.corpus_imports`: the files are checked and stored
first (a bad file is refused with the importer's one-line message, nothing stored), then a
worker of the ``default`` queue prepares them with `corpus_import`, as ``import_corpus`` does.
"""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from models_core import services
from models_core.admin import display
from models_core.admin.experiments import can_queue_experiments
from models_core.models import Corpus, CorpusImport
from models_core.nn.corpus import (
    DEFAULT_MAX_LEN,
    DEFAULT_MIN_LEN,
    DEFAULT_TEST_FRACTION,
    DEFAULT_VOCAB_SIZE,
    FORMATS,
)

# What the importer counted (`CorpusInfo.to_dict()`), in the order a reader wants it.
STATS = (
    ("n_read", "sentences read", "{:,}"),
    ("n_too_short", "too short", "{:,}"),
    ("n_too_long", "too long", "{:,}"),
    ("n_kept", "kept", "{:,}"),
    ("n_train", "training sentences", "{:,}"),
    ("n_test", "test sentences", "{:,}"),
    ("mean_length", "mean length (tokens)", "{:.1f}"),
    ("train_tokens", "training tokens", "{:,}"),
    ("vocab_size", "vocabulary (with the 4 special tokens)", "{:,}"),
    ("unk_rate", "unknown words, training split", "{:.2%}"),
    ("test_unk_rate", "unknown words, test split", "{:.2%}"),
    ("formats", "format of each file", "{}"),
)


def stats_table(stats: dict) -> str:
    if not stats:
        return "—"
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td></tr>",
        (
            (label, shape.format(", ".join(stats[key]) if key == "formats" else stats[key]))
            for key, label, shape in STATS
            if key in stats
        ),
    )
    return format_html("<table>{}</table>", rows)


def train_four_url(corpus: Corpus) -> str:
    return f"{reverse('admin:models_core_experiment_add')}?corpus={corpus.pk}"


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ("name", "fmt", "n_train", "n_test", "vocab_size", "created_at", "train_four")
    readonly_fields = (
        "name", "fmt", "n_train", "n_test", "vocab_size", "min_len", "max_len", "seed",
        "test_fraction", "source", "created_at", "statistics", "imported_by",
    )  # fmt: skip
    search_fields = ("name",)
    actions = ("train_paper_models",)

    def get_fields(self, request, obj=None):
        return self.readonly_fields

    def has_add_permission(self, request):
        return False  # imported, by a worker ("Import a corpus") or with manage.py import_corpus

    @admin.display(description="the paper's four models")
    def train_four(self, corpus: Corpus):
        return format_html('<a href="{}">Train them</a>', train_four_url(corpus))

    @admin.display(description="what the importer counted")
    def statistics(self, corpus: Corpus):
        return stats_table(corpus.stats)

    @admin.display(description="imported by")
    def imported_by(self, corpus: Corpus):
        job = corpus.imports.order_by("-pk").first()
        if job is None:
            return "manage.py import_corpus"
        url = reverse("admin:models_core_corpusimport_change", args=[job.pk])
        return format_html('<a href="{}">{}</a> ({})', url, job, job.get_origin_display())

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not can_queue_experiments(request):
            actions.pop("train_paper_models", None)
        return actions

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return shown if can_queue_experiments(request) else [n for n in shown if n != "train_four"]

    def changelist_view(self, request, extra_context=None):
        can_import = request.user.has_perm("models_core.add_corpusimport")
        url = reverse("admin:models_core_corpusimport_add") if can_import else ""
        context = {"import_url": url}
        return super().changelist_view(request, {**context, **(extra_context or {})})

    @admin.action(description="Train the paper's four models on the selected corpus")
    def train_paper_models(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select one corpus.", messages.WARNING)
            return None
        return HttpResponseRedirect(train_four_url(queryset.get()))


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files (Django's documented pattern for ``<input multiple>``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        one = super().clean
        if isinstance(data, list | tuple):
            return [one(d, initial) for d in data if d]
        return [one(data, initial)] if data else []


class CorpusImportForm(forms.ModelForm):
    files = MultipleFileField(
        required=False,
        allow_empty_file=True,  # refused by the importer, in its words
        help_text="Raw books or one sentence per line, UTF-8; up to AUTOGEN_MAX_UPLOAD_MB "
        "together.",
    )
    server_path = forms.CharField(
        required=False,
        help_text="Or a file or folder (its .txt files) under AUTOGEN_IMPORT_ROOT, relative to it.",
    )
    fmt = forms.ChoiceField(choices=[(f, f) for f in FORMATS], initial="auto", label="Format")
    vocab_size = forms.IntegerField(min_value=1, initial=DEFAULT_VOCAB_SIZE)
    min_len = forms.IntegerField(min_value=1, initial=DEFAULT_MIN_LEN)
    max_len = forms.IntegerField(min_value=1, initial=DEFAULT_MAX_LEN)
    test_fraction = forms.FloatField(min_value=0.0, max_value=1.0, initial=DEFAULT_TEST_FRACTION)
    seed = forms.IntegerField(initial=0)
    form_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)

    class Meta:
        model = CorpusImport
        fields = ("name", "fmt", "vocab_size", "min_len", "max_len", "test_fraction", "seed")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if settings.IMPORT_ROOT is None:  # per form: the setting may change (tests)
            self.fields["server_path"].disabled = True
            self.fields["server_path"].help_text = services.IMPORT_ROOT_UNSET

    def options(self) -> dict:
        data = self.cleaned_data
        keys = ("fmt", "vocab_size", "min_len", "max_len", "test_fraction", "seed")
        return {key: data[key] for key in keys}

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        token = data.get("form_token")
        if token and CorpusImport.objects.filter(submission=token).exists():
            return data  # a double-click: save_model finds the import it queued
        if data["min_len"] > data["max_len"]:
            raise forms.ValidationError("Need min_len <= max_len.")
        files, where = data.get("files") or [], (data.get("server_path") or "").strip()
        try:
            services.corpus_import_check_name(data["name"])
            if bool(files) == bool(where):
                raise services.ServiceError(services.NO_FILES)
            # Last, once all else is valid: the files are checked and stored (or refused).
            if files:
                data["origin"] = CorpusImport.Source.UPLOAD
                data["paths"] = services.corpus_upload_store(files)
            else:
                data["origin"] = CorpusImport.Source.SERVER
                data["paths"] = services.corpus_server_files(where)
        except services.ServiceError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(CorpusImport)
class CorpusImportAdmin(display.QueuedJobAdmin):
    form = CorpusImportForm
    list_display = ("id", "name", "origin", "status", "progress_bar", "corpus", "created_at")
    list_filter = ("status", "origin")
    add_fields = (
        "name", "files", "server_path", "fmt", "vocab_size", "min_len", "max_len",
        "test_fraction", "seed", "form_token",
    )  # fmt: skip
    readonly_fields = (
        "name", "origin", "files_imported", "fmt", "vocab_size", "min_len", "max_len",
        "test_fraction", "seed", "status", "progress_bar", "error", "worker", "corpus",
        "statistics", "created_at", "started_at", "finished_at",
    )  # fmt: skip

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        job, created = services.corpus_import_submit(
            submission=data.get("form_token") or uuid.uuid4(),
            name=data["name"],
            origin=data.get("origin", ""),
            paths=data.get("paths", []),
            **form.options(),
        )
        self.show_submitted(request, obj, job, created)

    @admin.display(description="files")
    def files_imported(self, job: CorpusImport):
        return format_html_join("", "<div>{}</div>", ((path,) for path in job.paths))

    @admin.display(description="what the importer counted")
    def statistics(self, job: CorpusImport):
        return stats_table(job.corpus.stats) if job.corpus else "—"
