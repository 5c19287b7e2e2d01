"""The rater flow over HTTP (Django test client, CSRF enforced): survey link → consent → one
question per page → done, for both kinds; resuming; exactly-once answers; unavailable surveys;
crowd platforms; security headers; and blindness (no model name, item key or item id in any
byte a rater receives)."""

from __future__ import annotations

import html
import itertools
import re
from urllib.parse import urlencode

import pytest
from django.contrib.staticfiles import finders
from django.core import signing
from django.test import Client

from surveys.models import Assignment, Rater, Response, Survey
from surveys.services import survey_close
from surveys.views import CONSENT_SALT, RESUME_COOKIE
from tests.surveys.rater_helpers import CODE, COMPARISONS, MODELS, leaks, make_survey

PAIRWISE, MEANINGFULNESS = Survey.Kind.PAIRWISE, Survey.Kind.MEANINGFULNESS
TITLE = "Sentences and their meaning"
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
REDIRECTS = (301, 302, 303)


class Browser:
    """One rater's browser: cookies, CSRF enforced, redirects followed by hand so that every
    response (body, headers, cookies) is kept for the scans."""

    def __init__(self) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.seen = []

    def get(self, url: str, params: dict | None = None):
        return self._keep(self.client.get(url, params or {}))

    def post(self, url: str, data: dict, **headers):
        return self._keep(self.client.post(url, data, **headers))

    def _keep(self, response):
        self.seen.append(response)
        return response

    def follow(self, response):
        """Follow redirects on this site; stop at one that leaves it (a crowd platform)."""
        while response.status_code in REDIRECTS and response["Location"].startswith("/"):
            response = self.get(response["Location"])
        return response

    def texts(self):
        """Every byte received: each body, and each response's headers with its cookies."""
        for response in self.seen:
            headers = "\n".join(f"{k}: {v}" for k, v in response.items())
            yield response.content.decode() + "\n" + headers + "\n" + response.cookies.output()


def body(response) -> str:
    return response.content.decode()


def hidden_fields(response) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(body(response))}


def sentences(response) -> list[str]:
    """The sentences a page shows, in order (original first, then left and right)."""
    found = re.findall(r'class="sentence[^"]*">\s*(.*?)\s*</', body(response), re.S)
    return [html.unescape(s) for s in found]


def consent(browser: Browser, survey: Survey, params: dict | None = None):
    """Open the survey link, agree, and land on the first question (a response)."""
    url = f"/s/{survey.token}/"
    page = browser.get(url, params)
    assert page.status_code == 200, body(page)
    assert 'name="consent"' in body(page)
    query = f"?{urlencode(params)}" if params else ""
    agreed = browser.post(url + query, hidden_fields(page))
    assert agreed.status_code == 303
    assert re.fullmatch(r"/r/[\w-]{22}/", agreed["Location"])
    return browser.follow(agreed)


def rater_of(response) -> Rater:
    token = re.search(r"/r/([\w-]+)/", response.request["PATH_INFO"])[1]
    return Rater.objects.get(token=token)


def post_answer(browser: Browser, page, choice: str, *, next_page: bool = False):
    """Submit `choice` on question `page`; the raw response (a redirect when accepted; with
    `next_page`, as rater.js sends it: the next page itself)."""
    headers = {"HTTP_RATER_NEXT_PAGE": "1"} if next_page else {}
    return browser.post(
        page.request["PATH_INFO"], {**hidden_fields(page), "answer": choice}, **headers
    )


def choose(slot: Assignment, turn: int, pairwise: bool) -> str:
    """A rater who follows instructions and otherwise varies their answers."""
    if slot.kind == Assignment.Kind.INSTRUCTED:
        return slot.expected
    if pairwise:
        return ("left", "right", "discard")[turn % 3]
    return ("yes", "no")[turn % 2]


