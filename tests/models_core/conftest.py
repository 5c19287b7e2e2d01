"""Fixtures for the Django side of models_core: a private data folder and a small corpus."""

from pathlib import Path

import pytest

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
