"""Uploads (corpus files, answers CSV, items CSV): type-checked (binary refused in one line,
nothing stored), never executed, and never written outside the uploads folder, whatever name
the browser sends. Size caps and server paths (.., absolute, symlinks) are tested beside the
imports (tests/models_core/test_corpus_imports.py, tests/surveys/test_admin*.py)."""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from models_core import services
from models_core.models import CorpusImport
from models_core.services import enqueue
from models_core.services.corpus_imports import MAX_STORED_NAME
from surveys.models import Item, Rater, Response, Survey

pytestmark = pytest.mark.django_db

SENTENCES = b"".join(
    f"the {animal} sat on the mat number {n} and looked at the door .\n".encode()
    for n in range(40)
    for animal in ("cat", "dog")
)
# Files that are not text, as a browser would send them (a name that says .txt or .csv).
BINARIES = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(200),
    "elf": b"\x7fELF\x02\x01\x01\x00" + bytes(200),
    "gzip": gzip.compress(SENTENCES),
    "utf16": "rater,item\nr1,i1\n".encode("utf-16"),
    "latin1": "rater,item,model_1,model_2,winner\nRené,i1,A,B,A\n".encode("latin-1"),
}
# Names a hostile client may send for an upload.
NAMES = [
    "../../../escape.txt",
    "/tmp/absolute-escape.txt",
    "..\\..\\windows-escape.txt",
    "books/../../nested-escape.txt",
    "..",
    ".htaccess",
    "x" * 300 + ".txt",
]


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def admin_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def sent(monkeypatch) -> list:
    sent = []
    monkeypatch.setattr(enqueue.current_app, "send_task", lambda *a, **k: sent.append(a))
    return sent


@dataclass
class RawUpload:
    """An upload whose name is exactly what a client sent (Django's own upload classes clean
    names on the way in; the service must not rely on it)."""

    name: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)

    def chunks(self):
        yield self.content


def files_under(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.parametrize("name", NAMES)
def test_an_upload_is_stored_under_the_uploads_folder_whatever_its_name(data_dir, tmp_path, name):
    paths = services.corpus_upload_store([RawUpload(name, SENTENCES)])
    uploads = (data_dir / "uploads").resolve()
    assert len(paths) == 1 and not paths[0].startswith(("/", ".."))
    stored = (data_dir / paths[0]).resolve()
    assert stored.is_relative_to(uploads) and stored.parent.parent == uploads
    assert stored.read_bytes() == SENTENCES
    assert files_under(data_dir) == [stored]
    outside = [p for p in tmp_path.rglob("*escape.txt") if not p.is_relative_to(data_dir)]
    outside += [*tmp_path.parent.glob("*escape.txt"), *tmp_path.parent.parent.glob("*escape.txt")]
    assert outside == []  # nothing beside the uploads folder, nor above it
    assert not Path("/tmp/absolute-escape.txt").exists()
    assert len(stored.name) <= 4 + MAX_STORED_NAME  # "000-" + the name


def test_an_uploaded_script_is_stored_as_data_never_run_nor_executable(data_dir, tmp_path):
    marker = tmp_path / "ran"
    script = f"#!/bin/sh\ntouch {marker}\n".encode() + SENTENCES
    paths = services.corpus_upload_store([SimpleUploadedFile("run.sh", script)])
    stored = data_dir / paths[0]
    assert stored.read_bytes() == script
    assert not stored.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    assert not marker.exists()


def test_the_admin_upload_with_a_traversal_name_lands_in_the_uploads_folder(
    admin_client, data_dir, sent, tmp_path
):
    response = admin_client.post(
        reverse("admin:models_core_corpusimport_add"),
        {
            "name": "escape",
            "files": [SimpleUploadedFile("../../../../escape.txt", SENTENCES)],
            "fmt": "auto",
            "vocab_size": "50",
            "min_len": "3",
            "max_len": "30",
            "test_fraction": "0.1",
            "seed": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = CorpusImport.objects.get()
    assert [path.split("/")[0] for path in job.paths] == ["uploads"]
    assert all(p.resolve().is_relative_to(data_dir / "uploads") for p in files_under(data_dir))
    assert not list(tmp_path.parent.glob("escape.txt"))


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_a_binary_corpus_upload_is_refused_in_one_line_and_nothing_is_stored(
    admin_client, data_dir, sent, kind
):
    response = admin_client.post(
        reverse("admin:models_core_corpusimport_add"),
        {
            "name": "binary",
            "files": [SimpleUploadedFile("book.txt", BINARIES[kind])],
            "fmt": "auto",
            "vocab_size": "50",
            "min_len": "3",
            "max_len": "30",
            "test_fraction": "0.1",
            "seed": "0",
        },
    )
    assert response.status_code == 200
    errors = response.content.decode().split('<ul class="errorlist')[1].split("</ul>")[0]
    assert "book.txt: " in errors and "Traceback" not in errors
    assert not CorpusImport.objects.exists() and files_under(data_dir) == [] and sent == []


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_a_binary_answers_csv_is_refused_in_one_line_and_nothing_is_stored(admin_client, kind):
    response = admin_client.post(
        reverse("admin:surveys_survey_import"),
        {
            "survey": "binary",
            "kind": "pairwise",
            "file": SimpleUploadedFile("answers.csv", BINARIES[kind], content_type="text/csv"),
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "answers.csv" in text and ("not UTF-8" in text or "not a CSV text file" in text), text
    assert not Survey.objects.exists() and not Rater.objects.exists()
    assert not Response.objects.exists() and not Item.objects.exists()


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_a_binary_items_csv_is_refused_and_no_survey_is_made(admin_client, kind):
    response = admin_client.post(
        reverse("admin:surveys_survey_add"),
        {
            "name": "binary",
            "kind": Survey.Kind.PAIRWISE,
            "title": "Sentences",
            "per_model": 5,
            "cap": 20,
            "instructed_checks": 0,
            "gold_checks": 0,
            "platform": "none",
            "items_file": SimpleUploadedFile("items.csv", BINARIES[kind], content_type="text/csv"),
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "items.csv" in text and ("not UTF-8" in text or "not a CSV text file" in text), text
    assert not Survey.objects.exists() and not Item.objects.exists()