def complete(browser: Browser, page, survey: Survey, *, next_page: bool = False):
    """Answer every page from `page` on, checking each against the database; the last response
    (the done page, or the redirect to the crowd platform) and the pages seen. `next_page`:
    answers as rater.js sends them, each answered with the next page itself."""
    rater = rater_of(page)
    pairwise = survey.is_pairwise
    shown = []
    for turn in itertools.count():
        if page.status_code != 200 or "/done" in page.request["PATH_INFO"]:
            return page, shown
        q = int(hidden_fields(page)["q"])
        slot = rater.assignments.select_related("item").get(position=q)
        assert slot.answered_at is None
        check_question_page(page, slot, survey)
        shown.append(slot)
        choice = choose(slot, turn, pairwise)
        answered = post_answer(browser, page, choice, next_page=next_page)
        if next_page and answered.status_code == 200:
            page = answered  # the next question, in the answer's own response
            continue
        if next_page:  # the last answer: on to the done page
            assert answered.status_code == 302
            assert answered["Location"] == f"/r/{rater.token}/done"
        else:
            assert answered.status_code == 303
            assert answered["Location"] == f"/r/{rater.token}/"
        page = browser.follow(answered)
    raise AssertionError("unreachable")


def check_question_page(page, slot: Assignment, survey: Survey) -> None:
    """One question page: headers, structure, and the texts on the sides the database says."""
    check_rater_headers(page)
    assert page["Cache-Control"] == "no-store"
    text = body(page)
    assert '<html lang="en">' in text and 'name="viewport"' in text
    number, total = re.search(r"Question (\d+) of (\d+)", text).groups()
    assert f"<title>Question {number} of {total} · {survey.title}</title>" in text
    assert f'<progress value="{number}" max="{total}"' in text
    assert int(total) == survey.cap_per_rater + survey.n_checks
    assert survey.question in text
    assert f'name="q" value="{slot.position}"' in text
    shown = sentences(page)
    if slot.is_check:
        expected = [slot.text_left, slot.text_right] if survey.is_pairwise else [slot.text_left]
        assert ('class="prompt"' in text) == bool(slot.prompt)
        assert html.escape(slot.prompt) in text
        assert "Original sentence" not in text
    elif survey.is_pairwise:
        item = slot.item
        texts = {"model_1": item.text_1, "model_2": item.text_2}
        other = "model_2" if slot.left == "model_1" else "model_1"
        expected = [item.source, texts[slot.left], texts[other]]
        assert "Original sentence" in text and "Attention check" not in text
    else:
        expected = [slot.item.text_1]
        assert "Attention check" not in text
    assert shown == expected
    values = re.findall(r'name="answer" value="(\w+)"', text)
    keys = re.findall(r'data-key="(\w)"', text)
    if survey.is_pairwise:
        assert (values, keys) == (["left", "right", "discard"], ["1", "2", "0"])
    else:
        assert (values, keys) == (["yes", "no"], ["y", "n"])


def check_rater_headers(response) -> None:
    csp = response["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'"):
        assert directive in csp
    assert "unsafe" not in csp
    assert response["Referrer-Policy"] == "same-origin"  # the token never leaves the site
    assert response["X-Frame-Options"] == "DENY"
    text = body(response)
    assert "<style" not in text and "style=" not in text
    assert not re.search(r"<script(?![^>]*\bsrc=)", text)  # no inline script
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', text):
        assert url.startswith("/static/surveys/") or url == "data:,", url  # nothing from outside


def static_text(name: str) -> str:
    path = finders.find(f"surveys/{name}")
    assert path, name
    with open(path, encoding="utf-8") as stream:
        return stream.read()


@pytest.fixture
def pairwise(db) -> Survey:
    return make_survey(PAIRWISE, title=TITLE)


@pytest.fixture
def meaningfulness(db) -> Survey:
    return make_survey(MEANINGFULNESS, name="Study ETA-internal", title=TITLE)


# --- The whole flow --------------------------------------------------------------------------


