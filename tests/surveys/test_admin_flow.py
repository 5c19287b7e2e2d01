"""The researcher's side of a survey in the admin: create, open, share, watch, preview, close.

Personas (as in test_admin.py):
- Alice, a researcher: staff with every surveys permission and the right to see training runs.
- Erin, staff who may look at surveys and change them, but not create them.
- Frank, staff who may create surveys but not see training runs: items CSV only.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from surveys import material, progress, reports, selectors, services, stats
from surveys.models import Assignment, Item, Rater, Response, Survey
from surveys.services import Design, ItemSpec
from tests.conftest import SHARED_CORPORA, require_corpus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_bootstrap")]

ADD_URL = reverse("admin:surveys_survey_add")
PAPER_PAIRS = [
    ("VAE (annealing)", "VAE"),
    ("AutoGen (m=1)", "VAE (annealing)"),
    ("AutoGen (m=2)", "AutoGen (m=1)"),
]
MODELS = ["VAE", "VAE (annealing)", "AutoGen (m=1)", "AutoGen (m=2)"]


def staff(username: str, *codenames: str, app: str = "surveys") -> User:
    user = User.objects.create_user(username, password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label=app, codename__in=codenames)
        if codenames
        else Permission.objects.filter(content_type__app_label=app)
    )
    return user


@pytest.fixture
def alice(client) -> User:
    user = staff("alice")
    user.user_permissions.add(Permission.objects.get(codename="view_trainingrun"))
    client.force_login(user)
    return user


def squash(text: str) -> str:
    """`text` with every run of white space made one space (templates break lines freely)."""
    return " ".join(text.split())


def change_url(survey: Survey) -> str:
    return reverse("admin:surveys_survey_change", args=[survey.pk])


def pairwise_specs(per: int = 4) -> list[ItemSpec]:
    return [
        ItemSpec(
            key=f"{a}|{b}|{i}",
            model_1=a,
            model_2=b,
            source=f"the source sentence number {i} .",
            text_1=f"reconstruction {i} by {a} .",
            text_2=f"reconstruction {i} by {b} .",
        )
        for a, b in PAPER_PAIRS
        for i in range(per)
    ]


def pairwise_survey(name: str = "Pairs", per: int = 4, **design) -> Survey:
    return services.survey_create(
        name=name, kind=Survey.Kind.PAIRWISE, items=pairwise_specs(per), design=Design(**design)
    )


def meaningfulness_survey(name: str = "Sense", per: int = 3, **design) -> Survey:
    items = [
        ItemSpec(key=f"{m}-{i}", model_1=m, text_1=f"a sentence made by the model number {i} .")
        for m in MODELS
        for i in range(per)
    ]
    return services.survey_create(
        name=name, kind=Survey.Kind.MEANINGFULNESS, items=items, design=Design(**design)
    )


def csv_upload(text: str, name: str = "items.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def create_form(**fields) -> dict:
    """What the "Create a survey" form posts, with the defaults a researcher leaves alone."""
    return {
        "name": "New", "kind": Survey.Kind.PAIRWISE, "title": "Sentences", "per_model": 5,
        "cap": 20, "instructed_checks": 0, "gold_checks": 0, "platform": "none", **fields,
    }  # fmt: skip


class FakeMaterial:
    """Stands in for surveys.material's two builders: records the calls, answers fixed items."""

    def __init__(self, items: list[ItemSpec], error: str = ""):
        self.items, self.error, self.calls = items, error, []

    def items_from_runs(self, kind, runs, per_model, seed, comparisons=None):
        self.calls.append((kind, runs, per_model, seed, comparisons))
        if self.error:
            raise services.SurveyError(self.error)
        return material.Material(self.items, {"runs": [run.pk for run in runs], "seed": seed})

    def items_from_csv(self, kind, file, *, filename=""):
        self.calls.append((kind, filename))
        if self.error:
            raise services.SurveyError(self.error)
        return material.Material(self.items, {"file": filename})


@pytest.fixture
def fake_material(monkeypatch) -> FakeMaterial:
    """No decoding: the admin's form and design, tested apart from the models."""
    fake = FakeMaterial(pairwise_specs(2))
    monkeypatch.setattr(material, "items_from_runs", fake.items_from_runs)
    monkeypatch.setattr(material, "items_from_csv", fake.items_from_csv)
    return fake


