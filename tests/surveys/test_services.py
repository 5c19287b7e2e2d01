"""The survey lifecycle and a rater's way through it, at the service layer."""

from __future__ import annotations

import pytest

from surveys import reports, services
from surveys.exclusion import NO_RULE, ExclusionRule
from surveys.models import Assignment, Rater, Response, Survey
from surveys.services import Design, ItemSpec, SurveyError, SurveyUnavailable

MODELS = ["VAE", "VAE (annealing)", "AutoGen (m=1)", "AutoGen (m=2)"]


def _meaningfulness(name="Sense", per=10, **design) -> Survey:
    items = [
        ItemSpec(key=f"{m}-{i}", model_1=m, text_1=f"sentence {i} from the model {m}")
        for m in MODELS
        for i in range(per)
    ]
    return services.survey_create(
        name=name, kind=Survey.Kind.MEANINGFULNESS, items=items, design=Design(**design)
    )


def _run_through(rater: Rater, *, check_answer=None, question_answer="yes") -> None:
    while not (page := services.rater_next(rater)).finished:
        slot = page.slot
        answer = question_answer if not slot.is_check else check_answer(slot)
        services.rater_answer(rater, slot.position, answer)


@pytest.mark.django_db
def test_create_refuses_bad_designs_and_stores_nothing():
    item = ItemSpec(key="a", model_1="VAE", text_1="a sentence")
    cases = [
        ({"name": " ", "kind": Survey.Kind.MEANINGFULNESS, "items": [item]}, "needs a name"),
        ({"name": "x", "kind": "poll", "items": [item]}, "Unknown survey kind"),
        ({"name": "x", "kind": Survey.Kind.MEANINGFULNESS, "items": []}, "No items"),
        ({"name": "x", "kind": Survey.Kind.PAIRWISE, "items": [item]}, "two models"),
    ]
    for kwargs, message in cases:
        with pytest.raises(SurveyError, match=message):
            services.survey_create(**kwargs, design=Design())
    with pytest.raises(SurveyError, match="cap"):
        _meaningfulness(cap=0)
    with pytest.raises(SurveyError, match="URL parameter"):
        _meaningfulness(platform=Survey.Platform.OTHER)
    with pytest.raises(SurveyError, match=r"\{code\}"):
        _meaningfulness(
            platform=Survey.Platform.OTHER,
            participant_parameter="pid",
            completion_url="https://crowd.example/done",
        )
    assert not Survey.objects.exists()
    _meaningfulness()
    with pytest.raises(SurveyError, match="exists already"):
        _meaningfulness()
    assert Survey.objects.count() == 1


@pytest.mark.django_db
def test_a_draft_or_closed_survey_takes_nobody():
    survey = _meaningfulness()
    with pytest.raises(SurveyUnavailable, match="not opened"):
        services.rater_start(survey, external_id="early")
    services.survey_open(survey)
    rater = services.rater_start(survey, external_id="p")
    services.survey_close(survey)
    rater.refresh_from_db()
    with pytest.raises(SurveyUnavailable, match="closed"):
        services.rater_start(survey, external_id="late")
    with pytest.raises(SurveyUnavailable, match="closed"):
        services.rater_next(rater)
    with pytest.raises(SurveyUnavailable, match="closed"):
        services.rater_answer(rater, 1, "yes")
    assert survey.raters.count() == 1 and not Response.objects.exists()


@pytest.mark.django_db
def test_opening_fixes_the_exclusion_rule_once():
    survey = _meaningfulness(exclude_failed_instructed=2, exclude_median_seconds=1.5)
    survey = services.survey_open(survey)
    rule = ExclusionRule(failed_instructed=2, median_seconds=1.5)
    assert survey.exclusion_rule == rule.text and survey.exclusion_rule_hash == rule.digest
    assert "2 or more instructed" in rule.text and "1.5 s" in rule.text
    services.survey_close(survey)
    Survey.objects.filter(pk=survey.pk).update(exclude_failed_instructed=1)
    survey = services.survey_open(survey)  # reopening keeps the rule declared first
    assert survey.exclusion_rule == rule.text
    assert ExclusionRule().text == NO_RULE


