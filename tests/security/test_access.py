"""Every URL of the project, walked from the URL map (the admin's own `get_urls` included): the
admin and every researcher view need a staff login and the model's permission; only the rater
pages (which carry their own token), the health verdicts and the login page are public."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.test import Client, RequestFactory

from models_core.services import enqueue
from tests.security.conftest import concrete_urls, registered_admins

pytestmark = pytest.mark.django_db

# Open to anyone: the rater flow (each behind its own unguessable token), the health verdicts,
# the way in to the admin, and "/", which only redirects there.
PUBLIC = {
    "",
    "admin/login/",
    "admin/logout/",
    "healthz",
    "s/<slug:survey_token>/",
    "r/<slug:rater_token>/",
    "r/<slug:rater_token>/done",
}
# Admin pages any staff member may open: they show only what the user's permissions allow
# (the index, one's own password, the admin's translations) or nothing at all (404s, the
# redirects from an object's bare URL to its change page, which is checked itself).
ANY_STAFF = {
    "admin/",
    "admin/password_change/",
    "admin/password_change/done/",
    "admin/jsi18n/",
    "admin/r/<path:content_type_id>/<path:object_id>/",
    "admin/^(?P<app_label>auth|models_core|surveys)/$",
    "admin/(?P<url>.*)$",
}


def is_bare_object_redirect(route: str) -> bool:
    return route.endswith("/<path:object_id>/") and route.count("/") == 4


def researcher_urls(world) -> list[tuple[str, str]]:
    return [
        (route, url)
        for route, url in concrete_urls(world)
        if route not in PUBLIC and route not in ANY_STAFF
    ]


def snapshot(world) -> dict[str, list[dict]]:
    """Every row of every model the admin shows, and the raters' answers."""
    from surveys.models import Assignment

    models = [model for model, _ in registered_admins()] + [Assignment]
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def test_the_walk_sees_every_url_including_the_admins_own(world):
    routes = [route for route, _ in concrete_urls(world)]
    assert len(routes) >= 90
    for own in (
        "admin/surveys/survey/<path:object_id>/report/<str:fmt>/",
        "admin/surveys/survey/import/",
        "admin/surveys/survey/<path:object_id>/open/",
        "admin/models_core/trainingrun/<int:pk>/curves.<str:fmt>",
        "admin/models_core/trainingrun/compare/",
        "admin/models_core/corpusimport/add/",
    ):
        assert own in routes
    assert all("<" not in url and "(?P" not in url for _, url in concrete_urls(world))


@pytest.mark.parametrize("who", ["outsider", "bob"])
def test_outsiders_and_non_staff_are_sent_to_the_login_page_from_every_admin_url(
    world, request, who
):
    client = Client()
    if who == "bob":
        client.force_login(request.getfixturevalue("bob"))
    before = snapshot(world)
    for route, url in concrete_urls(world):
        if route in PUBLIC:
            continue
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, (method.__name__, url, response.status_code)
            assert response["Location"].startswith("/admin/login/?next="), url
    assert snapshot(world) == before


def test_staff_without_permissions_get_403_on_every_researcher_url(world, charlie):
    client = Client()
    client.force_login(charlie)
    before = snapshot(world)
    for route, url in researcher_urls(world):
        if is_bare_object_redirect(route):
            assert client.get(url).status_code == 302
            continue
        post = client.post(url, {"action": "delete_selected", "post": "yes"})
        assert post.status_code in (403, 405), (url, post.status_code)  # 405: a GET-only page
        if not route.endswith(("/open/", "/close/")):  # POST only: 405 to a GET
            assert client.get(url).status_code == 403, url
    assert snapshot(world) == before


def test_every_walked_url_is_a_working_page_for_a_superuser(world, alice):
    """The 403s above are about permissions: the same URLs answer a superuser without a 5xx,
    and so do the URLs of one object with an id that names nothing, or is not a number."""
    client = Client()
    client.force_login(alice)
    for route, url in concrete_urls(world):
        assert client.get(url).status_code < 500, url
        if route not in PUBLIC:  # (logging out would end the walk)
            assert client.post(url).status_code < 500, url
    for object_id in ("987654321", "abc", "-1"):
        for route, url in concrete_urls(world, object_id):
            if "<path:object_id>" in route or "<id>" in route:
                assert client.get(url).status_code < 500, url
                assert client.post(url).status_code < 500, url
    assert client.get("/admin/").status_code == 200  # still logged in: the walk was real


def test_staff_without_permissions_cannot_tell_whether_a_survey_exists(world, charlie):
    client = Client()
    client.force_login(charlie)
    for object_id in (str(world.survey.pk), "987654321", "abc"):
        for tail in ("report/view/", "report/csv/", "preview/"):
            assert client.get(f"/admin/surveys/survey/{object_id}/{tail}").status_code == 403


def test_view_only_staff_can_read_but_no_action_or_form_changes_anything(
    world, vera, alice, monkeypatch
):
    sent = []
    monkeypatch.setattr(enqueue.current_app, "send_task", lambda *a, **k: sent.append(a))
    client = Client()
    client.force_login(vera)
    request = RequestFactory().get("/admin/")
    request.user = alice
    before = snapshot(world)
    for model, model_admin in registered_admins():
        opts = model._meta
        changelist = f"/admin/{opts.app_label}/{opts.model_name}/"
        assert client.get(changelist).status_code == 200, changelist
        obj = world.objects[model]
        for action in model_admin.get_actions(request):  # every action a superuser has
            response = client.post(
                changelist,
                {"action": action, helpers.ACTION_CHECKBOX_NAME: [obj.pk], "post": "yes"},
            )
            assert response.status_code in (200, 302, 403), (model, action)
            assert snapshot(world) == before, (model, action)  # e.g. a cancelled run
        for url in (f"{changelist}{obj.pk}/change/", f"{changelist}{obj.pk}/delete/"):
            assert client.post(url, {"post": "yes"}).status_code == 403, url
        assert client.post(f"{changelist}add/", {}).status_code == 403, changelist
    for verb in ("open", "close"):
        assert client.post(f"/admin/surveys/survey/{world.survey.pk}/{verb}/").status_code == 403
    assert snapshot(world) == before
    assert sent == []  # nothing queued for a worker