def fake_runs(n: int = 4) -> list:
    """Finished runs as the runs field lists them (no training: the material is faked)."""
    from models_core.models import Corpus, TrainingRun

    corpus = Corpus.objects.create(
        name="c", source="-", fmt="lines", vocab_size=10, min_len=1, max_len=9, seed=0,
        test_fraction=0.1, n_train=1, n_test=1,
    )  # fmt: skip
    objectives = [("vae", 0), ("vae-anneal", 0), ("autogen", 1), ("autogen", 2)]
    return [
        TrainingRun.objects.create(
            corpus=corpus, objective=objective, m=m, total_steps=1, status="succeeded"
        )
        for objective, m in objectives[:n]
    ]


# --- Creating -------------------------------------------------------------------------------


def test_alice_creates_a_survey_from_runs_with_its_whole_design(client, alice, fake_material):
    runs = fake_runs()
    page = client.get(ADD_URL)
    assert page.status_code == 200 and "Create a survey" in page.text
    assert all(str(run) in page.text for run in runs)
    response = client.post(
        ADD_URL,
        create_form(
            name="From runs",
            runs=[r.pk for r in runs],
            per_model=7,
            seed=42,
            comparisons=f"{runs[1].pk} vs {runs[0].pk}\n{runs[3].pk}-{runs[2].pk}",
            cap=12,
            overlap=3,
            instructed_checks=2,
            gold_checks=1,
            exclude_failed_instructed=2,
            exclude_failed_gold=1,
            exclude_median_seconds=1.5,
            platform="prolific",
            completion_code="C0DE42",
        ),
        follow=True,
    )
    survey = Survey.objects.get(name="From runs")
    assert response.redirect_chain[-1][0] == change_url(survey)
    assert "Created the draft survey" in response.text
    [(kind, chosen, per_model, seed, comparisons)] = fake_material.calls
    assert (kind, per_model, seed) == (Survey.Kind.PAIRWISE, 7, 42)
    assert [r.pk for r in chosen] == [r.pk for r in runs]
    assert comparisons == [(runs[1].pk, runs[0].pk), (runs[3].pk, runs[2].pk)]
    assert survey.items.count() == 6 and survey.status == Survey.Status.DRAFT
    design = (
        survey.cap_per_rater, survey.overlap, survey.instructed_checks, survey.gold_checks,
        survey.exclude_failed_instructed, survey.exclude_failed_gold,
        survey.exclude_median_seconds, survey.platform, survey.completion_code, survey.seed,
    )  # fmt: skip
    assert design == (12, 3, 2, 1, 2, 1, 1.5, "prolific", "C0DE42", 42)
    assert survey.material == {"runs": [r.pk for r in runs], "seed": 42}


def test_no_comparisons_leaves_the_default_to_the_material(client, alice, fake_material):
    runs = fake_runs()
    client.post(ADD_URL, create_form(runs=[r.pk for r in runs]))
    assert fake_material.calls[0][4] is None
    assert Survey.objects.get(name="New").seed == fake_material.calls[0][3]  # one seed for both


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Choose finished runs or upload an items CSV"),
        ({"comparisons": "RUN0 vs"}, "Line 1: two run ids, e.g. 7 vs 5"),
        ({"comparisons": "RUN0 vs RUN0\nVAE vs RUN0"}, "Line 2: two run ids"),
        ({"platform": "other"}, "URL parameter of the participant id"),
        ({"cap": 0}, "greater than or equal to 1"),
    ],
)
def test_a_bad_create_form_says_why_and_stores_nothing(
    client, alice, fake_material, fields, message
):
    runs = fake_runs()
    if fields:
        fields = {"runs": [r.pk for r in runs], **fields}
        if "comparisons" in fields:
            fields["comparisons"] = fields["comparisons"].replace("RUN0", str(runs[0].pk))
    response = client.post(ADD_URL, create_form(**fields))
    assert response.status_code == 200
    assert message in response.text
    assert not Survey.objects.exists() and not fake_material.calls


def test_a_material_error_is_shown_and_nothing_is_stored(client, alice, fake_material):
    fake_material.error = "Run 3 has no checkpoint: train it first."
    runs = fake_runs()
    response = client.post(ADD_URL, create_form(runs=[r.pk for r in runs]))
    assert response.status_code == 200
    assert "Run 3 has no checkpoint: train it first." in response.text
    assert not Survey.objects.exists()


