"""Admin: survey counts, report downloads and the CSV upload, and who may reach them.

Personas:
- Alice, a researcher: staff with the surveys permissions. She sees, downloads and imports.
- Bob, a rater: an active account but not staff. The admin sends him to its login page.
- Charlie, staff from another team: in the admin, but without survey permissions (403).
- An outsider: not logged in. Sent to the login page.
"""

import io
import json

import pandas as pd
import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from surveys import reports
from surveys.models import Response, Survey

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_bootstrap")]


@pytest.fixture
def alice(client) -> User:
    user = User.objects.create_user("alice", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="surveys"))
    return user


@pytest.fixture
def bob() -> User:
    return User.objects.create_user("bob", password="x")


@pytest.fixture
def charlie() -> User:
    return User.objects.create_user("charlie", password="x", is_staff=True)


def download_url(survey: Survey, fmt: str) -> str:
    return reverse("admin:surveys_survey_report", args=[survey.pk, fmt])


def view_url(survey: Survey) -> str:
    return reverse("admin:surveys_survey_report_view", args=[survey.pk])


IMPORT_URL = "/admin/surveys/survey/import/"


def upload(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


# --- Alice ---------------------------------------------------------------------------------


def test_alice_sees_surveys_listed_with_their_counts(client, alice, table_2_survey):
    client.force_login(alice)
    response = client.get(reverse("admin:surveys_survey_changelist"))
    assert response.status_code == 200
    listed = response.context["cl"].result_list[0]
    assert (listed.n_raters, listed.n_items, listed.n_responses) == (42, 967, 967)
    assert "Import responses" in response.text


def test_alice_finds_a_link_to_every_format_on_the_survey_page(client, alice, table_2_survey):
    client.force_login(alice)
    response = client.get(reverse("admin:surveys_survey_change", args=[table_2_survey.pk]))
    assert response.status_code == 200
    for fmt in reports.FORMATS:
        assert download_url(table_2_survey, fmt) in response.text
    assert view_url(table_2_survey) in response.text


@pytest.mark.parametrize("fmt", reports.FORMATS)
def test_alice_downloads_every_format(client, alice, table_4_survey, fmt):
    client.force_login(alice)
    response = client.get(download_url(table_4_survey, fmt))
    assert response.status_code == 200
    assert response["Content-Type"].startswith(reports.CONTENT_TYPES[fmt])
    assert response["Content-Disposition"] == (
        f'attachment; filename="table-4.{reports.EXTENSIONS[fmt]}"'
    )
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert len(body) > 100


def test_the_downloaded_json_and_csv_hold_the_paper_numbers(client, alice, table_2_survey):
    client.force_login(alice)
    document = client.get(download_url(table_2_survey, "json") + "?confidence=0.99").json()
    assert document["confidence"] == 0.99
    assert [row["wins_1"] for row in document["rows"]] == [79, 229, 506]
    table = pd.read_csv(io.StringIO(client.get(download_url(table_2_survey, "csv")).text))
    assert table.pct_1.round().tolist() == [66, 88, 88]


def test_the_raw_answers_stream_as_csv(client, alice, table_2_survey):
    client.force_login(alice)
    response = client.get(download_url(table_2_survey, "answers"))
    assert response.streaming
    frame = pd.read_csv(io.BytesIO(b"".join(response.streaming_content)))
    assert len(frame) == Response.objects.count()


def test_alice_reads_the_html_report_in_her_browser(client, alice, table_2_survey):
    client.force_login(alice)
    response = client.get(view_url(table_2_survey))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "Content-Disposition" not in response
    assert "<img" in response.text and "AutoGen (m=2)" in response.text


def test_a_survey_without_answers_sends_alice_back_with_a_message(client, alice):
    survey = Survey.objects.create(name="fresh", kind=Survey.Kind.PAIRWISE)
    client.force_login(alice)
    response = client.get(download_url(survey, "md"), follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "admin:surveys_survey_change", args=[survey.pk]
    )
    assert "has no answers to report yet" in response.text


def test_a_bad_confidence_is_a_message_not_an_error(client, alice, table_2_survey):
    client.force_login(alice)
    response = client.get(download_url(table_2_survey, "json") + "?confidence=high", follow=True)
    assert "Query parameter confidence=&#x27;high&#x27; is not a number" in response.text


def test_an_unknown_format_or_survey_is_not_found(client, alice, table_2_survey):
    client.force_login(alice)
    assert client.get(download_url(table_2_survey, "pdf")).status_code == 404
    assert client.get(reverse("admin:surveys_survey_report", args=[9999, "md"])).status_code == 404


def test_alice_imports_a_csv_through_the_upload_page(client, alice):
    client.force_login(alice)
    csv_text = "rater,item,model_1,model_2,winner\nr1,i1,A,B,A\nr2,i1,A,B,B\n"
    response = client.post(
        IMPORT_URL,
        {"survey": "uploaded", "kind": "pairwise", "file": upload("answers.csv", csv_text)},
        follow=True,
    )
    survey = Survey.objects.get(name="uploaded")
    assert response.redirect_chain[-1][0] == reverse(
        "admin:surveys_survey_change", args=[survey.pk]
    )
    assert "Imported 2 answers into &#x27;uploaded&#x27;" in response.text
    assert survey.responses().count() == 2


def test_a_bad_upload_shows_every_bad_line_and_writes_nothing(client, alice):
    client.force_login(alice)
    csv_text = "rater,item,model_1,model_2,winner\nr1,i1,A,B,C\nr1,i2,A,A,A\n"
    response = client.post(
        IMPORT_URL, {"survey": "bad", "kind": "pairwise", "file": upload("bad.csv", csv_text)}
    )
    assert response.status_code == 200
    assert "2 bad row(s) in bad.csv; nothing was imported:" in response.text
    assert "line 2: winner" in response.text and "line 3: model_1 and model_2" in response.text
    assert not Survey.objects.exists()


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(client, alice, settings):
    settings.MAX_UPLOAD_MB = 0.0001  # about 100 bytes
    client.force_login(alice)
    csv_text = "rater,item,model_1,model_2,winner\n" + "r1,i1,A,B,A\n" * 20
    response = client.post(
        IMPORT_URL, {"survey": "big", "kind": "pairwise", "file": upload("big.csv", csv_text)}
    )
    assert response.status_code == 200
    assert "big.csv is 0.0 MB; uploads stop at 0.0001 MB" in response.text
    assert "manage.py import_responses" in response.text
    assert not Survey.objects.exists()


def test_answers_cannot_be_added_or_edited_by_hand(client, alice, table_2_survey):
    client.force_login(alice)
    assert client.get(reverse("admin:surveys_response_add")).status_code == 403
    answer = Response.objects.first()
    page = client.get(reverse("admin:surveys_response_change", args=[answer.pk]))
    assert page.status_code == 200  # viewable
    assert b'name="answer"' not in page.content  # but not editable
    assert client.get(reverse("admin:surveys_response_changelist")).status_code == 200
    assert client.get(reverse("admin:surveys_item_changelist")).status_code == 200


def test_alice_excludes_a_rater_and_the_report_leaves_them_out(client, alice, table_2_survey):
    client.force_login(alice)
    rater = table_2_survey.raters.get(external_id="p0-r0")
    response = client.post(
        reverse("admin:surveys_rater_change", args=[rater.pk]),
        {"excluded": "on", "exclusion_reason": "failed attention checks"},
    )
    assert response.status_code == 302
    rater.refresh_from_db()
    assert rater.excluded and rater.exclusion_reason == "failed attention checks"
    document = json.loads(client.get(download_url(table_2_survey, "json")).content)
    assert document["rows"][0]["raters"] == 5


# --- Bob, Charlie and outsiders ----------------------------------------------------------------


def protected_urls(survey: Survey) -> list[str]:
    return [download_url(survey, fmt) for fmt in reports.FORMATS] + [view_url(survey), IMPORT_URL]


def test_an_outsider_is_sent_to_the_login_page(client, table_2_survey):
    for url in protected_urls(table_2_survey):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_bob_the_rater_is_sent_to_the_login_page_too(client, bob, table_2_survey):
    client.force_login(bob)
    for url in protected_urls(table_2_survey):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_charlie_without_survey_permissions_is_forbidden(client, charlie, table_2_survey):
    client.force_login(charlie)
    for url in protected_urls(table_2_survey):
        assert client.get(url).status_code == 403, url
    response = client.post(
        IMPORT_URL, {"survey": "x", "kind": "pairwise", "file": upload("x.csv", "rater\n")}
    )
    assert response.status_code == 403
    assert not Survey.objects.filter(name="x").exists()


# --- Dave: staff who may add answers, but not raters, items or surveys -------------------------

CSV_TEXT = "rater,item,model_1,model_2,winner\nr1,i1,A,B,A\n"


def staff_with(*codenames: str) -> User:
    user = User.objects.create_user("dave", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="surveys", codename__in=codenames)
    )
    return user


