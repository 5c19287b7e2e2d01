"""Bad input, generated (hypothesis): arbitrary forms and bytes posted to the rater pages,
arbitrary bytes and CSV-shaped text given to the answers and items importers and to the corpus
importer. Each answers with a 4xx or a clear error (never a 500 or a traceback) and leaves what
was stored as it was.

Bounded: at most a few dozen examples a test, no deadline (CI machines are slow and shared).
"""

from __future__ import annotations

import csv
import io
import itertools

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models_core.models import Corpus
from models_core.nn.textfiles import CorpusError
from models_core.services import ServiceError, corpus_import, corpus_upload_store
from surveys.imports import ImportRefused, ImportSummary, responses_import
from surveys.material import Material, items_from_csv
from surveys.models import Assignment, Item, Rater, Response, Survey
from surveys.services import SurveyError
from tests.security.test_uploads import SENTENCES, RawUpload
from tests.surveys.conftest import PAPER_SURVEYS
from tests.surveys.rater_helpers import make_survey
from tests.surveys.test_rater_views import Browser as RaterBrowser
from tests.surveys.test_rater_views import consent

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REFUSALS = {400, 403, 404, 405, 413, 429}
OFF = {"entry_ip": None, "answer_ip": None, "answer_token": None}

# Values that reach the deep paths (real field names and answers) mixed with anything at all.
KEYS = st.one_of(
    st.sampled_from(["q", "answer", "consent", "csrfmiddlewaretoken", "item", "model", "left"]),
    st.text(max_size=20),
)
VALUES = st.one_of(
    st.sampled_from(
        ["1", "2", "8", "0", "-1", "99999", "1.0", "١", "left", "right", "discard", "yes", "no"]
    ),
    st.sampled_from(["model_1", "model_2", "", " ", "\x00", "%00", "' OR 1=1 --", "<script>"]),
    st.text(max_size=60),
    st.integers().map(str),
)
FORMS = st.dictionaries(KEYS, st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=6)
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=BoUnDaRy",
        "multipart/form-data",
        "text/plain",
        "application/json",
        "application/octet-stream",
    ]
)


def rows(model) -> list[str]:
    """Every row of `model`, every field, comparable (JSON fields included)."""
    return [repr(row) for row in model.objects.order_by("pk").values_list()]


def stored() -> dict[str, list[str]]:
    """Everything a rater's post or an import may write."""
    return {
        "raters": rows(Rater),
        "assignments": rows(Assignment),
        "responses": rows(Response),
        "items": rows(Item),
        "surveys": rows(Survey),
    }


def check_refused_or_taken(response, before: dict) -> None:
    """A refusal stores nothing; an accepted answer (303) stores one slot, changes no other."""
    assert response.status_code < 500, response.status_code
    text = response.content.decode(errors="replace")
    assert "Traceback" not in text and "Exception" not in text
    after = stored()
    if response.status_code in REFUSALS or response.status_code == 200:
        assert after == before
        return
    assert response.status_code in (302, 303)
    assert after["raters"] == before["raters"] and after["items"] == before["items"]
    changed = set(after["assignments"]) - set(before["assignments"])
    assert len(changed) <= 1
    assert set(before["responses"]) <= set(after["responses"])
    assert len(after["responses"]) - len(before["responses"]) <= 1


@pytest.fixture
def rater_page(db, settings):
    """A rater in the middle of a pairwise survey: their client (CSRF not enforced, so that
    what is fuzzed is the view) and question URL."""
    settings.RATE_LIMITS = OFF
    survey = make_survey(Survey.Kind.PAIRWISE)
    browser = RaterBrowser()
    page = consent(browser, survey)
    return Client(), page.request["PATH_INFO"], survey


@FUZZ
@given(form=FORMS)
def test_any_form_posted_to_a_question_page_gets_a_page_not_a_500(rater_page, form):
    client, url, _survey = rater_page
    before = stored()
    check_refused_or_taken(client.post(url, form), before)


@FUZZ
@given(body=st.binary(max_size=3000), content_type=CONTENT_TYPES)
def test_any_bytes_posted_to_a_question_page_get_a_page_not_a_500(rater_page, body, content_type):
    client, url, _survey = rater_page
    before = stored()
    check_refused_or_taken(client.post(url, body, content_type=content_type), before)


@FUZZ
@given(form=FORMS, query=st.dictionaries(st.sampled_from(["PROLIFIC_PID", "STUDY_ID"]), VALUES))
def test_any_consent_form_or_query_is_refused_without_storing(rater_page, form, query):
    client, _url, survey = rater_page
    link = f"/s/{survey.token}/"
    before = stored()
    check_refused_or_taken(client.get(link, query), before)
    response = client.post(link, form)  # never validly signed: refused, nothing stored
    assert response.status_code in REFUSALS, response.status_code
    assert stored() == before


@FUZZ
@given(token=st.text(max_size=40), tail=st.sampled_from(["/", "/done", ""]))
def test_any_token_in_a_rater_url_is_a_404_or_not_routed(rater_page, token, tail):
    client, _url, _survey = rater_page
    before = stored()
    try:
        response = client.get(f"/r/{token}{tail}")
    except UnicodeEncodeError:  # the test client cannot even send it
        return
    assert response.status_code in (301, 404), response.status_code
    assert stored() == before


