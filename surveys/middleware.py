"""Rater pages while the database cannot be reached: a page that says to try again, not an
error.

A connection to PostgreSQL that drops mid-request (a restart, a failover, a killed backend)
raises ``OperationalError`` or ``InterfaceError`` out of the view. On the rater pages (the
``surveys`` URLs) the rater then gets HTTP 503 with ``Retry-After``, in plain words, with a
link that reloads the page and, for an answer, a form that sends the same answer again.
Sending it again is safe: an answer is stored in one transaction, so it is either stored or
not at all, and a second copy of a stored answer changes nothing (`rater_answer`). The broken
connection is closed, so the retry opens a new one.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from surveys.views import rater_headers

logger = logging.getLogger(__name__)

RETRY_TEMPLATE = "surveys/rater/retry.html"
RETRY_AFTER_S = 5
RETRY_TITLE = "Please try again"
RETRY_TEXT = "The survey could not be reached for a moment. Please try again in a few seconds."
RESEND_TEXT = (
    "The survey could not be reached for a moment, so your answer may not have been saved. "
    "Please send it again in a few seconds: each answer is counted once."
)


def _close_broken_connections() -> None:
    """Drop the connections the failure broke (the next query opens a new one); healthy ones
    and those inside a transaction are left to their owner."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block and not conn.is_usable():
            conn.close()


class DatabaseUnavailableMiddleware:
    """HTTP 503 and a page to try again when a rater page loses its database connection."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        match = request.resolver_match
        if match is None or match.namespace != "surveys":
            return None  # staff pages keep Django's error handling
        logger.error("rater page %s: database unavailable (%s)", match.url_name, exception)
        _close_broken_connections()
        resend = request.method == "POST" and "answer" in request.POST
        context = {
            "title": RETRY_TITLE,
            "heading": RETRY_TITLE,
            "text": RESEND_TEXT if resend else RETRY_TEXT,
            "resend": resend,
            # Sent back as they came (escaped); the view checks them as it does any answer.
            "q": request.POST.get("q", "") if resend else "",
            "answer": request.POST.get("answer", "") if resend else "",
        }
        response = render(request, RETRY_TEMPLATE, context, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return rater_headers(response)
