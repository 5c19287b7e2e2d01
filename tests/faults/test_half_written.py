"""A file cut short (an upload interrupted, a copy that ran out of disk, an export killed
half-way) is refused whole, and nothing of it is stored: answers CSVs, items CSVs, corpora,
and an upload whose request body ends before the form does.

Each file is a good one cut at a place a cut leaves a mark: inside a multi-byte UTF-8
character, inside a quoted field, or inside a line (fewer fields than the header). A cut
that leaves a well-formed shorter file (between two lines, or inside the last field of an
unquoted line) cannot be told from a file that was meant to be shorter, and is not tested.
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from models_core import services
from models_core.models import Corpus, CorpusImport
from models_core.nn.textfiles import CorpusError
from surveys.imports import ImportRefused, responses_import
from surveys.material import ItemsRefused, items_from_csv
from surveys.models import Item, Rater, Response, Survey

pytestmark = pytest.mark.django_db

# The last field of the last line is quoted, as spreadsheet exports quote any text with a
# space or comma in it.
ANSWERS = (
    b"rater,item,model_1,model_2,winner\n"
    b"r1,i1,VAE (annealing),VAE,VAE (annealing)\n"
    b'r1,i2,VAE,VAE (annealing),"VAE (annealing)"\n'
)
ANSWERS_UTF8 = ANSWERS + "r2,i3,VAE,Zoë’s VAE,discard\n".encode()
ITEMS = (
    b"item,model,sentence\n"
    b"s1,VAE,she just looked up .\n"
    b's2,AutoGen (m=1),"her eyes widen , frowning at the thing she could not see ."\n'
)
ITEMS_UTF8 = ITEMS + "s3,VAE,the café was closed .\n".encode()


def _cut_inside(data: bytes, marker: bytes, keep: int) -> bytes:
    """`data` cut `keep` bytes into the last `marker`."""
    return data[: data.rindex(marker) + keep]


def _cut_in_a_character(data: bytes) -> bytes:
    """`data` cut after the first byte of its last multi-byte character."""
    last = max(i for i, byte in enumerate(data) if byte >= 0xC0)  # a lead byte
    return data[: last + 1]


ANSWER_CUTS = {
    # '"VAE' is a model of the row: read leniently, the cut row names the wrong winner.
    "mid-quote": _cut_inside(ANSWERS, b'"VAE (annealing)"', len(b'"VAE')),
    "mid-line": _cut_inside(ANSWERS, b"r1,i2,VAE,", len(b"r1,i2,VAE,")),
    "mid-character": _cut_in_a_character(ANSWERS_UTF8),
}
ITEM_CUTS = {
    # Read leniently, the cut line is an item whose sentence ends half-way.
    "mid-quote": _cut_inside(ITEMS, b'"her eyes', len(b'"her eyes widen , frowning')),
    "mid-line": _cut_inside(ITEMS, b"s2,AutoGen", len(b"s2,AutoGen")),
    "mid-character": _cut_in_a_character(ITEMS_UTF8),
}


def _nothing_stored() -> None:
    assert not Survey.objects.exists() and not Response.objects.exists()
    assert not Rater.objects.exists() and not Item.objects.exists()


def test_the_uncut_files_are_good():
    assert responses_import(survey_name="s", kind="pairwise", file=io.BytesIO(ANSWERS_UTF8))
    assert Response.objects.count() == 3
    assert len(items_from_csv("meaningfulness", io.BytesIO(ITEMS_UTF8)).items) == 3


@pytest.mark.parametrize("cut", ANSWER_CUTS)
def test_a_cut_answers_file_is_refused_whole(cut):
    data = ANSWER_CUTS[cut]
    with pytest.raises(ImportRefused) as refused:
        responses_import(survey_name="s", kind="pairwise", file=io.BytesIO(data), filename="a.csv")
    assert "a.csv" in str(refused.value)
    _nothing_stored()


@pytest.mark.parametrize("cut", ITEM_CUTS)
def test_a_cut_items_file_is_refused_whole(cut):
    with pytest.raises(ItemsRefused) as refused:
        items_from_csv("meaningfulness", io.BytesIO(ITEM_CUTS[cut]), filename="items.csv")
    assert "items.csv" in str(refused.value)


def test_a_corpus_cut_in_a_character_is_refused_and_nothing_is_stored(
    small_book, data_dir, tmp_path
):
    cut = tmp_path / "cut.txt"
    cut.write_bytes(small_book.read_bytes() + _cut_in_a_character("Zoë’s café .\n".encode()))
    with pytest.raises(CorpusError, match=r"cut.txt: is not UTF-8 text \(byte 0xc3 on line"):
        services.corpus_import(name="cut", paths=[small_book, cut])
    assert not Corpus.objects.exists()
    assert not [p for p in (data_dir / "corpora").iterdir()]  # no scratch folder left


def test_an_upload_whose_request_ends_early_stores_nothing(client, small_book, data_dir):
    staff = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(staff)
    url = reverse("admin:models_core_corpusimport_add")
    boundary = "----cut-upload"
    fields = {"name": "cut", "fmt": "auto", "vocab_size": "500", "min_len": "5"}
    fields |= {"max_len": "30", "test_fraction": "0.1", "seed": "0"}
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="book.txt"\r\nContent-Type: text/plain\r\n\r\n'
    ).encode()
    body += small_book.read_bytes()[:5000]  # the connection drops: no closing boundary
    response = client.generic(
        "POST", url, body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    # Django drops a file part whose closing boundary never came: the form has no files.
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not CorpusImport.objects.exists() and not Corpus.objects.exists()
    uploads = data_dir / "uploads"
    assert not uploads.exists() or not list(uploads.rglob("*.txt"))