@pytest.mark.django_db
def test_a_rater_gets_the_cap_evenly_and_every_answer_once():
    survey = services.survey_open(_meaningfulness(cap=8))
    rater = services.rater_start(survey, external_id="p1")
    assert services.rater_start(survey, external_id="p1") == rater  # returns to own session
    page = services.rater_next(rater)
    assert (page.number, page.total) == (1, 8)
    assert services.rater_answer(rater, page.slot.position, "no") is True
    assert services.rater_answer(rater, page.slot.position, "yes") is False  # double submit
    assert services.rater_next(rater).number == 2
    with pytest.raises(SurveyError, match="choose one"):
        services.rater_answer(rater, services.rater_next(rater).slot.position, "left")
    with pytest.raises(SurveyError, match="not part"):
        services.rater_answer(rater, 99, "yes")
    with pytest.raises(SurveyError, match="not finished"):
        services.completion_code(rater)
    _run_through(rater)
    answers = Response.objects.filter(rater=rater).select_related("item")
    assert answers.count() == 8
    assert sorted(a.answer for a in answers).count("no") == 1  # the first answer stood
    assert {m: sum(a.item.model_1 == m for a in answers) for m in MODELS} == dict.fromkeys(
        MODELS, 2
    )
    assert all(a.response_ms is not None for a in answers)
    assert services.completion_code(rater) == survey.completion_code
    assert services.rater_next(rater).finished


@pytest.mark.django_db
def test_pairwise_answers_name_the_model_shown_on_the_chosen_side():
    items = [
        ItemSpec(
            key=f"i{i}",
            model_1="AutoGen (m=1)",
            text_1=f"one {i}",
            model_2="VAE",
            text_2=f"two {i}",
            source=f"source {i}",
        )
        for i in range(10)
    ]
    survey = services.survey_create(
        name="P", kind=Survey.Kind.PAIRWISE, items=items, design=Design(cap=10)
    )
    survey = services.survey_open(survey)
    rater = services.rater_start(survey, external_id="p")
    _run_through(rater, question_answer="left")
    for response in Response.objects.filter(rater=rater):
        assert response.answer == response.left  # "left" wins whichever model was there
    lefts = [r.left for r in Response.objects.filter(rater=rater)]
    assert lefts.count("model_1") == lefts.count("model_2") == 5


@pytest.mark.django_db
def test_failed_checks_exclude_by_the_declared_rule_and_never_count():
    survey = services.survey_open(
        _meaningfulness(cap=8, instructed_checks=2, gold_checks=1, exclude_failed_instructed=2)
    )
    careless = services.rater_start(survey, external_id="careless")
    careful = services.rater_start(survey, external_id="careful")
    wrong = {"yes": "no", "no": "yes"}
    _run_through(careless, check_answer=lambda slot: wrong[slot.expected])
    _run_through(careful, check_answer=lambda slot: slot.expected)
    careless.refresh_from_db()
    careful.refresh_from_db()
    assert careless.excluded and "2 instructed" in careless.exclusion_reason
    assert not careful.excluded
    assert careless.assignments.filter(kind=Assignment.Kind.INSTRUCTED).count() == 2
    assert careless.assignments.filter(kind=Assignment.Kind.GOLD).count() == 1
    # Checks are not responses: 8 answers each, and only the careful rater's are counted.
    assert Response.objects.filter(rater=careless).count() == 8
    report = reports.report_build(survey=survey)
    assert int(report.table["all_n"].sum()) == 8
    sheet = reports.datasheet(report)
    assert survey.exclusion_rule_hash in sheet and "raters it excluded: 1" in sheet
    assert "answered 4 instructed (2 failed) and 2 gold (1 failed)" in sheet


def test_median_time_rule():
    rule = ExclusionRule(median_seconds=1.5)
    assert "median 1.00 s" in rule.verdict(
        failed_instructed=0, failed_gold=0, response_ms=[900, 1000, 5000]
    )
    assert rule.verdict(failed_instructed=9, failed_gold=9, response_ms=[2000]) == ""


@pytest.mark.django_db
def test_platform_links():
    survey = _meaningfulness(platform=Survey.Platform.PROLIFIC, completion_code="C0DE")
    assert survey.participant_key == "PROLIFIC_PID"
    assert survey.completion_target == "https://app.prolific.com/submissions/complete?cc=C0DE"
    other = _meaningfulness(
        name="Other", platform=Survey.Platform.OTHER, participant_parameter="workerId",
        completion_url="https://crowd.example/done?code={code}", completion_code="XYZ",
    )  # fmt: skip
    assert other.participant_key == "workerId"
    assert other.completion_target == "https://crowd.example/done?code=XYZ"
    assert _meaningfulness(name="Lab").completion_target == ""
    assert services.survey_link(survey).endswith(f"/s/{survey.token}/")
    assert services.survey_link(survey).startswith("http://127.0.0.1:8000/")
