"""Decoded sentences in the admin: browsable per run, with the paper filter's verdict."""

from __future__ import annotations

from django.contrib import admin

from models_core.models import Decoding


@admin.register(Decoding)
class DecodingAdmin(admin.ModelAdmin):
    list_display = ("text", "run", "mode", "n_words", "passes_filter", "created_at")
    list_filter = ("mode", "passes_filter", "run")
    search_fields = ("text", "source")
    readonly_fields = [f.name for f in Decoding._meta.fields]

    def has_add_permission(self, request):
        return False