@pytest.mark.parametrize("next_page", [False, True], ids=["redirects", "next-page-header"])
@pytest.mark.parametrize("kind", [PAIRWISE, MEANINGFULNESS])
def test_a_rater_answers_a_whole_survey_and_gets_the_code_only_at_the_end(db, kind, next_page):
    survey = make_survey(kind, title=TITLE)
    browser = Browser()
    page = consent(browser, survey)
    rater = rater_of(page)
    last, shown = complete(browser, page, survey, next_page=next_page)

    assert last.status_code == 200 and CODE in body(last)
    check_rater_headers(last)
    before_the_end = browser.seen[:-1]
    assert not [r for r in before_the_end if CODE in body(r) or CODE in str(r.items())]
    assert len(shown) == survey.cap_per_rater + survey.n_checks
    assert [s.position for s in shown] == list(range(1, len(shown) + 1))
    assert {s.kind for s in shown} == {"question", "instructed", "gold"}

    rater.refresh_from_db()
    assert rater.finished_at is not None and not rater.excluded
    responses = list(Response.objects.filter(rater=rater).select_related("item"))
    assert len(responses) == survey.cap_per_rater
    assert len({r.item_id for r in responses}) == len(responses)
    assert all(r.response_ms is not None for r in responses)
    for slot in rater.assignments.all():
        assert slot.answered_at is not None
        if slot.is_check:  # stored on the slot, apart from the responses
            assert slot.answer
        if slot.kind == Assignment.Kind.INSTRUCTED:
            assert slot.passed  # this rater follows instructions
    for response, slot in (
        (r, rater.assignments.get(item=r.item, kind="question")) for r in responses
    ):
        assert response.left == slot.left
    if survey.is_pairwise:
        groups = [tuple(sorted((r.item.model_1, r.item.model_2))) for r in responses]
        assert sorted(groups.count(tuple(sorted(c))) for c in COMPARISONS) == [2, 2, 2]
        assert [r.left for r in responses].count("model_1") == 3
    else:
        assert sorted([r.item.model_1 for r in responses].count(m) for m in MODELS) == [2] * 4

    # After the end: the same link and the question page lead to the code again.
    assert browser.follow(browser.get(f"/r/{rater.token}/")).request["PATH_INFO"].endswith("done")
    again = browser.follow(browser.get(f"/s/{survey.token}/"))
    assert CODE in body(again)
    assert Response.objects.filter(rater=rater).count() == survey.cap_per_rater


def test_the_stored_answer_names_the_model_on_the_side_chosen(pairwise):
    browser = Browser()
    page = consent(browser, pairwise)
    rater = rater_of(page)
    wanted = {}
    while page.status_code == 200 and "/done" not in page.request["PATH_INFO"]:
        slot = rater.assignments.get(position=int(hidden_fields(page)["q"]))
        choice = "left" if slot.position % 2 else "right"
        if not slot.is_check:
            other = "model_2" if slot.left == "model_1" else "model_1"
            wanted[slot.item_id] = slot.left if choice == "left" else other
        page = browser.follow(post_answer(browser, page, choice))
    stored = dict(Response.objects.filter(rater=rater).values_list("item_id", "answer"))
    assert stored == wanted and len(stored) == 6


def test_the_consent_page_shows_the_title_instructions_and_consent(pairwise, meaningfulness):
    page = Browser().get(f"/s/{pairwise.token}/")
    check_rater_headers(page)
    text = body(page)
    assert f"<title>{TITLE}</title>" in text and f"<h1>{TITLE}</h1>" in text
    assert "original sentence" in text and "Can’t decide" in text
    assert "voluntary" in text and "I agree" in text
    assert "up to 8 short questions" in text
    assert "Yes</strong> or <strong>No" in body(Browser().get(f"/s/{meaningfulness.token}/"))
    assert Rater.objects.count() == 0  # reading the instructions stores nothing


def test_the_survey_s_own_instructions_replace_the_default(db):
    survey = make_survey(MEANINGFULNESS, instructions="Read slowly.\n\nThen answer.")
    text = body(Browser().get(f"/s/{survey.token}/"))
    assert "<p>Read slowly.</p>" in text and "<p>Then answer.</p>" in text
    assert "Small slips" not in text


# --- Resuming --------------------------------------------------------------------------------


def test_a_refresh_shows_the_same_question_and_the_link_resumes(pairwise):
    browser = Browser()
    page = consent(browser, pairwise)
    rater = rater_of(page)
    page = browser.follow(post_answer(browser, page, "discard"))
    again = browser.get(f"/r/{rater.token}/")
    assert hidden_fields(again)["q"] == hidden_fields(page)["q"] == "2"
    assert sentences(again) == sentences(page)
    back = browser.get(f"/s/{pairwise.token}/")  # the survey link again: the resume cookie
    assert back.status_code == 302 and back["Location"] == f"/r/{rater.token}/"
    assert hidden_fields(browser.follow(back))["q"] == "2"
    assert Rater.objects.count() == 1


