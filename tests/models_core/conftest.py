"""Fixtures for the Django side of models_core: a private data folder, a small corpus, the
researcher Alice, and a broker stand-in that records what would be sent to workers."""

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from models_core import selectors
from models_core.services import enqueue
from tests.conftest import SHARED_CORPORA, require_corpus

SMALL_BOOK = SHARED_CORPORA / "sentences" / "burgess_buster-bear.txt"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path) -> Path:
    """Each test writes corpora and checkpoints to its own folder."""
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def small_book() -> Path:
    return require_corpus(SMALL_BOOK)


@pytest.fixture
def alice(client):
    """The test client, logged in as Alice, a researcher (superuser)."""
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def corpus(small_book):
    call_command("import_corpus", str(small_book), "--name", "buster", stdout=StringIO())
    return selectors.corpus_get("buster")


class Sent(list):
    """(args, task_id) of each task sent; `tasks` holds (name, args, queue) of each."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[tuple[str, list, str | None]] = []


@pytest.fixture
def sent(monkeypatch) -> Sent:
    """Tasks sent to the broker, as (args, task_id), instead of sending them."""
    sent = Sent()

    def send_task(name, args, task_id, queue=None, **options):
        sent.append((args, task_id))
        sent.tasks.append((name, args, queue))

    monkeypatch.setattr(enqueue.current_app, "send_task", send_task)
    return sent
