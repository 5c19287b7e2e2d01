"""Fixtures of the nn tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nn.corpus_helpers import CORPORA


@pytest.fixture
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"the shared test corpora are not at {CORPORA}")
    return CORPORA