def test_the_resume_cookie_is_http_only_lax_limited_to_the_survey_and_holds_the_token(pairwise):
    browser = Browser()
    rater = rater_of(consent(browser, pairwise))
    agreed = browser.seen[1]
    cookie = agreed.cookies[RESUME_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert cookie["path"] == f"/s/{pairwise.token}/"
    assert cookie.value.startswith(f"{rater.token}:")  # the rater's token, signed
    elsewhere = Client()
    elsewhere.cookies[RESUME_COOKIE] = cookie.value
    resumed = elsewhere.get(f"/s/{pairwise.token}/")
    assert resumed.status_code == 302 and resumed["Location"] == f"/r/{rater.token}/"


def test_the_resume_cookie_is_secure_when_session_cookies_are(pairwise, settings):
    settings.SESSION_COOKIE_SECURE = True
    browser = Browser()
    consent(browser, pairwise)
    assert browser.seen[1].cookies[RESUME_COOKIE]["secure"]


def test_a_forged_resume_cookie_is_ignored(pairwise):
    browser = Browser()
    rater = rater_of(consent(browser, pairwise))
    fresh = Browser()
    fresh.client.cookies[RESUME_COOKIE] = rater.token  # the token, but not signed by us
    assert 'name="consent"' in body(fresh.get(f"/s/{pairwise.token}/"))


def test_the_same_participant_id_returns_to_its_own_session(db):
    survey = make_survey(PAIRWISE, platform=Survey.Platform.PROLIFIC)
    params = {"PROLIFIC_PID": "pid-5f1a", "STUDY_ID": "st-1", "SESSION_ID": "se-1"}
    first = Browser()
    page = consent(first, survey, params)
    rater = rater_of(page)
    first.follow(post_answer(first, page, "left"))
    other_device = Browser()  # no cookie: the participant id alone finds the session
    back = other_device.get(f"/s/{survey.token}/", params)
    assert back.status_code == 302 and back["Location"] == f"/r/{rater.token}/"
    assert hidden_fields(other_device.follow(back))["q"] == "2"
    # Consent posted again with the participant id (an old tab) also lands on the same rater.
    stale = first.seen[0]
    url = f"/s/{survey.token}/?{urlencode(params)}"
    assert first.post(url, hidden_fields(stale))["Location"] == f"/r/{rater.token}/"
    assert Rater.objects.filter(survey=survey).count() == 1


def test_a_new_participant_id_is_not_sent_to_the_session_in_the_cookie(db):
    survey = make_survey(PAIRWISE, platform=Survey.Platform.PROLIFIC)
    browser = Browser()
    consent(browser, survey, {"PROLIFIC_PID": "first-person"})
    page = browser.get(f"/s/{survey.token}/", {"PROLIFIC_PID": "second-person"})
    assert page.status_code == 200 and 'name="consent"' in body(page)


# --- Exactly once ----------------------------------------------------------------------------


def test_a_double_post_of_consent_creates_one_rater(pairwise):
    browser = Browser()
    url = f"/s/{pairwise.token}/"
    fields = hidden_fields(browser.get(url))
    first, second = browser.post(url, fields), browser.post(url, fields)
    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert Rater.objects.count() == 1
    assert Assignment.objects.count() == 8


def test_a_double_post_of_an_answer_stores_one_response(pairwise):
    browser = Browser()
    page = consent(browser, pairwise)
    rater = rater_of(page)
    first, second = post_answer(browser, page, "left"), post_answer(browser, page, "right")
    assert first.status_code == second.status_code == 303
    assert rater.assignments.filter(answered_at__isnull=False).count() == 1
    slot = rater.assignments.get(position=1)
    assert slot.answer == "left" or Response.objects.get(rater=rater).answer == slot.left


def test_with_the_next_page_header_a_double_post_stores_one_answer_and_both_show_the_next(
    pairwise,
):
    browser = Browser()
    page = consent(browser, pairwise)
    rater = rater_of(page)
    first = post_answer(browser, page, "left", next_page=True)
    second = post_answer(browser, page, "right", next_page=True)
    assert first.status_code == second.status_code == 200
    assert hidden_fields(first)["q"] == hidden_fields(second)["q"] == "2"
    check_rater_headers(second)
    assert rater.assignments.filter(answered_at__isnull=False).count() == 1
    # A refused answer is said as without the header (HTTP 400), nothing stored.
    bad = browser.post(
        page.request["PATH_INFO"], {**hidden_fields(first), "answer": "both"},
        HTTP_RATER_NEXT_PAGE="1",
    )  # fmt: skip
    assert bad.status_code == 400 and "could not be read" in body(bad)
    assert rater.assignments.filter(answered_at__isnull=False).count() == 1


def test_the_back_button_resubmitting_an_earlier_page_stores_nothing_new(pairwise):
    browser = Browser()
    page_1 = consent(browser, pairwise)
    rater = rater_of(page_1)
    page_2 = browser.follow(post_answer(browser, page_1, "left"))
    page_3 = browser.follow(post_answer(browser, page_2, "right"))
    before = list(rater.assignments.values_list("position", "answer", "answered_at"))
    responses = list(Response.objects.filter(rater=rater).values_list("item", "answer"))
    resubmitted = post_answer(browser, page_1, "discard")  # the stale page, answered again
    assert resubmitted.status_code == 303
    assert hidden_fields(browser.follow(resubmitted))["q"] == hidden_fields(page_3)["q"] == "3"
    assert list(rater.assignments.values_list("position", "answer", "answered_at")) == before
    assert list(Response.objects.filter(rater=rater).values_list("item", "answer")) == responses


def test_done_before_the_last_answer_sends_back_to_the_question(pairwise):
    browser = Browser()
    rater = rater_of(consent(browser, pairwise))
    early = browser.get(f"/r/{rater.token}/done")
    assert early.status_code == 302 and early["Location"] == f"/r/{rater.token}/"
    assert CODE not in body(early)


# --- Refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"q": "abc", "answer": "left"},
        {"q": "", "answer": "left"},
        {"q": "0", "answer": "left"},
        {"q": "-1", "answer": "left"},
        {"q": "1.0", "answer": "left"},
        {"q": "١", "answer": "left"},  # an Arabic-Indic digit: isdigit, but not a page number
        {"q": "99999", "answer": "left"},
        {"q": "40", "answer": "left"},  # a number, but no page of this rater's plan
        {"q": "1", "answer": "model_1"},
        {"q": "1", "answer": "yes"},
        {"q": "1", "answer": ""},
        {"q": "1"},
        {"answer": "left"},
    ],
)
def test_a_malformed_answer_is_refused_with_a_readable_page_and_nothing_stored(pairwise, fields):
    browser = Browser()
    page = consent(browser, pairwise)
    token = hidden_fields(page)["csrfmiddlewaretoken"]
    refused = browser.post(page.request["PATH_INFO"], {"csrfmiddlewaretoken": token, **fields})
    assert refused.status_code == 400
    check_rater_headers(refused)
    assert "Something went wrong" in body(refused) and TITLE in body(refused)
    assert not Assignment.objects.filter(answered_at__isnull=False).exists()
    assert not Response.objects.exists()