def test_a_taken_name_is_refused_before_any_decoding(client, alice, fake_material):
    pairwise_survey("Taken")
    response = client.post(
        ADD_URL, create_form(name="Taken", items_file=csv_upload(PAIRWISE_ITEMS_CSV))
    )
    assert "A survey with this name exists already." in response.text
    assert Survey.objects.count() == 1 and not fake_material.calls


def test_an_items_csv_over_the_upload_cap_is_refused_unread(client, alice, fake_material, settings):
    settings.MAX_UPLOAD_MB = 0.0001
    response = client.post(
        ADD_URL, create_form(items_file=csv_upload("item,source\n" + "x,y\n" * 50, "big.csv"))
    )
    assert "big.csv is 0.0 MB; uploads stop at 0.0001 MB" in response.text
    assert not Survey.objects.exists() and not fake_material.calls


PAIRWISE_ITEMS_CSV = (
    "item,source,model_1,text_1,model_2,text_2\n"
    "i1,the dog ran home .,VAE (annealing),the dog ran home .,VAE,the dog went out .\n"
    "i2,she laughed at him .,VAE (annealing),she smiled at him .,VAE,he laughed at her .\n"
)


def test_alice_creates_a_survey_from_an_items_csv(client, alice):
    response = client.post(
        ADD_URL,
        create_form(name="From CSV", items_file=csv_upload(PAIRWISE_ITEMS_CSV)),
        follow=True,
    )
    survey = Survey.objects.get(name="From CSV")
    assert response.redirect_chain[-1][0] == change_url(survey)
    assert "with 2 items" in response.text
    item = survey.items.get(key="i2")
    assert (item.model_1, item.model_2, item.text_2) == (
        "VAE (annealing)",
        "VAE",
        "he laughed at her .",
    )
    assert survey.material["file"] == "items.csv"


def test_a_bad_items_csv_shows_its_errors_and_stores_nothing(client, alice):
    bad = "item,source,model_1,text_1,model_2,text_2\ni1,src,VAE,,VAE,\n"
    response = client.post(ADD_URL, create_form(items_file=csv_upload(bad, "bad.csv")))
    assert response.status_code == 200
    assert 'class="errorlist nonfield"' in response.text
    assert not Survey.objects.exists() and not Item.objects.exists()


def test_staff_without_add_survey_cannot_create(client):
    client.force_login(staff("erin", "view_survey", "change_survey", "add_item"))
    assert client.get(ADD_URL).status_code == 403
    response = client.post(ADD_URL, create_form(items_file=csv_upload(PAIRWISE_ITEMS_CSV)))
    assert response.status_code == 403
    assert not Survey.objects.exists()
    listing = client.get(reverse("admin:surveys_survey_changelist"))
    assert ADD_URL not in listing.text


def test_staff_who_may_not_see_runs_get_the_csv_path_only(client, fake_material):
    client.force_login(staff("frank", "add_survey", "add_item", "view_survey"))
    runs = fake_runs()
    page = client.get(ADD_URL)
    assert page.status_code == 200
    assert 'name="runs"' not in page.text and str(runs[0]) not in page.text
    response = client.post(ADD_URL, create_form(runs=[r.pk for r in runs]))
    assert "Choose finished runs or upload an items CSV" in response.text
    assert not fake_material.calls


# --- Opening, closing, sharing -------------------------------------------------------------


def post_status(client, survey: Survey, action: str):
    url = reverse(f"admin:surveys_survey_{action}", args=[survey.pk])
    return client.post(url, follow=True)


def test_alice_opens_and_closes_a_survey_and_the_rule_is_fixed(client, alice):
    survey = pairwise_survey(exclude_failed_instructed=2)
    page = client.get(change_url(survey))
    assert "Open to raters" in page.text
    assert client.get(reverse("admin:surveys_survey_open", args=[survey.pk])).status_code == 405
    response = post_status(client, survey, "open")
    assert "&#x27;Pairs&#x27; is open now." in response.text
    survey.refresh_from_db()
    assert survey.status == Survey.Status.OPEN and survey.exclusion_rule_hash
    assert survey.exclusion_rule in response.text and survey.exclusion_rule_hash in response.text
    assert "Close to raters" in response.text
    response = post_status(client, survey, "close")
    survey.refresh_from_db()
    assert survey.status == Survey.Status.CLOSED and "Reopen to raters" in response.text