# --- The CSV importers -----------------------------------------------------------------------

PAIRWISE_COLUMNS = ["rater", "item", "model_1", "model_2", "winner", "left", "response_ms"]
MEANINGFULNESS_COLUMNS = ["rater", "item", "model", "sentence", "meaningful", "length"]
CELLS = st.one_of(
    st.sampled_from(["A", "B", "VAE", "discard", "yes", "no", "1", "0", "-3", "", "i1", "r1"]),
    st.text(max_size=15),
)


@st.composite
def csv_files(draw) -> bytes:
    """CSV-shaped bytes: a header of (mostly) real column names, rows of arbitrary cells."""
    columns = draw(st.sampled_from([PAIRWISE_COLUMNS, MEANINGFULNESS_COLUMNS]))
    header = draw(st.lists(st.one_of(st.sampled_from(columns), st.text(max_size=8)), max_size=8))
    rows = draw(st.lists(st.lists(CELLS, max_size=len(header) + 1), max_size=6))
    text = io.StringIO()
    csv.writer(text, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(
        [header, *rows]
    )
    return draw(st.sampled_from(["", "\ufeff"])).encode() + text.getvalue().encode()


FILES = st.one_of(st.binary(max_size=2000), csv_files())


@pytest.fixture
def table_2(db) -> Survey:
    """Stored answers that no import may change."""
    responses_import(
        survey_name="Table 2", kind="pairwise", file=PAPER_SURVEYS / "paper-table-2.csv"
    )
    return Survey.objects.get(name="Table 2")


def check_one_line_error(message: str) -> None:
    lines = message.splitlines()
    assert lines and lines[0].strip() and len(lines) <= 30
    assert "Traceback" not in message


@FUZZ
@given(
    data=FILES,
    kind=st.sampled_from(["pairwise", "meaningfulness"]),
    into=st.sampled_from(["Table 2", "new"]),
)
def test_any_answers_file_is_imported_or_refused_in_words_and_loses_nothing(
    table_2, data, kind, into
):
    before = stored()
    try:
        summary = responses_import(
            survey_name=into, kind=kind, file=io.BytesIO(data), filename="fuzz.csv"
        )
    except ImportRefused as refused:
        check_one_line_error(str(refused))
        assert stored() == before
        return
    assert isinstance(summary, ImportSummary)
    after = stored()
    for table, rows in before.items():
        assert set(rows) <= set(after[table]), table  # added to, never changed


@FUZZ
@given(data=FILES, kind=st.sampled_from(["pairwise", "meaningfulness"]))
def test_any_items_file_gives_items_or_a_clear_error(table_2, data, kind):
    before = stored()
    try:
        made = items_from_csv(kind, io.BytesIO(data), filename="items.csv")
    except SurveyError as refused:
        check_one_line_error(str(refused))
    else:
        assert isinstance(made, Material) and made.items
    assert stored() == before


# --- The corpus importer ---------------------------------------------------------------------

TEXTS = st.one_of(
    st.binary(max_size=3000),
    st.lists(st.text(max_size=80), max_size=40).map(lambda lines: "\n".join(lines).encode()),
    st.builds(lambda cut: SENTENCES[:cut], st.integers(0, len(SENTENCES))),
)
NAMES = itertools.count()


@pytest.fixture
def stored_corpus(db, settings, tmp_path):
    """A corpus already imported, whose files no later import may touch."""
    settings.DATA_DIR = tmp_path / "data"
    book = tmp_path / "book.txt"
    book.write_bytes(SENTENCES)
    corpus = corpus_import(name="kept", paths=[book], min_len=1, max_len=40, vocab_size=30)
    return corpus, tmp_path


def corpus_files(data_dir) -> dict[str, bytes]:
    root = data_dir / "corpora"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@FUZZ
@given(data=TEXTS)
def test_any_corpus_file_is_imported_or_refused_in_one_line_and_loses_nothing(
    stored_corpus, settings, data
):
    kept, _ = stored_corpus
    data_dir = settings.DATA_DIR
    before_files, before_rows = corpus_files(data_dir), rows(Corpus)
    uploads = data_dir / "uploads"
    uploads_before = sorted(uploads.rglob("*")) if uploads.exists() else []
    try:
        paths = corpus_upload_store([RawUpload("book.txt", data)])
    except ServiceError as refused:  # the start of the file already says no
        check_one_line_error(str(refused))
        assert "\n" not in str(refused)
        assert (sorted(uploads.rglob("*")) if uploads.exists() else []) == uploads_before
        return
    name = f"fuzz-{next(NAMES)}"
    try:
        corpus_import(
            name=name, paths=[data_dir / p for p in paths], min_len=1, max_len=40, vocab_size=30
        )
    except (CorpusError, ServiceError) as refused:
        assert "\n" not in str(refused) and "Traceback" not in str(refused)
        assert not Corpus.objects.filter(name=name).exists()
        after = corpus_files(data_dir)
        assert after == before_files  # no half-written corpus left behind
    assert set(before_rows) <= set(rows(Corpus))
    after = corpus_files(data_dir)
    assert {k: v for k, v in after.items() if k.startswith(f"{kept.name}/")} == {
        k: v for k, v in before_files.items() if k.startswith(f"{kept.name}/")
    }
