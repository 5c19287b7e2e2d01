"""Survey models: defaults, blindness-friendly ids, and answers written once."""

import re

import pytest
from django.db import IntegrityError, transaction

from surveys.models import DEFAULT_CAP, Item, Rater, Response, Survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey() -> Survey:
    return Survey.objects.create(name="reconstructions", kind=Survey.Kind.PAIRWISE)


@pytest.fixture
def item(survey) -> Item:
    return Item.objects.create(survey=survey, key="i1", model_1="AutoGen (m=1)", model_2="VAE")


@pytest.fixture
def rater(survey) -> Rater:
    return Rater.objects.create(survey=survey, external_id="prolific-5f3a")


def test_a_new_survey_is_a_draft_with_the_paper_cap_and_question(survey):
    assert survey.status == Survey.Status.DRAFT
    assert survey.cap_per_rater == DEFAULT_CAP == 20
    assert survey.question == "Choose the best reconstruction."
    meaningfulness = Survey.objects.create(name="m", kind=Survey.Kind.MEANINGFULNESS)
    assert meaningfulness.question == "Does this sentence make sense?"


def test_a_survey_keeps_its_own_question(db):
    survey = Survey.objects.create(name="q", kind=Survey.Kind.PAIRWISE, question="Which is closer?")
    assert survey.question == "Which is closer?"


def test_survey_names_are_unique(survey):
    with pytest.raises(IntegrityError):
        Survey.objects.create(name="reconstructions", kind=Survey.Kind.MEANINGFULNESS)


def test_a_rater_gets_an_opaque_url_safe_token_unrelated_to_their_id(rater):
    other = Rater.objects.create(survey=rater.survey, external_id="prolific-77b1")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", rater.token)
    assert rater.token != other.token
    assert rater.external_id not in rater.token


def test_one_external_id_is_one_rater_per_survey(rater):
    with pytest.raises(IntegrityError):
        Rater.objects.create(survey=rater.survey, external_id="prolific-5f3a")


def test_the_same_external_id_may_rate_another_survey(rater):
    elsewhere = Survey.objects.create(name="other", kind=Survey.Kind.PAIRWISE)
    assert Rater.objects.create(survey=elsewhere, external_id="prolific-5f3a").pk


def test_a_rater_answers_an_item_once(rater, item):
    Response.objects.create(rater=rater, item=item, answer=Response.Answer.MODEL_1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Response.objects.create(rater=rater, item=item, answer=Response.Answer.MODEL_2)
    assert Response.objects.get().answer == Response.Answer.MODEL_1


def test_a_response_names_its_winner_by_the_item_side(rater, item):
    won = Response.objects.create(rater=rater, item=item, answer=Response.Answer.MODEL_2)
    assert won.winner == "VAE" and won.is_decisive
    other = Rater.objects.create(survey=rater.survey, external_id="r2")
    discarded = Response.objects.create(rater=other, item=item, answer=Response.Answer.DISCARD)
    assert discarded.winner is None and not discarded.is_decisive


def test_a_meaningfulness_item_reads_as_model_and_sentence(db):
    survey = Survey.objects.create(name="m", kind=Survey.Kind.MEANINGFULNESS)
    item = Item.objects.create(
        survey=survey, key="s1", model_1="VAE", text_1="she just looked up", length=4
    )
    assert (item.model, item.sentence) == ("VAE", "she just looked up")
    assert str(item) == "s1: VAE"
    assert not survey.is_pairwise


def test_excluding_a_rater_keeps_their_answers_but_stops_counting_them(rater, item):
    Response.objects.create(rater=rater, item=item, answer=Response.Answer.MODEL_1)

    rater.exclude("failed attention checks")

    rater.refresh_from_db()
    assert (rater.excluded, rater.exclusion_reason) == (True, "failed attention checks")
    assert rater.survey.responses().count() == 1
    assert rater.survey.counted_responses().count() == 0
    assert rater.survey.has_responses()


def test_deleting_a_survey_deletes_its_raters_items_and_answers(rater, item):
    Response.objects.create(rater=rater, item=item, answer=Response.Answer.MODEL_1)
    rater.survey.delete()
    assert not (Rater.objects.exists() or Item.objects.exists() or Response.objects.exists())
