"""The admin's forms: answers upload, creating a survey, a survey's settings, excluding raters."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.db.models import QuerySet

from models_core.models import TrainingRun
from surveys import material, services
from surveys.models import DEFAULT_CAP, DEFAULT_TITLE, Survey

PAIR_SEPARATORS = re.compile(r"\s*(?:vs\.?|[-:,/ ])\s*", re.IGNORECASE)


def _capped(upload, hint: str):
    """`upload` if it is within settings.MAX_UPLOAD_MB, else a ValidationError saying so."""
    limit_mb = settings.MAX_UPLOAD_MB
    if upload is not None and upload.size > limit_mb * 10**6:
        raise forms.ValidationError(
            f"{upload.name} is {upload.size / 10**6:.1f} MB; uploads stop at {limit_mb:g} MB "
            f"(AUTOGEN_MAX_UPLOAD_MB). {hint}"
        )
    return upload


class ResponsesImportForm(forms.Form):
    survey = forms.CharField(max_length=200, help_text="Created if no survey has this name.")
    kind = forms.ChoiceField(
        choices=[("pairwise", "pairwise"), ("meaningfulness", "meaningfulness")]
    )
    file = forms.FileField(help_text="CSV with a header line, UTF-8 (see the README).")

    def clean_file(self):
        return _capped(
            self.cleaned_data["file"], "Import larger files with manage.py import_responses."
        )


def check_platform(form: forms.Form, data: dict) -> None:
    """Add the services' verdict on the crowd-platform settings in `data` to `form`."""
    design = services.Design(
        platform=data.get("platform") or Survey.Platform.NONE,
        participant_parameter=data.get("participant_parameter") or "",
        completion_url=data.get("completion_url") or "",
    )
    try:
        services.survey_check_platform(design)
    except services.SurveyError as error:
        form.add_error(None, str(error))


class SurveyCreateForm(forms.Form):
    """A draft survey from trained runs or from an items CSV, with its whole design."""

    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Survey.Kind.choices)
    title = forms.CharField(
        max_length=200, initial=DEFAULT_TITLE, help_text="What raters see (never a model name)."
    )
    runs = forms.ModelMultipleChoiceField(
        queryset=TrainingRun.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Finished runs to make the items from (or upload an items CSV instead).",
    )
    comparisons = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 30}),
        help_text="Pairwise from runs: one comparison per line, two run ids (e.g. “7 vs 5”). "
        "Empty: the paper's three when the four paper models are chosen.",
    )
    per_model = forms.IntegerField(
        label="N per model or comparison", min_value=1, initial=material.DEFAULT_PER_MODEL
    )
    items_file = forms.FileField(
        label="Items CSV",
        required=False,
        help_text="Pairwise: item,source,model_1,text_1,model_2,text_2; meaningfulness: "
        "item,model,sentence (UTF-8, a header line).",
    )
    seed = forms.IntegerField(required=False, min_value=0, help_text="Empty: a random seed.")
    cap = forms.IntegerField(label="Cap per rater", min_value=1, initial=DEFAULT_CAP)
    overlap = forms.IntegerField(
        required=False, min_value=1, help_text="Raters per item (k, for agreement); empty: any."
    )
    instructed_checks = forms.IntegerField(min_value=0, initial=0)
    gold_checks = forms.IntegerField(min_value=0, initial=0)
    exclude_failed_instructed = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Exclude a rater failing this many instructed checks.",
    )
    exclude_failed_gold = forms.IntegerField(
        required=False, min_value=1, help_text="Exclude a rater failing this many gold questions."
    )
    exclude_median_seconds = forms.FloatField(
        required=False, min_value=0.1, help_text="Exclude a rater faster than this median (s)."
    )
    platform = forms.ChoiceField(choices=Survey.Platform.choices)
    participant_parameter = forms.CharField(
        max_length=50, required=False, help_text="Another platform: the participant id's name."
    )
    completion_url = forms.CharField(
        max_length=500, required=False, help_text="Another platform: a URL with {code}."
    )
    completion_code = forms.CharField(
        max_length=50, required=False, help_text="Prolific's completion code; empty: generated."
    )

    def __init__(self, *args, runs: QuerySet[TrainingRun] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if runs is None:  # the user may not see training runs: items CSV only
            del self.fields["runs"], self.fields["comparisons"]
        else:
            self.fields["runs"].queryset = runs

    def clean_items_file(self):
        return _capped(self.cleaned_data["items_file"], "Split the items into smaller files.")

    def clean(self):
        data = super().clean()
        runs, upload = data.get("runs"), data.get("items_file")
        if bool(runs) == bool(upload):
            self.add_error(None, "Choose finished runs or upload an items CSV (one of the two).")
        data["comparisons"] = self._comparisons(data) if runs else None
        check_platform(self, data)
        return data

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Survey.objects.filter(name=name).exists():  # before minutes of decoding, not after
            raise forms.ValidationError("A survey with this name exists already.")
        return name

    def _comparisons(self, data: dict) -> list[tuple[int, int]] | None:
        """Pairs of run ids, model 1 first; surveys.material checks they are chosen runs."""
        text = (data.get("comparisons") or "").strip()
        if not text or data.get("kind") != Survey.Kind.PAIRWISE:
            return None
        pairs = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            ids = [part for part in PAIR_SEPARATORS.split(line.strip()) if part]
            if len(ids) != 2 or not all(i.isdigit() for i in ids):
                self.add_error("comparisons", f"Line {number}: two run ids, e.g. 7 vs 5.")
                continue
            pairs.append((int(ids[0]), int(ids[1])))
        return pairs or None


class SurveyChangeForm(forms.ModelForm):
    """A survey's settings; the crowd-platform ones checked as survey_create checks them."""

    class Meta:
        model = Survey
        fields = (
            "name", "title", "question", "instructions", "cap_per_rater", "overlap",
            "instructed_checks", "gold_checks", "reservation_minutes", "exclude_failed_instructed",
            "exclude_failed_gold", "exclude_median_seconds", "platform", "participant_parameter",
            "completion_url", "completion_code",
        )  # fmt: skip

    def clean(self):
        data = super().clean()
        if "platform" in self.fields:
            check_platform(self, data)
        return data


class ExcludeRatersForm(forms.Form):
    reason = forms.CharField(
        max_length=200, help_text="Kept with the rater and listed in the datasheet."
    )
