"""Rate limits on the rater pages: survey entry per address, answers per address and per rater
token; beyond them HTTP 429 with a readable page, and nothing stored. Limits come from settings
(the AUTOGEN_RATE_LIMIT_* variables); the counters live in the configured cache."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from autogen import settings as settings_module
from surveys import ratelimit
from surveys.models import Assignment, Rater, Survey
from tests.conftest import clean_env, run_python
from tests.surveys.rater_helpers import make_survey
from tests.surveys.test_rater_views import (
    Browser,
    body,
    check_rater_headers,
    consent,
    hidden_fields,
    post_answer,
)

OFF = {"entry_ip": None, "answer_ip": None, "answer_token": None}


@pytest.fixture
def survey(db) -> Survey:
    return make_survey(Survey.Kind.PAIRWISE, title="A short study")


def limits(settings, **rates) -> None:
    settings.RATE_LIMITS = {**OFF, **rates}


def check_too_many(response) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    text = body(response)
    assert "Too many requests" in text and "wait a minute" in text
    assert "Traceback" not in text and "ratelimit" not in text
    check_rater_headers(response)


def answered() -> int:
    return Assignment.objects.filter(answered_at__isnull=False).count()


def test_survey_entry_is_limited_per_address_and_the_consent_past_it_stores_no_rater(
    survey, settings
):
    limits(settings, entry_ip=(3, 60))
    browser = Browser()
    url = f"/s/{survey.token}/"
    first = browser.get(url)
    assert browser.get(url).status_code == 200
    agreed = browser.post(url, hidden_fields(first))
    assert agreed.status_code == 303 and Rater.objects.count() == 1
    check_too_many(browser.get(url))
    check_too_many(browser.post(url, hidden_fields(first)))
    check_too_many(Browser().get(url))  # another browser at the same address
    assert Rater.objects.count() == 1
    other_address = Client(REMOTE_ADDR="10.1.2.3")
    assert other_address.get(url).status_code == 200


def test_answers_are_limited_per_token_and_the_one_past_the_limit_is_not_stored(survey, settings):
    limits(settings, answer_token=(2, 60))
    browser = Browser()
    page = consent(browser, survey)
    page = browser.follow(post_answer(browser, page, "left"))
    page = browser.follow(post_answer(browser, page, "right"))
    assert answered() == 2
    check_too_many(post_answer(browser, page, "left"))
    assert answered() == 2
    # Reading the question is not answering: the page still shows.
    assert browser.get(page.request["PATH_INFO"]).status_code == 200
    # Another rater at the same address has answers of their own.
    other = Browser()
    other_page = consent(other, survey)
    assert post_answer(other, other_page, "left").status_code == 303
    assert answered() == 3


def test_answers_are_limited_per_address_across_tokens(survey, settings):
    limits(settings, answer_ip=(3, 60))
    alice, bob = Browser(), Browser()
    alice_page, bob_page = consent(alice, survey), consent(bob, survey)
    alice_page = alice.follow(post_answer(alice, alice_page, "left"))
    bob_page = bob.follow(post_answer(bob, bob_page, "left"))
    assert post_answer(alice, alice_page, "left").status_code == 303
    check_too_many(post_answer(bob, bob_page, "left"))
    assert answered() == 3
    carol = Browser()
    carol.client.defaults["REMOTE_ADDR"] = "10.9.8.7"
    assert post_answer(carol, consent(carol, survey), "left").status_code == 303
    assert answered() == 4


def test_a_limit_opens_again_in_the_next_window(survey, settings, monkeypatch):
    limits(settings, entry_ip=(1, 60))
    now = [1_000_040.0]  # 20 s into a minute window: 40 s left
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    client = Client()
    url = f"/s/{survey.token}/"
    assert client.get(url).status_code == 200
    refused = client.get(url)
    assert refused.status_code == 429 and refused["Retry-After"] == "40"
    now[0] += 40
    assert client.get(url).status_code == 200


def test_a_forwarded_for_header_counts_only_behind_trusted_proxies(survey, settings):
    limits(settings, entry_ip=(1, 60))
    url = f"/s/{survey.token}/"
    spoofing = Client()  # no proxy trusted: a client's own X-Forwarded-For changes nothing
    assert spoofing.get(url, HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 200
    assert spoofing.get(url, HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429
    settings.TRUSTED_PROXIES = 1  # nginx in front: the address it appended is the client's
    proxied = Client(REMOTE_ADDR="10.0.0.1")
    assert proxied.get(url, HTTP_X_FORWARDED_FOR="6.6.6.6, 3.3.3.3").status_code == 200
    assert proxied.get(url, HTTP_X_FORWARDED_FOR="7.7.7.7, 4.4.4.4").status_code == 200
    assert proxied.get(url, HTTP_X_FORWARDED_FOR="8.8.8.8, 4.4.4.4").status_code == 429


def test_limits_that_are_off_never_refuse(survey, settings):
    limits(settings)
    client = Client()
    assert {client.get(f"/s/{survey.token}/").status_code for _ in range(30)} == {200}


def test_a_failing_cache_lets_raters_through(survey, settings):
    limits(settings, entry_ip=(1, 60))
    settings.CACHES = {  # a Redis nobody listens on
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    client = Client()
    assert [client.get(f"/s/{survey.token}/").status_code for _ in range(3)] == [200] * 3


# --- Settings ------------------------------------------------------------------------------


def test_the_defaults_let_200_raters_behind_one_address_through(monkeypatch):
    per_minute = {}
    for name, (variable, default) in settings_module.RATE_LIMIT_VARIABLES.items():
        monkeypatch.delenv(variable, raising=False)
        count, seconds = settings_module._rate(variable, default)
        per_minute[name] = count * 60 / seconds
    assert per_minute["entry_ip"] >= 200 * 3  # link, consent and a reload each
    assert per_minute["answer_ip"] >= 200 * 60 * 2  # each answering twice a second
    assert per_minute["answer_token"] >= 60  # one person clicking every second


@pytest.mark.parametrize(
    ("value", "rate"),
    [("5/s", (5, 1)), ("100/h", (100, 3600)), ("300/M", (300, 60)), ("off", None), ("0", None)],
)
def test_every_limit_is_read_from_the_environment(monkeypatch, value, rate):
    for variable, default in settings_module.RATE_LIMIT_VARIABLES.values():
        monkeypatch.setenv(variable, value)
        assert settings_module._rate(variable, default) == rate


@pytest.mark.parametrize("value", ["fast", "10", "10/day", "-1/m", "0/m", "1.5/s", "٣/m"])
def test_a_bad_limit_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("AUTOGEN_RATE_LIMIT_ANSWERS_PER_TOKEN", value)
    with pytest.raises(ImproperlyConfigured, match="AUTOGEN_RATE_LIMIT_ANSWERS_PER_TOKEN="):
        settings_module._rate("AUTOGEN_RATE_LIMIT_ANSWERS_PER_TOKEN", "1/s")


def test_a_bad_limit_stops_the_start_with_one_line(tmp_path):
    env = clean_env(
        AUTOGEN_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="autogen.settings",
        AUTOGEN_RATE_LIMIT_ENTRY_PER_IP="lots",
    )
    result = run_python("import django; django.setup()", env)
    assert result.returncode != 0
    assert "AUTOGEN_RATE_LIMIT_ENTRY_PER_IP='lots': expected N/s, N/m or N/h" in result.stderr


def test_with_redis_a_request_counts_every_limit_in_one_round_trip_and_windows_expire(
    survey, settings, monkeypatch
):
    if ratelimit._redis_of_cache() is None:
        pytest.skip("the cache is not Redis here (the embedded default: files)")
    limits(settings, answer_ip=(100, 60), answer_token=(100, 60))
    script = ratelimit._redis_of_cache()
    calls = []
    run = script.__call__

    class Counting:
        def __call__(self, keys, args):
            calls.append(list(keys))
            return run(keys=keys, args=args)

    monkeypatch.setattr(ratelimit, "_redis_of_cache", lambda: Counting())
    browser = Browser()
    page = consent(browser, survey)
    assert post_answer(browser, page, "left").status_code == 303
    assert len(calls) == 1 and len(calls[0]) == 2  # one call: the address and the token
    client = script.registered_client
    assert all(0 < client.ttl(key) <= 61 for key in calls[0])
    assert [int(client.get(key)) for key in calls[0]] == [1, 1]
