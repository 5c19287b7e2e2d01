"""Project-level views: the health endpoint."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from autogen.health import health_report, public_report


@never_cache
@require_GET
def healthz(request):
    """JSON health of database, broker and workers; 503 when a required service is down.

    Staff (and development) see everything; others get the verdicts without worker names or
    error texts, which describe the deployment.
    """
    report = health_report()
    if not (settings.DEBUG or request.user.is_staff):
        report = public_report(report)
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)
