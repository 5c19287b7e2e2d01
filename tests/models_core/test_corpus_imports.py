"""Alice brings corpora in from the admin: uploads, or a path under the server's import root.

Bad files are refused with the importer's one-line messages and nothing is stored; a worker
of the ``default`` queue imports the rest (here the task runs in this process; the real
worker is in test_researcher_loop.py). Carol is staff without the import permission.
"""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from models_core import services
from models_core.models import Corpus, CorpusImport
from models_core.services import enqueue
from models_core.tasks import import_corpus

pytestmark = pytest.mark.django_db

ADD = reverse("admin:models_core_corpusimport_add")
OPTIONS = {
    "fmt": "auto", "vocab_size": "500", "min_len": "5", "max_len": "30",
    "test_fraction": "0.1", "seed": "0",
}  # fmt: skip


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/plain")


def uploads_left(data_dir) -> list:
    folder = data_dir / "uploads"
    return sorted(folder.rglob("*")) if folder.exists() else []


def run_task(job: CorpusImport) -> dict:
    job.refresh_from_db()
    return import_corpus.apply(args=[job.pk], task_id=job.task_id).get()


def test_alice_uploads_books_and_a_worker_imports_them_once(
    alice, small_book, data_dir, django_capture_on_commit_callbacks, sent
):
    page = alice.get(reverse("admin:models_core_corpus_changelist")).content.decode()
    assert ADD in page and "Import a corpus" in page
    text = small_book.read_bytes()
    half = len(text.splitlines()) // 2
    lines = text.splitlines(keepends=True)
    data = {
        **OPTIONS, "name": "buster",
        "files": [upload("part one.txt", b"".join(lines[:half])),
                  upload("part-two.txt", b"".join(lines[half:]))],
        "form_token": "6f1d3c1e-8d7e-4a53-9d55-9a3c2a4b1e10",
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(ADD, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CorpusImport.objects.get()
    assert response["Location"] == reverse("admin:models_core_corpusimport_change", args=[job.pk])
    assert (job.status, job.origin, len(job.paths)) == ("queued", "upload", 2)
    assert all(p.startswith("uploads/") for p in job.paths)  # under the shared data folder
    assert sent.tasks == [(enqueue.IMPORT_TASK, [job.pk], "default")]
    again = alice.post(ADD, {**data, "files": [upload("part one.txt", lines[0])]}, follow=True)
    assert "This form was already sent" in again.content.decode()
    assert CorpusImport.objects.count() == 1 and len(uploads_left(data_dir)) == 3  # folder + 2

    assert run_task(job) == {"import": job.pk, "status": "succeeded", "corpus": "buster"}
    job.refresh_from_db()
    corpus = Corpus.objects.get(name="buster")
    assert job.corpus == corpus and job.progress == 1.0 and job.finished_at
    assert corpus.n_train + corpus.n_test == corpus.stats["n_kept"] > 0
    assert corpus.vocab_size == 504
    for url in (reverse("admin:models_core_corpus_change", args=[corpus.pk]),
                reverse("admin:models_core_corpusimport_change", args=[job.pk])):  # fmt: skip
        shown = alice.get(url).content.decode()
        assert "what the importer counted" in shown.lower()
        assert f"<tr><th>kept</th><td>{corpus.stats['n_kept']:,}</td></tr>" in shown
        assert "unknown words, test split" in shown


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "bad.txt: is empty"),
        (b"\x00\x01\x02binary\x00" * 100, "bad.txt: contains NUL bytes (a binary file?)"),
        ("some text .\n".encode("utf-16"), "bad.txt: is UTF-16 text; convert it to UTF-8"),
        (
            b"caf\xe9 au lait is a drink .\n" * 10,
            "bad.txt: is not UTF-8 text (byte 0xe9 on line 1)",
        ),
    ],
)
def test_bad_files_are_refused_with_the_importers_line_and_nothing_is_stored(
    alice, small_book, data_dir, sent, content, problem
):
    files = [upload("good.txt", small_book.read_bytes()), upload("bad.txt", content)]
    response = alice.post(ADD, {**OPTIONS, "name": "mixed", "files": files})
    assert response.status_code == 200
    assert f"<li>{problem}</li>" in response.content.decode()
    assert not CorpusImport.objects.exists() and not Corpus.objects.exists()
    assert uploads_left(data_dir) == [] and sent == []


def test_uploads_over_the_cap_are_refused(alice, small_book, data_dir, settings):
    settings.MAX_UPLOAD_MB = 0.001  # 1000 bytes
    response = alice.post(
        ADD, {**OPTIONS, "name": "big", "files": [upload("a.txt", small_book.read_bytes())]}
    )
    assert "the admin takes up to 0.001 MB (AUTOGEN_MAX_UPLOAD_MB)" in response.content.decode()
    assert not CorpusImport.objects.exists() and uploads_left(data_dir) == []