def test_a_forged_or_tampered_consent_form_is_refused(pairwise):
    browser = Browser()
    url = f"/s/{pairwise.token}/"
    fields = hidden_fields(browser.get(url))
    forged = signing.dumps({"token": "x" * 22, "id": "", "data": {}}, salt="another salt")
    for consent_value in (fields["consent"][:-2] + "zz", forged, "", "not-signed"):
        refused = browser.post(url, {**fields, "consent": consent_value})
        assert refused.status_code == 400 and "could not be read" in body(refused)
        check_rater_headers(refused)
    assert not Rater.objects.exists()


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_a_draft_or_closed_survey_says_so_and_stores_nothing(db, status):
    survey = make_survey(PAIRWISE, title=TITLE, open_it=False)
    if status == "closed":
        survey = survey_close(survey)
    browser = Browser()
    page = browser.get(f"/s/{survey.token}/", {"PROLIFIC_PID": "someone"})
    assert page.status_code == 200
    check_rater_headers(page)
    wording = "has not opened yet" if status == "draft" else "has closed"
    assert wording in body(page) and TITLE in body(page)
    assert 'name="consent"' not in body(page) and "<form" not in body(page)
    assert not page.cookies
    # A consent form kept from before (validly signed) is refused all the same.
    consent_value = signing.dumps({"token": "t" * 22, "id": "", "data": {}}, salt=CONSENT_SALT)
    posted = Client().post(f"/s/{survey.token}/", {"consent": consent_value})
    assert posted.status_code == 200 and wording in body(posted)
    assert not posted.cookies
    assert not Rater.objects.exists() and not Assignment.objects.exists()