def test_opening_a_survey_without_items_is_an_error_message(client, alice):
    survey = Survey.objects.create(name="Empty", kind=Survey.Kind.PAIRWISE)
    response = post_status(client, survey, "open")
    assert "has no items to show" in response.text
    survey.refresh_from_db()
    assert survey.status == Survey.Status.DRAFT


def test_staff_who_may_only_view_cannot_open(client):
    survey = pairwise_survey()
    client.force_login(staff("viewer", "view_survey"))
    assert "Open to raters" not in client.get(change_url(survey)).text
    assert post_status(client, survey, "open").status_code == 403
    survey.refresh_from_db()
    assert survey.status == Survey.Status.DRAFT


def change_form_data(client, survey: Survey, **changes) -> dict:
    """The change form's editable fields as the page shows them, with `changes`."""
    form = client.get(change_url(survey)).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    return {**data, **changes}


def test_the_design_is_editable_in_a_draft_and_read_only_once_open(client, alice):
    survey = pairwise_survey(cap=20)
    assert 'name="cap_per_rater"' in client.get(change_url(survey)).text
    client.post(change_url(survey), change_form_data(client, survey, cap_per_rater=10))
    survey.refresh_from_db()
    assert survey.cap_per_rater == 10
    services.survey_open(survey)
    page = client.get(change_url(survey))
    for field in ("cap_per_rater", "overlap", "instructed_checks", "exclude_median_seconds"):
        assert f'name="{field}"' not in page.text, field
    assert 'name="title"' in page.text and 'name="completion_code"' in page.text
    data = change_form_data(client, survey, title="Renamed")
    response = client.post(change_url(survey), {**data, "cap_per_rater": 3, "gold_checks": 5})
    assert response.status_code == 302
    survey.refresh_from_db()
    assert (survey.title, survey.cap_per_rater, survey.gold_checks) == ("Renamed", 10, 0)


def test_the_change_form_checks_the_platform_settings(client, alice):
    survey = pairwise_survey()
    data = change_form_data(client, survey, platform="other", participant_parameter="")
    response = client.post(change_url(survey), data)
    assert response.status_code == 200
    assert "Another platform needs the URL parameter" in response.text
    survey.refresh_from_db()
    assert survey.platform == "none"


def test_the_rater_link_is_shown_to_copy(client, alice, settings):
    settings.SITE_URL = "https://lab.example.org"
    survey = pairwise_survey()
    link = f"https://lab.example.org/s/{survey.token}/"
    page = client.get(change_url(survey))
    assert f'value="{link}"' in page.text and "Study URL" not in page.text
    for url in ("preview", "history"):
        assert reverse(f"admin:surveys_survey_{url}", args=[survey.pk]) in page.text


def test_prolific_gets_the_study_url_and_the_completion_code(client, alice):
    survey = pairwise_survey(platform="prolific", completion_code="ABC123")
    page = client.get(change_url(survey))
    study = (
        services.survey_link(survey)
        + "?PROLIFIC_PID={{%PROLIFIC_PID%}}&amp;STUDY_ID={{%STUDY_ID%}}"
        + "&amp;SESSION_ID={{%SESSION_ID%}}"
    )
    assert study in page.text
    assert '<code id="completion-code">ABC123</code>' in page.text
    assert "https://app.prolific.com/submissions/complete?cc=ABC123" in page.text


def test_another_platform_gets_its_parameter(client, alice):
    survey = pairwise_survey(
        platform="other", participant_parameter="workerId",
        completion_url="https://crowd.example/done?code={code}",
    )  # fmt: skip
    page = client.get(change_url(survey))
    assert services.survey_link(survey) + "?workerId=…" in page.text
    assert f"https://crowd.example/done?code={survey.completion_code}" in page.text


# --- Progress -------------------------------------------------------------------------------


def add_answers(survey: Survey, rater: Rater, model_1: str, model_2: str, answers, ms=None):
    items = list(survey.items.filter(model_1=model_1, model_2=model_2).order_by("pk"))
    Response.objects.bulk_create(
        Response(rater=rater, item=item, answer=answer, response_ms=ms)
        for item, answer in zip(items, answers, strict=False)
    )


