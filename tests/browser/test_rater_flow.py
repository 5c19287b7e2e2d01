"""A rater answers whole surveys in Debian's chromium on a phone-sized screen, with the keyboard
(1/2/0, Y/N), clicks and taps, including a refresh mid-survey, the back button, a stale second
tab and a double click; then the database holds exactly the cap of answers for that rater,
balanced over the models (comparisons) and sides, no duplicates, and ``survey_report --format
json`` counts them. Every page, URL, header, cookie and posted field is scanned for model names
and item ids on the way.

``AUTOGEN_SCREENSHOTS=docs/screenshots`` also saves the phone screenshot of a pairwise question
page there (``rater-question-phone.png``, shown in the README).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from django.core.management import call_command

from surveys import reports
from surveys.models import Assignment, Rater, Response, Survey
from tests.surveys.rater_helpers import CODE, COMPARISONS, MODELS, leaks, make_survey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLE = "Reading sentences: a five-minute survey"
PROLIFIC_DONE = f"https://app.prolific.com/submissions/complete?cc={CODE}"
KEYS = {"left": "1", "right": "2", "discard": "0", "yes": "y", "no": "n"}
SCREENSHOT_NAME = "rater-question-phone.png"
MIN_TAP_PX = 44  # the smallest comfortable touch target (WCAG 2.5.5, Apple HIG)


class Watch:
    """What the browser sent and received: each page's HTML, every request (URL and posted
    fields) and response (URL and headers), console errors (CSP violations show there)."""

    def __init__(self, page) -> None:
        self.texts: list[str] = []
        self.urls: list[str] = []
        self.posts: list[dict[str, str]] = []
        self.errors: list[str] = []
        self.failed: dict[str, str] = {}
        page.on("request", self._request)
        page.on("requestfailed", lambda r: self.failed.__setitem__(r.url, r.failure))
        page.on("response", self._response)
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request) -> None:
        self.urls.append(request.url)
        if request.method == "POST":
            fields = dict(parse_qsl(request.post_data or ""))
            self.posts.append(fields)
            # As the form had them, so that the scan decodes the signed consent field.
            self.texts.append(
                "\n".join(f'name="{k}" value="{v}"' for k, v in fields.items()) + request.url
            )

    def _response(self, response) -> None:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.texts.append(f"{response.url}\n{headers}")

    def page(self, page) -> str:
        html = page.content()
        self.texts.append(html)
        return html


def shown_q(page) -> int:
    return int(page.get_attribute("input[name=q]", "value"))


def pending(rater: Rater) -> int | None:
    slot = rater.assignments.filter(answered_at__isnull=True).order_by("position").first()
    return slot.position if slot else None


def answered(rater: Rater) -> int:
    return rater.assignments.filter(answered_at__isnull=False).count()


def wait_for_question(page, position: int) -> None:
    """Until the page shows question `position` (a restored page reloads itself first)."""
    page.wait_for_function(
        "q => document.querySelector('input[name=q]')?.value === q", arg=str(position)
    )


def choice_for(slot: Assignment, turn: int, pairwise: bool) -> str:
    """A careful rater: checks answered as expected, questions answered in turn."""
    if slot.is_check:
        return slot.expected
    return ("left", "right", "discard")[turn % 3] if pairwise else ("yes", "no")[turn % 2]


def check_question_page(page, html: str, position: int, total: int) -> None:
    assert TITLE in page.title()
    assert page.inner_text(".progress-text") == f"Question {position} of {total}"
    assert page.get_attribute("progress", "value") == str(position)
    assert page.get_attribute("html", "lang") == "en"
    assert page.is_visible("kbd")  # the keyboard hints show once the script runs
    buttons = page.locator("button[name=answer]")
    for n in range(buttons.count()):
        box = buttons.nth(n).bounding_box()
        assert box["height"] >= MIN_TAP_PX and box["width"] >= MIN_TAP_PX, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # nothing off the phone screen
    assert CODE not in html


# How each page is answered, in turn: what happens first (a refresh, the back button), then how
# the answer is given.
PLAN = [
    (None, "key"), (None, "tap"), ("reload", "key"), ("back", "click"), (None, "double click"),
    (None, "stale tab"), (None, "click"), ("reload", "tap"), (None, "key"),
]  # fmt: skip


def complete_survey(page, watch: Watch, survey: Survey, rater: Rater, shot: Path | None):
    """Answer every page in the varied ways of :data:`PLAN`, checking after each that exactly
    one answer was stored; return how many pages were answered."""
    total = survey.cap_per_rater + survey.n_checks
    done = Counter()
    turn = 0
    while (position := pending(rater)) is not None:
        wait_for_question(page, position)
        check_question_page(page, watch.page(page), position, total)
        slot = rater.assignments.get(position=position)
        choice = choice_for(slot, turn, survey.is_pairwise)
        before = answered(rater)
        if shot and not slot.is_check and not done["screenshot"]:
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.screenshot(path=str(shot))
            done["screenshot"] += 1
        prelude, how = PLAN[turn % len(PLAN)]
        if prelude:
            leave_and_return(page, prelude, position)
            assert answered(rater) == before
        if how == "stale tab":
            answer_with_a_stale_tab(page, rater, choice, survey.is_pairwise)
        else:
            answer(page, watch, how, choice, survey, last=position == total)
        assert answered(rater) == before + 1
        stored = rater.assignments.get(position=position)
        assert stored.answered_at and stored.response_ms is not None
        assert stored.answer == (choice if slot.is_check else "")  # questions: a Response
        done.update([prelude, how])
        turn += 1
    for way in ("key", "tap", "click", "double click", "stale tab", "reload", "back"):
        assert done[way], done
    return turn


def leave_and_return(page, prelude: str, position: int) -> None:
    """Refresh, or go back a page: either way the current question shows again, unchanged."""
    shown = page.inner_text("main")
    if prelude == "reload":
        page.reload()
    else:
        page.go_back()
        page.wait_for_url(re.compile(r"/r/[\w-]+/$"))  # via the survey link if that was it
    wait_for_question(page, position)  # the current question, never an earlier one
    assert page.inner_text("main") == shown


def wait_for_next(page, shown: int) -> None:
    """Until rater.js has swapped the next question in for question `shown`."""
    page.wait_for_function(
        "q => document.querySelector('input[name=q]')?.value !== q"
        " && !document.querySelector('form[aria-busy]')",
        arg=str(shown),
    )


def answer(page, watch: Watch, how: str, choice: str, survey: Survey, last: bool) -> None:
    """Answer `choice` by key, tap, click or double click; wait for the next page. Before the
    last, the next question comes in the answer's own response, swapped in place: one request
    (the POST), no page load."""
    button = f"button[name=answer][value={choice}]"
    posts, requests, shown = len(watch.posts), len(watch.urls), shown_q(page)
    target = survey.completion_target
    if last and target:  # the platform's page (nothing outside resolves in the tests)
        leaving = page.expect_event("requestfailed", lambda r: r.url == target)
    elif last:
        leaving = page.expect_navigation()
    else:
        leaving = contextlib.nullcontext()
        page.evaluate("window.samePage = true")
    with leaving:
        if how == "key":
            page.keyboard.press(KEYS[choice])
        elif how == "tap":
            page.tap(button)
        elif how == "click":
            page.click(button)
        else:
            page.dblclick(button)
    if not last:
        wait_for_next(page, shown)
        assert page.evaluate("window.samePage === true")  # swapped in, not loaded
        assert len(watch.urls) == requests + 1  # the answer's POST alone
    page.wait_for_load_state("load")
    assert len(watch.posts) == posts + 1  # one answer sent, a double click too


def answer_with_a_stale_tab(page, rater: Rater, choice: str, pairwise: bool) -> None:
    """The same question open in a second tab: answered in the first, then (differently) in the
    second; the second answer stores nothing and that tab moves on to the next question."""
    stale = page.context.new_page()
    stale.goto(page.url)
    shown = shown_q(page)
    wait_for_question(stale, shown)
    before = answered(rater)
    page.keyboard.press(KEYS[choice])
    wait_for_next(page, shown)
    assert answered(rater) == before + 1
    others = [
        c for c in (("left", "right", "discard") if pairwise else ("yes", "no")) if c != choice
    ]
    stale.click(f"button[name=answer][value={others[0]}]")
    wait_for_next(stale, shown)
    assert answered(rater) == before + 1  # the stale page stored nothing
    if (position := pending(rater)) is not None:
        wait_for_question(stale, position)
    stale.close()


def check_blind(watch: Watch, survey: Survey, context, live_server, end_url: str = "") -> None:
    cookies = "\n".join(f"{c['name']}={c['value']}; path={c['path']}" for c in context.cookies())
    for text in [*watch.texts, cookies]:
        assert not leaks(text, survey), leaks(text, survey)
    outside = [u for u in watch.urls if not u.startswith(live_server.url) and u != end_url]
    assert not outside  # no asset, script or style from outside the server
    assert not watch.errors  # no CSP violation, no script error


def report(survey: Survey) -> dict:
    out = io.StringIO()
    call_command("survey_report", survey.name, "--format", "json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def quick_bootstrap(monkeypatch) -> None:
    monkeypatch.setattr(reports.build, "N_BOOT", 200)
    monkeypatch.setattr(reports.build, "N_BOOT_BRADLEY_TERRY", 20)


def test_a_rater_completes_a_pairwise_survey_on_a_phone(
    live_server, phone, tmp_path, quick_bootstrap
):
    survey = make_survey(Survey.Kind.PAIRWISE, title=TITLE, cap=6, instructed=1, gold=1)
    page = phone.new_page()
    watch = Watch(page)
    page.goto(f"{live_server.url}/s/{survey.token}/")
    watch.page(page)
    assert page.title() == TITLE
    assert "Can’t decide" in page.inner_text("main")
    with page.expect_navigation():
        page.tap("text=I agree, start the survey")
    rater = Rater.objects.get(survey=survey)
    assert page.url == f"{live_server.url}/r/{rater.token}/"

    # Focus order: the two sentences, then "Can't decide"; the focus ring is visible.
    for value in ("left", "right", "discard"):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.value") == value
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"
    assert answered(rater) == 0

    shots = os.environ.get("AUTOGEN_SCREENSHOTS")
    shot = (Path(shots) if shots else tmp_path) / SCREENSHOT_NAME
    shot.parent.mkdir(parents=True, exist_ok=True)
    turns = complete_survey(page, watch, survey, rater, shot)
    assert turns == 8 and shot.stat().st_size > 10_000

    page.wait_for_url(f"{live_server.url}/r/{rater.token}/done")
    html = watch.page(page)
    assert page.inner_text("#completion-code") == CODE and TITLE in page.title()
    assert sum(CODE in text for text in watch.texts) == 1  # only the done page shows it
    check_blind(watch, survey, phone, live_server)

    responses = list(Response.objects.filter(rater=rater).select_related("item"))
    assert len(responses) == survey.cap_per_rater == 6
    assert len({r.item_id for r in responses}) == 6  # no item twice
    per_comparison = Counter(tuple(sorted((r.item.model_1, r.item.model_2))) for r in responses)
    assert sorted(per_comparison.values()) == [2, 2, 2]
    assert set(per_comparison) == {tuple(sorted(c)) for c in COMPARISONS}
    assert Counter(r.left for r in responses) == {"model_1": 3, "model_2": 3}
    assert rater.assignments.filter(answered_at__isnull=True).count() == 0
    assert "Thank you" in html

    document = report(survey)
    assert (document["responses"], document["raters"]) == (6, 1)
    assert sum(row["n"] + row["discarded"] for row in document["rows"]) == 6
    assert {frozenset((row["model_1"], row["model_2"])) for row in document["rows"]} == {
        frozenset(c) for c in COMPARISONS
    }


def test_a_prolific_rater_completes_a_meaningfulness_survey_on_a_phone(
    live_server, phone, quick_bootstrap
):
    survey = make_survey(
        Survey.Kind.MEANINGFULNESS,
        title=TITLE,
        cap=8,
        instructed=1,
        gold=1,
        platform=Survey.Platform.PROLIFIC,
    )
    page = phone.new_page()
    watch = Watch(page)
    link = f"{live_server.url}/s/{survey.token}/?PROLIFIC_PID=pp-61&STUDY_ID=st-2&SESSION_ID=se-3"
    page.goto(link)
    watch.page(page)
    assert "Yes" in page.inner_text("main")
    with page.expect_navigation():
        page.click("text=I agree, start the survey")
    rater = Rater.objects.get(survey=survey)
    assert (rater.external_id, rater.platform_data) == (
        "pp-61",
        {"STUDY_ID": "st-2", "SESSION_ID": "se-3"},
    )
    # The same participant again, in a new tab: back to their own session.
    again = phone.new_page()
    again.goto(link)
    assert again.url == f"{live_server.url}/r/{rater.token}/"
    again.close()

    assert complete_survey(page, watch, survey, rater, shot=None) == 10
    # Sent on to Prolific with the code (nothing outside resolves here; a CSP block would
    # stop the browser before it asked, with net::ERR_BLOCKED_BY_CSP).
    assert watch.urls[-1] == PROLIFIC_DONE
    assert watch.failed.get(PROLIFIC_DONE) == "net::ERR_NAME_NOT_RESOLVED"
    assert sum(CODE in text for text in watch.texts) == 1  # the redirect to Prolific alone
    check_blind(watch, survey, phone, live_server, end_url=PROLIFIC_DONE)

    responses = list(Response.objects.filter(rater=rater).select_related("item"))
    assert len(responses) == survey.cap_per_rater == 8
    assert len({r.item_id for r in responses}) == 8
    assert Counter(r.item.model_1 for r in responses) == dict.fromkeys(MODELS, 2)
    assert Rater.objects.filter(survey=survey).count() == 1

    document = report(survey)
    assert (document["responses"], document["raters"]) == (8, 1)
    per_model = {row["model"]: row["all"]["n"] for row in document["rows"]}
    assert per_model == dict.fromkeys(MODELS, 2)


def test_a_rater_without_javascript_answers_with_plain_forms(live_server, chromium):
    survey = make_survey(Survey.Kind.PAIRWISE, title=TITLE, cap=3, instructed=0, gold=0)
    context = chromium.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/s/{survey.token}/")
        page.click("text=I agree, start the survey")
        rater = Rater.objects.get(survey=survey)
        for n, choice in enumerate(("left", "discard", "right"), start=1):
            assert page.inner_text(".progress-text") == f"Question {n} of 3"
            assert not page.is_visible("kbd")  # no keyboard hints without the script
            page.click(f"button[name=answer][value={choice}]")
            assert answered(rater) == n
        assert page.url == f"{live_server.url}/r/{rater.token}/done"
        assert page.inner_text("#completion-code") == CODE
    finally:
        context.close()
    assert Response.objects.filter(rater=rater).count() == 3