def test_a_fault_past_the_start_fails_the_import_on_the_worker_and_stores_nothing(
    alice, small_book, data_dir, django_capture_on_commit_callbacks, sent
):
    good = small_book.read_bytes().splitlines(keepends=True)
    assert len(good) * 3 > 2000  # the importer's first look reads 2000 lines at most
    content = b"".join(good * 3) + b"caf\xe9 .\n"
    with django_capture_on_commit_callbacks(execute=True):
        alice.post(ADD, {**OPTIONS, "name": "late", "files": [upload("late.txt", content)]})
    job = CorpusImport.objects.get()
    result = run_task(job)
    job.refresh_from_db()
    assert result["status"] == job.status == "failed"
    assert job.error.startswith("late.txt: is not UTF-8 text (byte 0xe9 on line ")
    assert "uploads" not in job.error  # named as Alice knows it
    assert not Corpus.objects.exists() and uploads_left(data_dir) == []
    assert not [p for p in (data_dir / "corpora").iterdir()]  # no scratch folder either


def test_a_name_in_use_is_refused(alice, corpus, small_book, data_dir):
    response = alice.post(
        ADD, {**OPTIONS, "name": "buster", "files": [upload("a.txt", small_book.read_bytes())]}
    )
    assert escape("A corpus named 'buster' exists already") in response.content.decode()
    pending = CorpusImport.objects.create(
        name="next", origin="server", paths=[], vocab_size=5, min_len=1, max_len=2,
        test_fraction=0.1,
    )  # fmt: skip
    with pytest.raises(
        services.ServiceError, match=f"being imported already \\(import {pending.pk}"
    ):
        services.corpus_import_check_name("next")
    assert uploads_left(data_dir) == []


@pytest.fixture
def import_root(settings, tmp_path, small_book):
    """An import root holding books/buster.txt and books/short.txt; secret.txt lies outside."""
    root = tmp_path / "shared-texts"
    (root / "books").mkdir(parents=True)
    (root / "books" / "buster.txt").write_bytes(small_book.read_bytes())
    (root / "books" / "short.txt").write_bytes(small_book.read_bytes()[:20000])
    (tmp_path / "secret.txt").write_text("the secret plans of the bear are here .\n" * 50)
    settings.IMPORT_ROOT = root.resolve()
    return root


def test_import_from_a_server_path_under_the_root(
    alice, import_root, django_capture_on_commit_callbacks, sent
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(ADD, {**OPTIONS, "name": "shelf", "server_path": "books"})
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CorpusImport.objects.get()
    assert job.origin == "server"
    assert job.paths == [str(import_root / "books" / n) for n in ("buster.txt", "short.txt")]
    assert run_task(job)["status"] == "succeeded"
    assert Corpus.objects.get(name="shelf").stats["files"] == job.paths


@pytest.mark.parametrize(
    "where",
    ["../secret.txt", "books/../../secret.txt", "ABSOLUTE", "books/link.txt", "linked-folder"],
)
def test_no_path_outside_the_import_root_is_read(alice, import_root, tmp_path, sent, where):
    (import_root / "books" / "link.txt").symlink_to(tmp_path / "secret.txt")
    (import_root / "linked-folder").symlink_to(tmp_path, target_is_directory=True)
    if where == "ABSOLUTE":
        where = str(tmp_path / "secret.txt")
    response = alice.post(ADD, {**OPTIONS, "name": "leak", "server_path": where})
    assert response.status_code == 200
    assert "is not under the import root" in response.content.decode()
    assert "the secret plans" not in response.content.decode()
    assert not CorpusImport.objects.exists() and sent == []
    # A folder under the root holding a symlink to a file outside is refused as a whole.
    with pytest.raises(services.ServiceError, match="is not under the import root"):
        services.corpus_server_files("books")


def test_without_an_import_root_the_server_path_is_off(alice, settings, sent):
    settings.IMPORT_ROOT = None
    form = alice.get(ADD).content.decode()
    assert services.IMPORT_ROOT_UNSET in form
    with pytest.raises(services.ServiceError, match="AUTOGEN_IMPORT_ROOT"):
        services.corpus_server_files("/etc/passwd")


def test_staff_without_the_import_permission_cannot_import(client, small_book, data_dir):
    user = get_user_model().objects.create_user("carol", "c@example.org", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_corpus"]))
    client.force_login(user)
    page = client.get(reverse("admin:models_core_corpus_changelist")).content.decode()
    assert "Import a corpus" not in page
    assert client.get(ADD).status_code == 403
    files = [upload("a.txt", small_book.read_bytes())]
    assert client.post(ADD, {**OPTIONS, "name": "x", "files": files}).status_code == 403
    assert uploads_left(data_dir) == [] and not CorpusImport.objects.exists()
    client.logout()
    assert client.get(ADD).status_code == 302


def test_a_running_import_shows_how_long_it_has_run_and_reloads_itself(alice):
    job = CorpusImport.objects.create(
        name="long", origin="server", paths=[], vocab_size=5, min_len=1, max_len=2,
        test_fraction=0.1, status="running",
        started_at=timezone.now() - datetime.timedelta(seconds=75),
    )  # fmt: skip
    listed = alice.get(reverse("admin:models_core_corpusimport_changelist")).content.decode()
    assert "running for 1m 1" in listed  # 1m 15s, or a second more
    page = alice.get(reverse("admin:models_core_corpusimport_change", args=[job.pk]))
    assert '<meta http-equiv="refresh" content="5">' in page.content.decode()
