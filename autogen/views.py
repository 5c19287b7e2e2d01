"""Project-level views: the health endpoint."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from autogen.health import health_report


@never_cache
@require_GET
def healthz(request):
    """JSON health of database, broker and workers; 503 when a required service is down."""
    report = health_report()
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)