@pytest.fixture
def answered_pairs() -> Survey:
    """Known answers: comparison 1 won 3–1 with a discard (and an excluded rater's 2 wins for
    the other model); comparison 2 stored both ways round, 2–2; comparison 3 unanswered."""
    specs = pairwise_specs(6)
    # two items of comparison 2 stored the other way round
    flipped = [
        ItemSpec(key=f"flip-{i}", model_1="VAE (annealing)", model_2="AutoGen (m=1)",
                 source="s", text_1="x", text_2="y")
        for i in range(2)
    ]  # fmt: skip
    survey = services.survey_create(
        name="Known", kind=Survey.Kind.PAIRWISE, items=specs + flipped, design=Design()
    )
    r1, r2, gone = (Rater.objects.create(survey=survey, external_id=x) for x in "abx")
    a, b = PAPER_PAIRS[0]
    add_answers(survey, r1, a, b, ["model_1", "model_1", "model_2", "discard"], ms=1000)
    add_answers(survey, r2, a, b, ["model_1"], ms=4000)
    add_answers(survey, gone, a, b, ["model_2", "model_2"], ms=3000)
    c, d = PAPER_PAIRS[1]
    add_answers(survey, r1, c, d, ["model_1", "model_2"], ms=2000)
    add_answers(survey, r2, d, c, ["model_1", "model_2"])  # untimed
    gone.exclude("failed checks")
    Rater.objects.filter(pk=r1.pk).update(finished_at=r1.created_at)
    return survey


