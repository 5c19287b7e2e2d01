"""Fixtures of the nn tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_corpus
from tests.nn.corpus_helpers import CORPORA


@pytest.fixture
def corpora() -> Path:
    return require_corpus(CORPORA)