def test_staff_with_only_add_response_may_not_import(client, table_2_survey):
    client.force_login(staff_with("add_response", "view_survey"))
    assert client.get(IMPORT_URL).status_code == 403
    response = client.post(
        IMPORT_URL, {"survey": "Table 2", "kind": "pairwise", "file": upload("a.csv", CSV_TEXT)}
    )
    assert response.status_code == 403
    assert not table_2_survey.raters.filter(external_id="r1").exists()
    listing = client.get(reverse("admin:surveys_survey_changelist"))
    assert "Import responses" not in listing.text


def test_importing_without_add_survey_may_not_create_a_survey(client):
    client.force_login(staff_with("add_response", "add_rater", "add_item"))
    response = client.post(
        IMPORT_URL, {"survey": "new one", "kind": "pairwise", "file": upload("a.csv", CSV_TEXT)}
    )
    assert response.status_code == 200
    assert "you may not create surveys" in response.text
    assert not Survey.objects.exists()


def test_importing_into_an_existing_survey_needs_no_add_survey(client, table_2_survey):
    client.force_login(staff_with("add_response", "add_rater", "add_item", "view_survey"))
    response = client.post(
        IMPORT_URL, {"survey": "Table 2", "kind": "pairwise", "file": upload("a.csv", CSV_TEXT)}
    )
    assert response.status_code == 302
    assert table_2_survey.raters.filter(external_id="r1").exists()
