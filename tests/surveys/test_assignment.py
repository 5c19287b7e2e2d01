"""Assignment: the pure plan over many simulated raters, and the database plan under load."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from scipy import stats as scipy_stats

from surveys import services
from surveys.assignment import (
    Candidate,
    check_material,
    place_checks,
    plan_questions,
    release_expired,
    scramble,
)
from surveys.models import Assignment, Item, Rater, Response, Survey
from surveys.services import Design, ItemSpec

MODELS = ["VAE", "VAE (annealing)", "AutoGen (m=1)", "AutoGen (m=2)"]
COMPARISONS = [
    ("VAE (annealing)", "VAE"),
    ("AutoGen (m=1)", "VAE (annealing)"),
    ("AutoGen (m=2)", "AutoGen (m=1)"),
]


def _binomial_ok(k: int, n: int, p: float) -> bool:
    """`k` of `n` is within binomial tolerance of share `p` (two-sided, alpha 0.001)."""
    return scipy_stats.binomtest(k, n, p).pvalue > 0.001


def _simulate(n_raters: int, groups: list[str], per_group: int, cap: int, sides: bool):
    """Plans for `n_raters` raters in turn, each seeing the loads the ones before left."""
    loads = Counter()
    items = [(g, i) for g in groups for i in range(per_group)]
    index = {item: k for k, item in enumerate(items)}
    plans = []
    rng = random.Random(7)
    for _ in range(n_raters):
        candidates = [Candidate(index[(g, i)], g, loads[index[(g, i)]]) for g, i in items]
        group_loads = Counter()
        for c in candidates:
            group_loads[c.group] += c.load
        plan = plan_questions(candidates, cap, rng, group_loads=group_loads, sides=sides)
        for slot in plan:
            loads[slot.item] += 1
        plans.append(plan)
    return plans, loads


def test_meaningfulness_plans_are_even_over_models_and_items():
    plans, loads = _simulate(300, MODELS, 50, 20, sides=False)
    for plan in plans:
        assert len(plan) == 20
        assert len({s.item for s in plan}) == 20  # no item twice for a rater
        assert set(Counter(s.group for s in plan).values()) == {5}  # 20 over 4 models
    shown = Counter(s.group for plan in plans for s in plan)
    total = sum(shown.values())
    assert all(_binomial_ok(shown[m], total, 1 / 4) for m in MODELS)
    # Least-answered first: 300 × 20 answers over 200 items is 30 each, exactly.
    assert set(loads.values()) == {30}


def test_pairwise_plans_balance_comparisons_and_sides():
    groups = [" vs ".join(sorted(c)) for c in COMPARISONS]
    plans, loads = _simulate(300, groups, 40, 20, sides=True)
    for plan in plans:
        per_group = Counter(s.group for s in plan)
        assert sorted(per_group.values()) == [6, 7, 7]  # 20 over 3 comparisons
        lefts = Counter(s.left for s in plan)
        assert abs(lefts["model_1"] - lefts["model_2"]) <= 1  # balanced per rater
    shown = Counter(s.group for plan in plans for s in plan)
    total = sum(shown.values())
    assert all(_binomial_ok(shown[g], total, 1 / 3) for g in groups)
    # The comparison that got 6 rotates: over the survey each is within one rater's share.
    assert max(shown.values()) - min(shown.values()) <= 1
    lefts = Counter(s.left for plan in plans for s in plan)
    assert _binomial_ok(lefts["model_1"], total, 0.5)
    for group in groups:
        in_group = [s.left for plan in plans for s in plan if s.group == group]
        assert _binomial_ok(in_group.count("model_1"), len(in_group), 0.5)
    assert max(loads.values()) - min(loads.values()) <= 1


def test_order_is_shuffled_not_grouped():
    plans, _ = _simulate(50, MODELS, 50, 20, sides=False)
    firsts = Counter(plan[0].group for plan in plans)
    assert len(firsts) > 1  # not always the same model first
    assert any([s.group for s in plan] != sorted(s.group for s in plan) for plan in plans)


def test_a_small_pool_gives_fewer_questions_and_respects_taken_groups():
    candidates = [Candidate(i, "A") for i in range(3)] + [Candidate(10 + i, "B") for i in range(9)]
    plan = plan_questions(candidates, 8, random.Random(0))
    assert Counter(s.group for s in plan) == {"A": 3, "B": 5}
    # A rater who already answered 4 of B gets A first when the plan is drawn again.
    plan = plan_questions(candidates, 4, random.Random(0), taken=Counter({"B": 4}))
    assert Counter(s.group for s in plan) == {"A": 3, "B": 1}
    assert plan_questions([], 5, random.Random(0)) == []


def test_checks_go_to_random_positions():
    rng = random.Random(3)
    orders = [place_checks(20, ["instructed", "gold"], rng) for _ in range(200)]
    for order in orders:
        assert len(order) == 22 and order.count(None) == 20
        assert order.count("instructed") == 1 and order.count("gold") == 1
    positions = Counter(order.index("instructed") for order in orders)
    assert len(positions) > 10  # spread, not fixed


def test_gold_and_instructed_material():
    rng = random.Random(1)
    item = Item(text_1="a b", text_2="c d", source="the cat sat on the mat", model_1="X")
    gold = check_material("gold", pairwise=True, item=item, rng=rng)
    verbatim = gold.text_left if gold.expected == "left" else gold.text_right
    salad = gold.text_right if gold.expected == "left" else gold.text_left
    assert verbatim == item.source and salad != verbatim
    assert sorted(salad.split()) == sorted(verbatim.split())
    meaning = check_material(
        "gold", pairwise=False, item=Item(text_1="one two three four five"), rng=rng
    )
    assert meaning.expected == "no" and meaning.text_left != "one two three four five"
    instructed = check_material("instructed", pairwise=True, item=item, rng=rng)
    assert instructed.expected in ("left", "right") and instructed.expected in instructed.prompt
    assert check_material("gold", pairwise=False, item=Item(text_1="too short"), rng=rng) is None
    assert scramble("same same same", rng) == ""


def _pairwise_survey(name="Pairs", per=40, **design) -> Survey:
    items = [
        ItemSpec(
            key=f"{k}-{i}",
            model_1=a,
            text_1=f"{a} says {i} now",
            model_2=b,
            text_2=f"{b} says {i} later",
            source=f"the source {i} of {k} is long",
        )
        for k, (a, b) in enumerate(COMPARISONS)
        for i in range(per)
    ]
    survey = services.survey_create(
        name=name, kind=Survey.Kind.PAIRWISE, items=items, design=Design(**design)
    )
    return services.survey_open(survey)


def _answer_all(rater: Rater) -> int:
    answered = 0
    while True:
        page = services.rater_next(rater)
        if page.finished:
            return answered
        choice = (page.slot.expected or "left") if page.slot.is_check else "right"
        answered += services.rater_answer(rater, page.slot.position, choice)


@pytest.mark.django_db
def test_a_silent_rater_gives_questions_back_and_resumes_evenly():
    survey = _pairwise_survey(reservation_minutes=30)
    rater = services.rater_start(survey, external_id="slow")
    first = services.rater_next(rater)
    services.rater_answer(rater, first.slot.position, "left")
    Rater.objects.filter(pk=rater.pk).update(
        last_seen_at=rater.last_seen_at - timedelta(minutes=31)
    )
    other = services.rater_start(survey, external_id="next")  # planning releases the stale
    assert Assignment.objects.filter(rater=rater, answered_at__isnull=True).count() == 0
    assert other.assignments.count() == 20
    rater.refresh_from_db()
    assert _answer_all(rater) == 19  # the rest drawn again on return
    assert Response.objects.filter(rater=rater).count() == 20
    per = Counter(
        " vs ".join(sorted((r.item.model_1, r.item.model_2)))
        for r in Response.objects.filter(rater=rater).select_related("item")
    )
    assert sorted(per.values()) == [6, 7, 7]
    assert release_expired(survey, timezone.now()) == 0


@pytest.mark.django_db
def test_overlap_caps_raters_per_item_then_the_survey_is_full():
    survey = _pairwise_survey(name="Small", per=2, cap=6, overlap=2)  # 6 items, 2 raters each
    for name in ("a", "b"):
        assert _answer_all(services.rater_start(survey, external_id=name)) == 6
    with pytest.raises(services.SurveyUnavailable, match="all the answers"):
        services.rater_start(survey, external_id="c")
    assert not survey.raters.filter(external_id="c").exists()
    counts = Counter(Response.objects.filter(item__survey=survey).values_list("item", flat=True))
    assert set(counts.values()) == {2}


@pytest.mark.django_db(transaction=True)
def test_fifty_raters_at_once_each_get_the_cap_and_no_duplicates():
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL (CI runs it)")
    survey = _pairwise_survey(name="Crowd", per=100, instructed_checks=1)
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def rater(n: int) -> None:
        try:
            barrier.wait()
            started = services.rater_start(survey, external_id=f"p{n}")
            # The same participant twice at once (two tabs): one rater, one plan.
            services.rater_start(survey, external_id=f"p{n}")
            _answer_all(started)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=rater, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert survey.raters.count() == 50
    for r in survey.raters.all():
        responses = Response.objects.filter(rater=r).select_related("item")
        assert responses.count() == 20
        assert len({x.item_id for x in responses}) == 20
        per = Counter(" vs ".join(sorted((x.item.model_1, x.item.model_2))) for x in responses)
        assert sorted(per.values()) == [6, 7, 7]
        lefts = Counter(x.left for x in responses)
        assert abs(lefts["model_1"] - lefts["model_2"]) <= 1
        assert r.assignments.filter(kind="instructed").count() == 1
    loads = Counter(Response.objects.filter(item__survey=survey).values_list("item", flat=True))
    assert max(loads.values()) - min(loads.values()) <= 1  # 1000 answers over 300 items