def test_progress_counts_exactly(answered_pairs, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        counts = selectors.survey_progress(survey=answered_pairs)
    assert (counts.raters_started, counts.raters_finished, counts.raters_excluded) == (3, 1, 1)
    assert counts.answers == 11 and counts.timed_answers == 9
    # 1000 ×4, 4000, 3000 ×2, 2000 ×2: the fifth of nine is 2000
    assert counts.median_seconds == 2.0
    by_label = {group.label: group for group in counts.groups}
    assert list(by_label) == [" vs ".join(pair) for pair in PAPER_PAIRS]
    first, second, third = by_label.values()
    assert (first.items, first.answers, first.counted) == (6, 7, 5)
    assert (first.wins_1, first.wins_2, first.discards) == (3, 1, 1)
    assert (second.items, second.answers, second.wins_1, second.wins_2) == (8, 4, 2, 2)
    assert (third.items, third.answers, third.decisive) == (6, 0, 0)


def test_the_median_of_an_even_number_of_times_is_the_mean_of_the_middle_two():
    survey = pairwise_survey()
    rater = Rater.objects.create(survey=survey, external_id="r")
    items = list(survey.items.all()[:4])
    Response.objects.bulk_create(
        Response(rater=rater, item=item, answer="discard", response_ms=ms)
        for item, ms in zip(items, [900, 3000, 1000, 5000], strict=True)
    )
    assert selectors.survey_progress(survey=survey).median_ms == 2000


def test_the_planner_figure_is_the_planners(answered_pairs):
    plan = progress.power_plan(3, 1)
    expected = stats.sample_size_win_rate(0.75)
    assert (plan.needed, plan.more, plan.method) == (expected.n, expected.n - 4, "exact")
    assert progress.power_plan(2, 2).more is None  # 50%: no effect
    assert progress.power_plan(0, 0).more is None
    big = progress.power_plan(520, 480)  # near 50%: the arcsine approximation, at once
    assert big.needed == stats.sample_size_win_rate(0.52, method="normal").n
    assert big.more == big.needed - 1000


def test_alice_watches_progress_on_the_survey_page(client, alice, answered_pairs):
    page = client.get(change_url(answered_pairs))
    assert page.status_code == 200
    text = squash(page.text)
    assert "3 started, 1 finished, 1 excluded" in text
    assert "Median per question: 2.0 s" in text
    rows = dict((g.label, plan) for g, plan in page.context["progress_rows"])
    first = rows["VAE (annealing) vs VAE"]
    assert first.more == stats.sample_size_win_rate(0.75).n - 4
    assert f'<td class="num" title="{first.needed} in all' in text
    assert f">{first.more}</td>" in text
    assert rows["AutoGen (m=1) vs VAE (annealing)"].more is None
    assert text.count(">—</td>") == 3  # 2–2 and the unanswered comparison (two cells)


def test_meaningfulness_progress_counts_yes_per_model(client, alice):
    survey = meaningfulness_survey()
    rater = Rater.objects.create(survey=survey, external_id="r")
    for model, answers in (("VAE", ["yes", "no", "yes"]), ("AutoGen (m=2)", ["no"])):
        add_answers(survey, rater, model, "", answers, ms=1500)
    counts = selectors.survey_progress(survey=survey)
    by_model = {g.label: (g.items, g.answers, g.yes) for g in counts.groups}
    assert by_model == {
        "VAE": (3, 3, 2), "VAE (annealing)": (3, 0, 0), "AutoGen (m=1)": (3, 0, 0),
        "AutoGen (m=2)": (3, 1, 0),
    }  # fmt: skip
    page = client.get(change_url(survey))
    assert "2 (67%)" in page.text and "Median per question: 1.5 s" in squash(page.text)


# --- Excluding, previewing -------------------------------------------------------------------


def test_alice_excludes_raters_with_a_reason(client, alice, answered_pairs):
    raters = list(answered_pairs.raters.filter(excluded=False))
    changelist = reverse("admin:surveys_rater_changelist")
    chosen = {"action": "exclude_selected", "_selected_action": [r.pk for r in raters]}
    asked = client.post(changelist, chosen)
    assert asked.status_code == 200 and 'name="reason"' in asked.text
    empty = client.post(changelist, {**chosen, "apply": "1", "reason": ""})
    assert "This field is required" in empty.text
    assert not Rater.objects.filter(pk__in=[r.pk for r in raters], excluded=True).exists()
    done = client.post(changelist, {**chosen, "apply": "1", "reason": "too fast"}, follow=True)
    assert "Excluded 2 rater(s): too fast" in done.text
    assert set(answered_pairs.raters.values_list("excluded", "exclusion_reason")) == {
        (True, "too fast"), (True, "failed checks"),
    }  # fmt: skip


def test_excluding_on_a_raters_page_without_a_reason_gives_the_default(client, alice):
    survey = pairwise_survey()
    rater = Rater.objects.create(survey=survey, external_id="r")
    url = reverse("admin:surveys_rater_change", args=[rater.pk])
    assert client.post(url, {"excluded": "on", "exclusion_reason": ""}).status_code == 302
    rater.refresh_from_db()
    assert rater.excluded and rater.exclusion_reason == "excluded by the researcher"


def test_staff_who_may_not_change_raters_cannot_exclude(client, answered_pairs):
    client.force_login(staff("viewer", "view_rater", "view_survey"))
    rater = answered_pairs.raters.get(external_id="a")
    response = client.post(
        reverse("admin:surveys_rater_changelist"),
        {"action": "exclude_selected", "_selected_action": [rater.pk], "apply": "1",
         "reason": "x"},
    )  # fmt: skip
    rater.refresh_from_db()
    assert not rater.excluded
    assert response.status_code in (200, 302)  # the action is not offered to them


def table_counts() -> tuple[int, int, int]:
    return Rater.objects.count(), Assignment.objects.count(), Response.objects.count()


@pytest.mark.parametrize("kind", ["pairwise", "meaningfulness"])
def test_preview_shows_a_few_pages_and_stores_nothing(client, alice, kind):
    make = pairwise_survey if kind == "pairwise" else meaningfulness_survey
    survey = make(instructed_checks=1, gold_checks=1, cap=8)
    services.survey_open(survey)
    before = table_counts()
    page = client.get(reverse("admin:surveys_survey_preview", args=[survey.pk]))
    assert page.status_code == 200
    assert table_counts() == before
    pages = page.context["pages"]
    assert len(pages) == 7  # five questions, an instructed check and a gold question
    assert [p.number for p in pages] == list(range(1, 8)) and pages[0].total == 10
    assert "Attention check:" in page.text and survey.title in page.text
    content = page.text.split('id="content-main"')[1]
    assert 'type="button" disabled' in content and "<form" not in content


def test_preview_needs_view_permission(client, answered_pairs):
    client.force_login(staff("other", "view_rater"))
    url = reverse("admin:surveys_survey_preview", args=[answered_pairs.pk])
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url)["Location"].startswith("/admin/login/")


