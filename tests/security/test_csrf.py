"""CSRF on every POST of the project (the test client enforcing it as a browser would), and a
refusal page that says what to do: reload."""

from __future__ import annotations

import pytest
from django.test import Client

from surveys.models import Assignment, Rater
from tests.security.conftest import concrete_urls
from tests.security.test_access import snapshot
from tests.surveys.test_rater_views import (
    Browser,
    body,
    check_rater_headers,
    consent,
    hidden_fields,
)

pytestmark = pytest.mark.django_db


def check_reload_page(response) -> None:
    assert response.status_code == 403
    text = body(response)
    assert "Please reload the page" in text
    assert "CSRF" not in text and "Traceback" not in text and "Reason given" not in text
    check_rater_headers(response)


def test_every_post_without_a_csrf_token_is_refused_even_for_a_superuser(world, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/admin/")  # the CSRF cookie, as a browser would have it
    before = snapshot(world)
    for _route, url in concrete_urls(world):
        response = client.post(url, {"action": "delete_selected", "post": "yes"})
        check_reload_page(response)
    assert snapshot(world) == before


def test_a_forged_token_is_refused_and_a_valid_one_passes(world, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/admin/surveys/survey/")
    url = f"/admin/surveys/survey/{world.survey.pk}/close/"
    check_reload_page(client.post(url, {"csrfmiddlewaretoken": "x" * 64}))
    world.survey.refresh_from_db()
    assert world.survey.status == "open"
    token = client.cookies["csrftoken"].value
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    world.survey.refresh_from_db()
    assert world.survey.status == "closed"


def test_a_rater_whose_page_went_stale_is_asked_to_reload_and_nothing_is_stored(world):
    browser = Browser()
    url = f"/s/{world.survey.token}/"
    fields = hidden_fields(browser.get(url))
    raters = Rater.objects.count()
    browser.client.cookies.pop("csrftoken")  # the cookie is gone (cleared, expired)
    check_reload_page(browser.post(url, fields))
    assert Rater.objects.count() == raters
    page = consent(browser, world.survey)
    answered = Assignment.objects.filter(answered_at__isnull=False).count()
    stale = {**hidden_fields(page), "csrfmiddlewaretoken": "y" * 32, "answer": "left"}
    check_reload_page(browser.post(page.request["PATH_INFO"], stale))
    assert Assignment.objects.filter(answered_at__isnull=False).count() == answered
    # Reloading, as the page says, gives a form that is taken.
    fresh = browser.get(page.request["PATH_INFO"])
    answer = {**hidden_fields(fresh), "answer": "left"}
    assert browser.post(page.request["PATH_INFO"], answer).status_code == 303