def test_a_survey_closing_between_consent_page_and_agreeing_stores_nothing(pairwise):
    browser = Browser()
    url = f"/s/{pairwise.token}/"
    fields = hidden_fields(browser.get(url))
    survey_close(pairwise)
    refused = browser.post(url, fields)
    assert refused.status_code == 200 and "has closed" in body(refused)
    assert RESUME_COOKIE not in refused.cookies
    assert not Rater.objects.exists()


def test_a_survey_closing_mid_survey_takes_no_more_answers(pairwise):
    browser = Browser()
    page = consent(browser, pairwise)
    rater = rater_of(page)
    page = browser.follow(post_answer(browser, page, "left"))
    survey_close(pairwise)
    refused = post_answer(browser, page, "left")
    assert refused.status_code == 200 and "has closed" in body(refused)
    assert "has closed" in body(browser.get(f"/r/{rater.token}/"))
    assert rater.assignments.filter(answered_at__isnull=False).count() == 1
    assert CODE not in body(browser.get(f"/r/{rater.token}/done"))


def test_a_full_survey_says_so_and_stores_no_rater(db):
    survey = make_survey(MEANINGFULNESS, cap=2, overlap=1, instructed=0, gold=0)
    survey.items.exclude(pk__in=list(survey.items.values_list("pk", flat=True)[:2])).delete()
    consent(Browser(), survey)
    latecomer = Browser()
    url = f"/s/{survey.token}/"
    refused = latecomer.post(url, hidden_fields(latecomer.get(url)))
    assert refused.status_code == 200 and "has all the answers it needs" in body(refused)
    assert Rater.objects.count() == 1


def test_unknown_tokens_get_a_readable_404(pairwise):
    browser = Browser()
    page = consent(browser, pairwise)
    fields = {**hidden_fields(page), "answer": "left"}
    for response in (
        browser.get("/s/AAAAAAAAAAAAAAAAAAAAAA/"),
        browser.get("/r/AAAAAAAAAAAAAAAAAAAAAA/"),
        browser.get("/r/AAAAAAAAAAAAAAAAAAAAAA/done"),
        browser.post("/r/AAAAAAAAAAAAAAAAAAAAAA/", fields),
    ):
        assert response.status_code == 404
        assert "This link is not valid" in body(response)
        check_rater_headers(response)
    assert not Response.objects.exists()
    assert not Assignment.objects.filter(answered_at__isnull=False).exists()


def test_a_rater_can_only_answer_their_own_questions(pairwise):
    alice, bob = Browser(), Browser()
    alice_page = consent(alice, pairwise)
    bob_page = consent(bob, pairwise)
    alice_rater, bob_rater = rater_of(alice_page), rater_of(bob_page)
    assert alice_rater.token != bob_rater.token
    # Bob answers "page 1": his own page 1, whatever Alice's page 1 holds.
    assert post_answer(bob, bob_page, "left")["Location"] == f"/r/{bob_rater.token}/"
    assert not alice_rater.assignments.filter(answered_at__isnull=False).exists()
    assert bob_rater.assignments.filter(answered_at__isnull=False).count() == 1
    # Bob's form posted to a token he made up reaches no one.
    fields = {**hidden_fields(bob_page), "answer": "left"}
    assert bob.post(f"/r/{bob_rater.token[:-1]}x/", fields).status_code == 404
    assert not alice_rater.assignments.filter(answered_at__isnull=False).exists()


def test_csrf_is_enforced_on_consent_and_answers(pairwise):
    browser = Browser()
    url = f"/s/{pairwise.token}/"
    fields = hidden_fields(browser.get(url))
    without = {k: v for k, v in fields.items() if k != "csrfmiddlewaretoken"}
    assert browser.post(url, without).status_code == 403
    assert not Rater.objects.exists()
    page = consent(browser, pairwise)
    answer = {"q": hidden_fields(page)["q"], "answer": "left"}
    assert browser.post(page.request["PATH_INFO"], answer).status_code == 403
    other = Browser()  # a page from another site posting with the rater's link: no CSRF cookie
    forged = {**answer, "csrfmiddlewaretoken": hidden_fields(page)["csrfmiddlewaretoken"]}
    assert other.post(page.request["PATH_INFO"], forged).status_code == 403
    assert not Assignment.objects.filter(answered_at__isnull=False).exists()


