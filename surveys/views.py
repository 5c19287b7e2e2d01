"""The rater flow in the browser: survey link → instructions and consent → one question per page
→ done. Thin: parse the request, call :mod:`surveys.services`, render what comes back.

Blindness: nothing here puts a model name, run, checkpoint or item id in a page, URL, cookie or
form field. Pages name the rater by their token, questions by their page position (``q``), and
the sides by ``left``/``right``; which model is on which side lives only in the database.

Every rater page is sent with a strict Content-Security-Policy (no inline script or style, no
asset from outside the server), ``Referrer-Policy: same-origin`` (rater links carry the token:
no other site ever sees them; ``no-referrer`` would also make browsers send ``Origin: null`` with
the forms, which Django's CSRF check rightly refuses) and ``Cache-Control: no-store`` (the back
button fetches the current page again).
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from surveys.models import Rater, Survey, new_token
from surveys.ratelimit import rate_limited
from surveys.services import (
    MAX_EXTERNAL_ID,
    MAX_POSITION,
    MEANINGFULNESS_CHOICES,
    PAIRWISE_CHOICES,
    Page,
    Progress,
    SurveyError,
    SurveyUnavailable,
    completion_code,
    rater_answer,
    rater_answer_next,
    rater_by_token,
    rater_next,
    rater_start,
    rater_with_progress,
    survey_check_open,  # draft/closed, with its message
)

CONSENT_SALT = "surveys.rater.consent"
CONSENT_MAX_AGE = 7 * 24 * 3600  # a consent form left open this long must be loaded again
RESUME_COOKIE = "resume"
RESUME_SALT = "surveys.rater.resume"
RESUME_MAX_AGE = 30 * 24 * 3600
# What Prolific appends to a study link besides the participant id (recorded as sent).
PROLIFIC_FIELDS = ("STUDY_ID", "SESSION_ID")
MAX_PLATFORM_VALUE = 200
# img-src data: for the empty favicon only (browsers ask for /favicon.ico otherwise).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

# Not "no-referrer": with it, Chrome sends "Origin: null" on the rater's own form posts.
REFERRER_POLICY = "same-origin"
TEMPLATES = "surveys/rater/"
# Sent by rater.js with an answer: the response is the next page itself, not a redirect to it.
NEXT_PAGE_HEADER = "Rater-Next-Page"


def rater_headers(response: HttpResponse) -> HttpResponse:
    """The security headers of a rater page (a view's own CSP, if it set one, is kept)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response["Referrer-Policy"] = REFERRER_POLICY
    response["Cache-Control"] = "no-store"
    response["X-Frame-Options"] = "DENY"
    return response


def rater_page(view):
    """Security headers on every rater page, whatever it answers."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return rater_headers(view(request, *args, **kwargs))

    return wrapped


def _question_csp(survey: Survey) -> str:
    """The last answer's form ends in a redirect to the crowd platform: allow its origin
    (Chrome checks form-action on the redirects that follow a form submission)."""
    target = survey.completion_target
    if not target:
        return CSP
    parts = urlsplit(target)
    return f"{CSP} {parts.scheme}://{parts.netloc}"


def _message(
    request: HttpRequest, title: str, heading: str, text: str, status: int = 200
) -> HttpResponse:
    """A readable page for every outcome that is not a question (unavailable, bad request)."""
    context = {"title": title, "heading": heading, "text": text}
    return render(request, TEMPLATES + "message.html", context, status=status)


def _not_found(request: HttpRequest) -> HttpResponse:
    return _message(
        request,
        "Page not found",
        "Page not found",
        "This link is not valid. Please check that you copied the whole link.",
        status=404,
    )


@rater_page
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused CSRF check (settings ``CSRF_FAILURE_VIEW``): a page left open too long, or a
    form sent from another site. Says what to do, never why in Django's words (HTTP 403)."""
    return _message(
        request,
        "Please reload the page",
        "Please reload the page",
        "This form was open too long or came from another site, so it could not be sent. "
        "Please reload the page (or open your survey link again) and try again.",
        status=403,
    )


def _bad_request(request: HttpRequest, survey_title: str, text: str) -> HttpResponse:
    return _message(request, survey_title, "Something went wrong", text, status=400)


def _unavailable(request: HttpRequest, survey: Survey, error: SurveyError) -> HttpResponse:
    """Draft, closed or full: a normal state of a survey, said plainly (HTTP 200)."""
    return _message(request, survey.title, survey.title, str(error))


def _question_url(rater: Rater) -> str:
    return reverse("surveys:question", args=[rater.token])


def _find_rater(survey: Survey, *, external_id: str = "", token: str = "") -> Rater | None:
    raters = survey.raters.order_by()  # one row: no sort by the default ordering
    if external_id:
        return raters.filter(external_id=external_id).first()
    if token:
        return raters.filter(token=token).first()
    return None


def _platform_params(request: HttpRequest, survey: Survey) -> tuple[str, dict[str, str]]:
    """The participant id and what the crowd platform sent along, from the query string."""
    key = survey.participant_key
    external_id = request.GET.get(key, "").strip()[:MAX_EXTERNAL_ID] if key else ""
    data = {}
    if survey.platform == Survey.Platform.PROLIFIC:
        for name in PROLIFIC_FIELDS:
            value = request.GET.get(name, "").strip()[:MAX_PLATFORM_VALUE]
            if value:
                data[name] = value
    return external_id, data


# --- survey link: instructions and consent --------------------------------------------------


@rater_page
@rate_limited("entry", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def survey_start(request: HttpRequest, survey_token: str) -> HttpResponse:
    # (Its material, how the items were made, is JSON no rater page reads.)
    survey = Survey.objects.filter(token=survey_token).defer("material").first()
    if survey is None:
        return _not_found(request)
    if request.method == "POST":
        return _consent(request, survey)
    external_id, platform_data = _platform_params(request, survey)
    if external_id:  # the same participant again: back to their own session
        rater = _find_rater(survey, external_id=external_id)
    else:
        resume = request.get_signed_cookie(
            RESUME_COOKIE, default="", salt=RESUME_SALT, max_age=RESUME_MAX_AGE
        )
        rater = _find_rater(survey, token=resume) if resume else None
    if rater is not None:
        return HttpResponseRedirect(_question_url(rater))
    try:
        survey_check_open(survey)
    except SurveyUnavailable as error:
        return _unavailable(request, survey, error)
    consent = signing.dumps(
        {"token": new_token(), "id": external_id, "data": platform_data}, salt=CONSENT_SALT
    )
    context = {
        "survey": survey,
        "title": survey.title,
        "consent": consent,
        "questions": survey.cap_per_rater + survey.n_checks,
    }
    return render(request, TEMPLATES + "consent.html", context)


def _consent(request: HttpRequest, survey: Survey) -> HttpResponse:
    try:
        signed = signing.loads(
            request.POST.get("consent", ""), salt=CONSENT_SALT, max_age=CONSENT_MAX_AGE
        )
        candidate, external_id, platform_data = signed["token"], signed["id"], signed["data"]
    except (signing.BadSignature, KeyError, TypeError):
        return _bad_request(
            request,
            survey.title,
            "This form could not be read. Please open the survey link again.",
        )
    try:
        rater = rater_start(
            survey, external_id=external_id, platform_data=platform_data, token=candidate
        )
    except SurveyUnavailable as error:
        return _unavailable(request, survey, error)
    response = HttpResponseRedirect(_question_url(rater), status=303)
    response.set_signed_cookie(
        RESUME_COOKIE,
        rater.token,
        salt=RESUME_SALT,
        max_age=RESUME_MAX_AGE,
        path=reverse("surveys:start", args=[survey.token]),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


# --- one question per page ------------------------------------------------------------------


@rater_page
@rate_limited("answer", methods=("POST",), token_arg="rater_token")
@require_http_methods(["GET", "POST"])
def question(request: HttpRequest, rater_token: str) -> HttpResponse:
    found = rater_with_progress(rater_token)
    if found is None:
        return _not_found(request)
    rater, progress = found
    if request.method == "POST":
        return _answer(request, rater, progress)
    try:
        page = rater_next(rater, progress)
    except SurveyUnavailable as error:
        return _unavailable(request, rater.survey, error)
    return _show(request, rater, page)


def _show(request: HttpRequest, rater: Rater, page: Page) -> HttpResponse:
    """`page`: its question, or the way to the done page."""
    survey = rater.survey
    if page.finished:
        return HttpResponseRedirect(reverse("surveys:done", args=[rater.token]))
    slot = page.slot
    context = {
        "survey": survey,
        "title": survey.title,
        "page": page,
        "position": slot.position,
        "prompt": slot.prompt if slot.is_check else "",
        "pairwise": survey.is_pairwise,
    }
    if slot.is_check:
        context.update(original="", left=slot.text_left, right=slot.text_right)
    elif survey.is_pairwise:
        item = slot.item
        texts = {"model_1": item.text_1, "model_2": item.text_2}
        other = "model_2" if slot.left == "model_1" else "model_1"
        context.update(original=item.source, left=texts[slot.left], right=texts[other])
    else:
        context.update(original="", left=slot.item.text_1, right="")
    response = render(request, TEMPLATES + "question.html", context)
    response["Content-Security-Policy"] = _question_csp(survey)
    return response


def _answer(request: HttpRequest, rater: Rater, progress: Progress) -> HttpResponse:
    """Store the answer; then the redirect to the next page, or (asked for by rater.js with the
    ``Rater-Next-Page`` header) that page itself: one request per answer instead of two."""
    survey = rater.survey
    allowed = PAIRWISE_CHOICES if survey.is_pairwise else MEANINGFULNESS_CHOICES
    answer = request.POST.get("answer", "")
    q = request.POST.get("q", "")
    if not (q.isascii() and q.isdigit() and 1 <= int(q) <= MAX_POSITION) or answer not in allowed:
        return _bad_request(
            request,
            survey.title,
            "Your answer could not be read. Please go back to the survey and choose again.",
        )
    next_page = bool(request.headers.get(NEXT_PAGE_HEADER))
    try:
        if next_page:
            page = rater_answer_next(rater, int(q), answer, progress)
        else:
            rater_answer(rater, int(q), answer, progress)
    except SurveyUnavailable as error:
        return _unavailable(request, survey, error)
    except SurveyError as error:
        return _bad_request(request, survey.title, str(error))
    if next_page:
        return _show(request, rater, page)  # a redirect (finished): rater.js follows it
    return HttpResponseRedirect(_question_url(rater), status=303)


@rater_page
@require_GET
def done(request: HttpRequest, rater_token: str) -> HttpResponse:
    rater = rater_by_token(rater_token)
    if rater is None:
        return _not_found(request)
    try:
        code = completion_code(rater)
    except SurveyError:  # not finished: the next question (which finishes it when none is left)
        return HttpResponseRedirect(_question_url(rater))
    survey = rater.survey
    if survey.completion_target:
        return HttpResponseRedirect(survey.completion_target)
    return render(
        request, TEMPLATES + "done.html", {"survey": survey, "title": survey.title, "code": code}
    )
