"""The comparison page: runs side by side, an experiment's four or any selection.

The paper's Fig. 2 curves overlaid (drawn from the stored `MetricPoint` rows), and one table
of the latent-use metrics that a worker computed on the test split when each run ended
(``final_metrics["evaluation"]``, what ``manage.py evaluate --json`` prints).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from models_core import selectors
from models_core.admin import display
from models_core.models import TrainingRun
from models_core.plots import training_curves
from models_core.services import ServiceError

IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def compared_runs(request: HttpRequest) -> tuple[list[TrainingRun], str]:
    """The runs the query names (``?experiment=ID`` or ``?runs=1,2,3``) and the query itself,
    to pass on to the image; a `ServiceError` for an unknown one."""
    if experiment := request.GET.get("experiment"):
        runs = selectors.experiment_runs(selectors.experiment_get(experiment))
        return runs, f"experiment={experiment}"
    ids = [pk for pk in request.GET.get("runs", "").split(",") if pk.strip()]
    if not ids:
        raise ServiceError("Choose runs to compare (select them in the run list).")
    runs = selectors.runs_get(ids)
    return runs, "runs=" + ",".join(str(run.pk) for run in runs)


def _cell(value, digits: int) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if digits else f"{value:g}"


def comparison_page(request: HttpRequest, admin_site) -> HttpResponse:
    try:
        runs, query = compared_runs(request)
    except ServiceError as exc:
        return HttpResponse(str(exc), status=404, content_type="text/plain")
    columns = selectors.runs_comparison(runs)
    rows = [
        {
            "metric": metric,
            "cells": [
                {
                    "run": column.run.pk,
                    "value": (column.evaluation or {}).get(metric.key),
                    "text": _cell((column.evaluation or {}).get(metric.key), metric.digits),
                }
                for column in columns
            ],
        }
        for metric in selectors.COMPARISON_METRICS
    ]
    experiment = request.GET.get("experiment")
    image = reverse("admin:models_core_trainingrun_compare_image", args=["png"])
    svg = reverse("admin:models_core_trainingrun_compare_image", args=["svg"])
    context = {
        **admin_site.each_context(request),
        "title": f"Experiment {experiment}: comparison" if experiment else "Runs compared",
        "columns": columns,
        "rows": rows,
        "image_url": f"{image}?{query}",
        "svg_url": f"{svg}?{query}",
        # Reload while a run trains or waits for its evaluation.
        "refresh_s": display.REFRESH_S if any(c.pending for c in columns) else None,
        "opts": TrainingRun._meta,
    }
    return TemplateResponse(request, "admin/models_core/compare.html", context)


def comparison_image(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in IMAGE_TYPES:
        return HttpResponse("Choose compare.png or compare.svg.", status=404)
    try:
        runs, _ = compared_runs(request)
    except ServiceError as exc:
        return HttpResponse(str(exc), status=404, content_type="text/plain")
    image = training_curves(selectors.runs_curves(runs), fmt=fmt)
    return HttpResponse(image, content_type=IMAGE_TYPES[fmt])
