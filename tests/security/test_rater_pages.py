"""The public rater pages under attack: tokens that are not the rater's own, model identity
(labels, run ids, checkpoint paths, the product's name) in any byte a rater receives, and the
security headers and cookies of production mode on every page, error pages included.

The whole flow, resuming and the first blindness scan are in tests/surveys/test_rater_views.py;
this file adds what an attacker tries."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from django.test import Client

from surveys.models import TOKEN_BYTES, Assignment, Rater, Response, Survey
from surveys.services import ItemSpec, rater_start
from tests.conftest import clean_env, run_python
from tests.foundation.test_settings import production_env
from tests.surveys.rater_helpers import leaks, make_survey
from tests.surveys.test_rater_views import (
    Browser,
    body,
    check_rater_headers,
    complete,
    consent,
    hidden_fields,
    post_answer,
    rater_of,
    static_text,
)

pytestmark = pytest.mark.django_db

PAIRWISE, MEANINGFULNESS = Survey.Kind.PAIRWISE, Survey.Kind.MEANINGFULNESS
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
RUN_IDS = (770_311, 770_313, 770_317, 770_319)
CHECKPOINT = "/srv/autogen-data/runs/{}/last.pt"
# What the items were made from: runs, their checkpoints and labels (the admin shows it).
MATERIAL = {
    "runs": [
        {"id": run, "label": f"run {run}", "checkpoint": CHECKPOINT.format(run)} for run in RUN_IDS
    ],
    "corpus": "books-internal-qx",
}


def answered() -> int:
    return Assignment.objects.filter(answered_at__isnull=False).count()


# --- Tokens ----------------------------------------------------------------------------------


def test_tokens_are_random_not_sequential(db):
    survey = make_survey(MEANINGFULNESS, cap=2, overlap=50)
    raters = [rater_start(survey, external_id=f"p{n}", platform_data={}) for n in range(60)]
    tokens = [rater.token for rater in raters] + [survey.token]
    assert TOKEN_BYTES >= 16  # 128 bits: not guessable
    assert all(TOKEN.fullmatch(token) for token in tokens)
    assert len(set(tokens)) == len(tokens)
    # Made one after another, yet unrelated: no shared beginnings, not in creation order.
    assert max(len(_common_prefix(a, b)) for a, b in itertools.pairwise(tokens)) < 4
    assert sorted(tokens[:-1]) != tokens[:-1]
    assert all(str(rater.pk) != rater.token for rater in raters)
    # Every character position varies (a counter would keep most of them fixed).
    assert all(len({token[i] for token in tokens}) > 10 for i in range(21))


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def near_misses(token: str) -> list[str]:
    """Tokens an attacker derives from one they know."""
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return [
        flipped,
        token[:-1],
        token + "A",
        token.upper() if token.upper() != token else token.lower(),
        token[1:] + token[0],
        "A" * 22,
        "_" * 22,
        "-" * 22,
    ]


def test_a_token_near_a_real_one_reaches_no_one_and_stores_nothing(db):
    survey = make_survey(PAIRWISE)
    browser = Browser()
    page = consent(browser, survey)
    rater = rater_of(page)
    fields = {**hidden_fields(page), "answer": "left"}
    for token in near_misses(rater.token):
        for response in (
            browser.get(f"/r/{token}/"),
            browser.post(f"/r/{token}/", fields),
            browser.get(f"/r/{token}/done"),
        ):
            assert response.status_code == 404, token
            assert "This link is not valid" in body(response)
    assert answered() == 0 and not Response.objects.exists()


def test_survey_and_rater_tokens_are_not_interchangeable(db):
    survey = make_survey(PAIRWISE)
    browser = Browser()
    rater = rater_of(consent(browser, survey))
    assert browser.get(f"/r/{survey.token}/").status_code == 404
    assert browser.get(f"/s/{rater.token}/").status_code == 404
    other = make_survey(PAIRWISE, name="Another ZETA-internal")
    assert browser.get(f"/s/{other.token}/").status_code == 200  # its own link works
    assert Rater.objects.count() == 1


def test_a_rater_cannot_reach_into_another_raters_plan_by_position(db):
    survey = make_survey(PAIRWISE)
    alice, bob = Browser(), Browser()
    alice_page, bob_page = consent(alice, survey), consent(bob, survey)
    alice_rater, bob_rater = rater_of(alice_page), rater_of(bob_page)
    bob_fields = hidden_fields(bob_page)
    # Bob posts every position there is, each on his own link: only his plan moves.
    for position in range(1, 9):
        bob.post(f"/r/{bob_rater.token}/", {**bob_fields, "q": str(position), "answer": "left"})
    assert not alice_rater.assignments.filter(answered_at__isnull=False).exists()
    assert Response.objects.filter(rater=alice_rater).count() == 0
    # Bob's session cookie posting to Alice's link is refused by CSRF (not his page).
    alice_fields = {**hidden_fields(alice_page), "answer": "left"}
    assert bob.post(f"/r/{alice_rater.token}/", alice_fields).status_code == 403
    assert not alice_rater.assignments.filter(answered_at__isnull=False).exists()


# --- Blindness -------------------------------------------------------------------------------


def forbidden_words(survey: Survey, data_dir) -> list[str]:
    words = ["AutoGen", "autogen", "last.pt", "checkpoint", "/runs/", "books-internal-qx"]
    words += [str(run) for run in RUN_IDS] + [str(data_dir)]
    return words


@pytest.mark.parametrize("kind", [PAIRWISE, MEANINGFULNESS])
def test_no_page_of_a_rater_session_names_a_run_checkpoint_or_model(db, kind, settings):
    survey = make_survey(kind, title="Short sentences", material=MATERIAL)
    assert survey.material["runs"][0]["id"] == RUN_IDS[0]
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "answer_token": (40, 60)}
    browser = Browser()
    page = consent(browser, survey)
    rater = rater_of(page)
    # Error pages too: a malformed answer, a made-up token, a stale form.
    browser.post(page.request["PATH_INFO"], {**hidden_fields(page), "answer": "sideways"})
    browser.get("/r/" + "B" * 22 + "/")
    browser.post(page.request["PATH_INFO"], {"q": "1", "answer": "left"})
    page = browser.follow(browser.get(f"/r/{rater.token}/"))
    complete(browser, page, survey)
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "entry_ip": (1, 60)}
    assert browser.get(f"/s/{survey.token}/").status_code == 429
    statuses = {response.status_code for response in browser.seen}
    assert {200, 302, 303, 400, 403, 404, 429} <= statuses
    texts = [*browser.texts(), static_text("rater.js"), static_text("rater.css")]
    for text in texts:
        assert not leaks(text, survey), leaks(text, survey)
        found = [word for word in forbidden_words(survey, settings.DATA_DIR) if word in text]
        assert not found, found


SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def test_sentences_title_and_instructions_are_escaped_on_rater_pages(db):
    """Sentences come from items CSV files and models; title and instructions from staff."""
    items = [
        ItemSpec(
            key=f"k{n}", model_1="A", text_1=f"{SCRIPT} one {n}", model_2="B",
            text_2=f"{IMG} two {n}", source=f"the {SCRIPT} source {n}",
        )
        for n in range(6)
    ]  # fmt: skip
    survey = make_survey(
        PAIRWISE, items=items, cap=2, instructed=0, gold=0, title=f"Study {SCRIPT}",
        instructions=f"Read {IMG} carefully.",
    )  # fmt: skip
    browser = Browser()
    first = browser.get(f"/s/{survey.token}/")
    page = consent(browser, survey)
    for response in (first, page):
        text = body(response)
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in body(page)


# --- Production headers and cookies ----------------------------------------------------------

SHOW_SECURITY = """
import json, django
django.setup()
from django.conf import settings as s
names = [
    "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS",
    "SECURE_REFERRER_POLICY", "SECURE_CROSS_ORIGIN_OPENER_POLICY", "CSRF_FAILURE_VIEW",
    "CSRF_COOKIE_SAMESITE", "SESSION_COOKIE_SAMESITE",
]
print(json.dumps({name: getattr(s, name) for name in names}))
"""


@pytest.fixture(scope="module")
def production_security(tmp_path_factory) -> dict:
    """The security settings that production mode loads (read in a process of its own)."""
    env = clean_env(**production_env(tmp_path_factory.mktemp("production")))
    result = run_python(SHOW_SECURITY, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


class HttpsClient(Client):
    """A browser on the production site: every request over HTTPS."""

    def get(self, path, data=None, **extra):
        return super().get(path, data, secure=True, **extra)

    def post(self, path, data=None, **extra):
        # Browsers send the page's origin with a form; Django's CSRF check over HTTPS needs it.
        extra.setdefault("HTTP_ORIGIN", "https://testserver")
        return super().post(path, data, secure=True, **extra)


def test_production_turns_on_every_hardening(production_security):
    s = production_security
    assert s["DEBUG"] is False and s["SECURE_SSL_REDIRECT"] is True
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and s["SECURE_HSTS_PRELOAD"]
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] and s["X_FRAME_OPTIONS"] == "DENY"
    assert s["SECURE_REFERRER_POLICY"] == "same-origin"
    assert s["SECURE_CROSS_ORIGIN_OPENER_POLICY"] == "same-origin"
    assert s["CSRF_FAILURE_VIEW"] == "surveys.views.csrf_failure"
    assert s["CSRF_COOKIE_SAMESITE"] == s["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_every_rater_page_in_production_carries_the_headers_and_secure_cookies(
    db, settings, production_security
):
    for name, value in production_security.items():
        setattr(settings, name, value)
    survey = make_survey(PAIRWISE, platform=Survey.Platform.PROLIFIC)
    assert Client().get(f"/s/{survey.token}/").status_code == 301  # plain HTTP: to HTTPS
    browser = Browser()
    browser.client = HttpsClient(enforce_csrf_checks=True)
    page = consent(browser, survey, {"PROLIFIC_PID": "p-77"})
    browser.post(page.request["PATH_INFO"], {**hidden_fields(page), "answer": "sideways"})
    browser.get("/r/" + "C" * 22 + "/")
    browser.post(page.request["PATH_INFO"], {"q": "1", "answer": "left"})  # no CSRF token
    answered_page = post_answer(browser, page, "left")
    assert answered_page.status_code == 303
    for response in browser.seen:
        check_rater_headers(response)
        assert response["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["Cache-Control"] == "no-store"
        csp = response["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "base-uri 'none'" in csp and "form-action 'self'" in csp
        for cookie in response.cookies.values():
            assert cookie["secure"] and cookie["samesite"] == "Lax", cookie.output()
    agreed = browser.seen[1]
    assert agreed.cookies["resume"]["httponly"] and agreed.cookies["resume"]["secure"]
    # The last answer ends at the crowd platform: its origin is allowed as a form target.
    assert "form-action 'self' https://app.prolific.com" in page["Content-Security-Policy"]
