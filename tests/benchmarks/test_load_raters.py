"""The rater load benchmark's core (``benchmarks/load_raters.py``) against a live server: three
raters, no think time, every behaviour it simulates (a reload, a double click, a stale second
tab), then its audit of the database finds every answer stored once; the audit sees a lost and
an unsent answer; and the benchmark targets nothing but this machine."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from benchmarks import load_raters
from surveys.models import Response

CAP = 4


@pytest.mark.parametrize(
    "url", ["http://example.org:8000", "http://10.1.2.3/", "http://0.0.0.0:8000", "ftp://[::1]/"]
)
def test_it_refuses_a_base_url_off_the_loopback(url):
    with pytest.raises(argparse.ArgumentTypeError, match="not a loopback URL"):
        load_raters.loopback_url(url)


def test_it_takes_the_loopback_and_bounds_raters_and_database_names():
    assert load_raters.loopback_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert load_raters.loopback_url("http://[::1]:81") == "http://[::1]:81"
    assert load_raters.loopback_url("http://localhost:8000") == "http://localhost:8000"
    for argv in (
        ["--raters", str(load_raters.MAX_RATERS + 1)],
        ["--cap", "21"],
        ["--database", "autogen"],  # dropped and recreated: only a name saying "load"
    ):
        with pytest.raises(SystemExit):
            load_raters.parse_args(argv)


@pytest.fixture(params=[True, False], ids=["rater.js", "plain-forms"])
def finished_run(request, live_server, settings):
    settings.RATE_LIMITS = {}  # off: counters other tests left in the shared cache stay out
    surveys = load_raters.create_surveys(["pairwise", "meaningfulness"], cap=CAP, seed=1)
    plan = load_raters.Plan(
        think=None, js=request.param, refresh=0.5, double_submit=0.5, two_tabs_every=2, seed=3,
        time_limit=60,
    )  # fmt: skip
    tokens = [survey.token for survey in surveys]
    run = asyncio.run(load_raters.run_raters(live_server.url, tokens, 3, plan))
    return surveys, run, plan.js


@pytest.mark.django_db(transaction=True)
def test_three_raters_finish_both_surveys_and_the_audit_is_clean(finished_run):
    surveys, run, js = finished_run
    assert run.errors == []
    codes = {survey.token: survey.completion_code for survey in surveys}
    assert [(r.finished, r.code) for r in run.records] == [
        (True, codes[r.survey_token]) for r in run.records
    ]
    assert {r.survey_token for r in run.records} == set(codes)
    for behaviour in ("refreshes", "double submits", "second tabs", "stale answers sent"):
        assert run.behaviour[behaviour] > 0, behaviour
    assert len(run.answer_times) == 3 * (CAP + 2)  # the cap and two checks each
    answers = len(run.latencies["answer"])
    questions = len(run.latencies["question"])
    if js:  # the next page came with each answer: questions fetched on reloads,
        assert questions < answers  # second tabs and the way to the done page only
    else:
        assert questions > answers  # one after every answer
    audit = load_raters.audit_run(surveys, run, CAP)
    assert audit.raters == 3 and audit.clean, audit
    assert audit.lines(CAP)[-1] == "audit: 0 lost, 0 duplicated"
    assert Response.objects.count() == 3 * CAP


@pytest.mark.django_db(transaction=True)
def test_the_audit_counts_a_lost_and_an_unsent_answer(finished_run):
    surveys, run, _ = finished_run
    Response.objects.filter(pk=Response.objects.order_by("pk").first().pk).delete()
    record = run.records[1]
    record.answers.pop(max(record.answers))  # stored, yet the client never said it sent it
    audit = load_raters.audit_run(surveys, run, CAP)
    assert (audit.lost, audit.duplicated) == (1, 1)
    assert not audit.clean
    assert audit.lines(CAP)[-1] == "audit: 1 lost, 1 duplicated"


def test_the_machine_line_splits_busy_idle_and_stolen_time():
    before = [100, 0, 50, 1000, 10, 0, 5, 20]
    after = [400, 0, 150, 1400, 10, 0, 25, 120]  # 420 busy, 400 idle, 100 stolen of 920
    assert load_raters.steal_line(before, after) == (
        "machine over the run: 46% busy, 43% idle, 11% stolen by the host"
    )
    assert load_raters.steal_line([], after) == "machine: /proc/stat unreadable"
    assert len(load_raters.machine_times()) == 8


def test_database_cpu_counts_backends_that_end_or_start_mid_run():
    watch = load_raters.BackendWatch({})
    watch.poll({1: 5.0, 2: 1.0})  # before the raters: only what comes after counts
    watch.poll({1: 7.0, 2: 1.5, 3: 0.25})  # 3 started during the run: all of it counts
    watch.poll({1: 0.0, 3: 0.75})  # 1 gone (a replaced connection): its last poll stands
    assert watch.seconds == pytest.approx((7.0 - 5.0) + (1.5 - 1.0) + 0.75)