def test_only_get_and_post(pairwise):
    client = Client()
    assert client.put(f"/s/{pairwise.token}/").status_code == 405
    assert client.delete(f"/r/{'A' * 22}/").status_code == 405
    assert client.post(f"/r/{'A' * 22}/done").status_code == 405


# --- Crowd platforms -------------------------------------------------------------------------


def test_prolific_ids_are_recorded_and_done_redirects_with_the_code(db):
    survey = make_survey(PAIRWISE, platform=Survey.Platform.PROLIFIC)
    params = {"PROLIFIC_PID": "5f1a2b3c4d", "STUDY_ID": "study-77", "SESSION_ID": "sess-9"}
    browser = Browser()
    page = consent(browser, survey, params)
    rater = rater_of(page)
    assert rater.external_id == "5f1a2b3c4d"
    assert rater.platform_data == {"STUDY_ID": "study-77", "SESSION_ID": "sess-9"}
    assert "form-action 'self' https://app.prolific.com" in page["Content-Security-Policy"]
    last, _ = complete(browser, page, survey)
    assert last.status_code == 302
    assert last["Location"] == f"https://app.prolific.com/submissions/complete?cc={CODE}"
    assert last.request["PATH_INFO"] == f"/r/{rater.token}/done"
    assert not [r for r in browser.seen[:-1] if CODE in body(r) or CODE in str(r.items())]


def test_another_platform_uses_its_parameter_and_completion_url(db):
    survey = make_survey(
        MEANINGFULNESS,
        platform=Survey.Platform.OTHER,
        participant_parameter="workerId",
        completion_url="https://crowd.example/finish?code={code}&src=lab",
    )
    browser = Browser()
    page = consent(browser, survey, {"workerId": "W-123", "STUDY_ID": "ignored"})
    rater = rater_of(page)
    assert (rater.external_id, rater.platform_data) == ("W-123", {})
    last, _ = complete(browser, page, survey)
    assert last["Location"] == f"https://crowd.example/finish?code={CODE}&src=lab"
    back = Browser().get(f"/s/{survey.token}/", {"workerId": "W-123"})
    assert back["Location"] == f"/r/{rater.token}/"


def test_without_a_participant_id_a_rater_is_anonymous(pairwise):
    rater = rater_of(consent(Browser(), pairwise, {"PROLIFIC_PID": "ignored-here"}))
    assert rater.external_id.startswith("anonymous-") and rater.platform_data == {}


# --- Blindness -------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", [Survey.Platform.NONE, Survey.Platform.PROLIFIC])
@pytest.mark.parametrize("kind", [PAIRWISE, MEANINGFULNESS])
def test_no_byte_a_rater_receives_names_a_model_or_an_item(db, kind, platform):
    survey = make_survey(kind, title=TITLE, platform=platform)
    browser = Browser()
    params = {"PROLIFIC_PID": "p-1", "STUDY_ID": "s", "SESSION_ID": "x"}
    page = consent(browser, survey, params if platform == Survey.Platform.PROLIFIC else None)
    page = browser.follow(post_answer(browser, page, "discard" if survey.is_pairwise else "no"))
    browser.get(f"/s/{survey.token}/")  # resume
    browser.get(f"/r/{rater_of(page).token}/")  # refresh
    post_answer(browser, page, "left" if survey.is_pairwise else "yes")  # double submit
    complete(browser, browser.follow(browser.get(f"/r/{rater_of(page).token}/")), survey)
    assert len(browser.seen) > 20
    for text in browser.texts():
        assert not leaks(text, survey), leaks(text, survey)
        assert "AutoGen" not in text and "autogen" not in text.lower()
    for name in ("rater.js", "rater.css"):
        assert not leaks(static_text(name), survey)
        assert CODE not in static_text(name)


def test_the_scan_would_see_a_leak(pairwise):
    item = pairwise.items.first()
    assert leaks(f"<p>{item.model_1}</p>", pairwise)
    assert leaks(f'<input value="{item.pk}">', pairwise)
    assert leaks(f"Location: /r/x/?k={item.key}", pairwise)
    consent_value = signing.dumps(
        {"token": "t" * 22, "id": item.key, "data": {}}, salt=CONSENT_SALT
    )
    assert leaks(f'<input type="hidden" name="consent" value="{consent_value}">', pairwise)
    assert not leaks("Question 7 of 20", pairwise)