# --- Answers from the browser reach the reports -------------------------------------------------


def answer_all(rater: Rater, winner_for) -> None:
    """Answer every page through the services; `winner_for(slot)` is "left"/"right"/"discard"."""
    while not (page := services.rater_next(rater)).finished:
        slot = page.slot
        choice = slot.expected if slot.is_check else winner_for(slot)
        services.rater_answer(rater, slot.position, choice)


def test_reports_and_admin_pages_work_on_answers_from_the_browser(client, alice):
    survey = pairwise_survey(per=6, cap=9, instructed_checks=1)
    services.survey_open(survey)
    for n in range(6):
        rater = services.rater_start(survey, external_id=f"p{n}")
        answer_all(rater, lambda slot, n=n: "left" if n % 3 else "discard")
    answers = Response.objects.filter(item__survey=survey)
    assert answers.count() == 54 and not answers.filter(left="").exists()
    assert not answers.filter(response_ms__isnull=True).exists()
    page = client.get(change_url(survey))
    assert "6 started, 6 finished, 0 excluded" in squash(page.text)
    document = client.get(reverse("admin:surveys_survey_report", args=[survey.pk, "json"])).json()
    assert sum(row["n"] for row in document["rows"]) == 36  # four of six raters decided
    html = client.get(reverse("admin:surveys_survey_report_view", args=[survey.pk]))
    assert html.status_code == 200 and "AutoGen (m=2)" in html.text
    for fmt in reports.FORMATS:
        response = client.get(reverse("admin:surveys_survey_report", args=[survey.pk, fmt]))
        assert response.status_code == 200, fmt
    raw = client.get(reverse("admin:surveys_survey_report", args=[survey.pk, "answers"]))
    lines = b"".join(raw.streaming_content).decode().splitlines()
    assert len(lines) == 55
    for name in ("response", "rater", "item"):
        assert client.get(reverse(f"admin:surveys_{name}_changelist")).status_code == 200


def test_an_unknown_survey_is_not_found(client, alice):
    for name in ("preview", "report_view"):
        assert client.get(reverse(f"admin:surveys_survey_{name}", args=[999])).status_code == 404
    assert client.post(reverse("admin:surveys_survey_open", args=[999])).status_code == 404


# --- From real runs --------------------------------------------------------------------------

PAPER_OBJECTIVES = [("vae", {}), ("vae-anneal", {}), ("autogen", {"m": 1}), ("autogen", {"m": 2})]


@pytest.fixture
def tiny_runs(settings, tmp_path) -> list:
    """The four paper models, trained for two steps with the tiny preset (seconds on a CPU)."""
    from models_core import services as core

    settings.DATA_DIR = tmp_path / "data"
    book = require_corpus(SHARED_CORPORA / "sentences" / "burgess_buster-bear.txt")
    corpus = core.corpus_import(name="buster", paths=[book], test_fraction=0.3)
    runs = []
    for objective, options in PAPER_OBJECTIVES:
        run = core.run_create(
            corpus=corpus, objective=objective, preset_name="tiny", steps=2, **options
        )
        core.run_train(run)
        run.refresh_from_db()
        runs.append(run)
    return runs


def test_alice_creates_a_survey_from_four_tiny_runs(client, alice, tiny_runs):
    ids = [run.pk for run in tiny_runs]
    refused = client.post(ADD_URL, create_form(runs=ids, comparisons=f"{ids[0]} vs 999"))
    assert refused.status_code == 200 and "999" in refused.text
    assert "is none of the given runs" in refused.text
    assert not Survey.objects.exists()
    response = client.post(
        ADD_URL, create_form(name="Tiny", runs=ids, per_model=3, seed=0), follow=True
    )
    survey = Survey.objects.get(name="Tiny")
    assert response.redirect_chain[-1][0] == change_url(survey)
    assert selectors.survey_pair_orientations(survey=survey) == PAPER_PAIRS  # the default
    assert survey.items.count() == survey.material["items"] > 0
    assert survey.seed == 0 and [r["id"] for r in survey.material["runs"]] == ids
    page = squash(response.text)
    assert "0 started, 0 finished, 0 excluded" in page
    assert all(" vs ".join(pair) in page for pair in PAPER_PAIRS)
